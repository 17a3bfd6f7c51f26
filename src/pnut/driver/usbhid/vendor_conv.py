"""Value conversions of the Eaton/MGE, PowerCOM and Belkin/Liebert subdrivers.

Each function is registered under the C name NUT's lookup tables use.  A
conversion returning None publishes nothing (NUT's NULL): several Eaton
ones only record device state (ABM mode, country) or publish only for
some model families.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pnut.driver.usbhid.quirks import MGE_DEFAULT, DeviceQuirks, c_long
from pnut.protocol.cnum import atoi

ABM_DISABLED = 0
MGE_PEGASUS = 0x100
MGE_3S = 0x110
MGE_EVOLUTION = 0x300
MGE_EVOLUTION_650 = 0x301
MGE_PULSAR_M = 0x400
EATON_5P = 0x500
COUNTRY_EUROPE = 0
COUNTRY_EUROPE_208 = 2


def _family(q: DeviceQuirks) -> int:
    return q.mge_type & 0xFF00


# -- Eaton / MGE ----------------------------------------------------------------
def eaton_abm_enabled_fun(q: DeviceQuirks, value: float) -> str | None:
    q.abm = c_long(value)
    return None


def eaton_abm_status_fun(q: DeviceQuirks, value: float) -> str | None:
    if q.abm == ABM_DISABLED:
        return None
    return {1: "charging", 2: "discharging", 3: "floating", 4: "resting",
            6: "off"}.get(c_long(value))


def eaton_abm_chrg_dischrg_fun(q: DeviceQuirks, value: float) -> str | None:
    if q.abm == ABM_DISABLED:
        return None
    return {1: "chrg", 3: "chrg", 2: "dischrg"}.get(c_long(value))


def eaton_abm_check_dischrg_fun(q: DeviceQuirks, value: float) -> str | None:
    if q.abm == ABM_DISABLED:
        return "dischrg" if value == 1 else "!dischrg"
    return "!dischrg"


def eaton_abm_check_chrg_fun(q: DeviceQuirks, value: float) -> str | None:
    if q.abm == ABM_DISABLED:
        return "chrg" if value == 1 else "!chrg"
    return "!chrg"


def _strftime(fmt: str, value: float, size: int) -> str | None:
    try:
        text = time.strftime(fmt, time.localtime(c_long(value)))
    except (OverflowError, OSError, ValueError):
        return None
    return text if len(text) == size else None


def mge_date_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return _strftime("%Y/%m/%d", value, 10)


def mge_time_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return _strftime("%H:%M:%S", value, 8)


def _mktime(text: str) -> float:
    try:
        return float(time.mktime(time.strptime(text, "%Y/%m/%d %H:%M:%S")))
    except (ValueError, OverflowError):
        return 0.0


def mge_date_conversion_nuf(q: DeviceQuirks, text: str | None) -> float:
    return _mktime(f"{text or ''} {q.getinfo('ups.time') or ''}")


def mge_time_conversion_nuf(q: DeviceQuirks, text: str | None) -> float:
    return _mktime(f"{q.getinfo('ups.date') or ''} {text or ''}")


def mge_battery_voltage_nominal_fun(q: DeviceQuirks, value: float) -> str | None:
    family = _family(q)
    if family == MGE_EVOLUTION:
        if q.mge_type == MGE_EVOLUTION_650:
            value = 12.0
    elif family not in (MGE_PULSAR_M, EATON_5P):
        return None
    return f"{value:.0f}"


def mge_battery_voltage_fun(q: DeviceQuirks, value: float) -> str | None:
    if _family(q) not in (MGE_EVOLUTION, MGE_PULSAR_M, EATON_5P):
        return None
    return f"{value:.1f}"


def mge_powerfactor_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return f"{value / 100:.2f}"


def mge_battery_capacity_fun(q: DeviceQuirks, value: float) -> str | None:
    return f"{value / 3600:.2f}"


def _pegasus_ok(q: DeviceQuirks) -> bool:
    family = _family(q)
    return family == MGE_PEGASUS or (family == MGE_3S and q.country_code != COUNTRY_EUROPE)


def eaton_check_pegasus_fun(q: DeviceQuirks, value: float) -> str | None:
    return f"{value:.0f}" if _pegasus_ok(q) else None


def pegasus_yes_no_info_fun(q: DeviceQuirks, value: float) -> str | None:
    if not _pegasus_ok(q):
        return None
    return "no" if value == 0 else "yes"


def pegasus_yes_no_info_nuf(q: DeviceQuirks, text: str | None) -> float:
    if not _pegasus_ok(q):
        return 0.0
    return 1.0 if (text or "").startswith("yes") else 0.0


def eaton_check_country_fun(q: DeviceQuirks, value: float) -> str | None:
    q.country_code = c_long(value)
    return None


def eaton_compute_realpower_fun(q: DeviceQuirks, value: float) -> str | None:
    load, nominal = q.getinfo("ups.load"), q.getinfo("ups.power.nominal")
    if load is None or nominal is None:
        return None
    factor_text = q.getinfo("output.powerfactor")
    factor = float(atoi(factor_text)) if factor_text is not None else 0.80
    realpower = atoi(load) * 0.01 * atoi(nominal) * factor
    # C's round(): halves away from zero
    rounded = int(realpower + 0.5) if realpower >= 0 else -int(-realpower + 0.5)
    return f"{rounded}"


LV = (100, 110, 120, 127)
HV208 = (200, 208)
HV230 = (220, 230, 240)


def nominal_output_voltage_fun(q: DeviceQuirks, value: float) -> str | None:
    if q.nominal_output < 0:
        q.nominal_output = c_long(value)
    nominal, v = q.nominal_output, c_long(value)
    offline = _family(q) < MGE_DEFAULT
    if nominal in LV:
        if v not in LV:
            return None
    elif nominal in HV208:
        if v in HV230:
            if offline:
                return None
        elif v not in HV208:
            return None
    elif nominal in HV230:
        if v in HV208:
            if offline:
                return None
        elif v not in HV230:
            return None
    return f"{value:.0f}"


def eaton_converter_online_fun(q: DeviceQuirks, value: float) -> str | None:
    if "off" in q.status_bits:
        return None
    return "!online" if value == 0 else "online"


# -- PowerCOM ---------------------------------------------------------------------
def _u16(value: float) -> int:
    return c_long(value) & 0xFFFF


def powercom_startup_fun(q: DeviceQuirks, value: float) -> str | None:
    i = _u16(value)
    return str(60 * (((i & 0x00FF) << 8) + (i >> 8)))


def powercom_startup_nuf(q: DeviceQuirks, text: str | None) -> float:
    iv = atoi(text if text is not None else q.getinfo("ups.delay.start") or "") // 60
    if not 0 <= iv <= 0xFFFF:
        return 0.0
    return float(((iv << 8) & 0xFFFF) + (iv >> 8))


def powercom_shutdown_fun(q: DeviceQuirks, value: float) -> str | None:
    i = _u16(value)
    return str(60 * (i & 0x00FF) + (i >> 8))


def _powercom_delay(q: DeviceQuirks, text: str | None, flag: int) -> float:
    iv = atoi(text if text is not None else q.getinfo("ups.delay.shutdown") or "")
    if not 0 <= iv <= 0xFFFF:
        return 0.0
    val = iv or 1  # 0 would set the longest delay
    return float(((((val % 60) << 8) & 0xFFFF) + val // 60) | flag)


def powercom_shutdown_nuf(q: DeviceQuirks, text: str | None) -> float:
    return _powercom_delay(q, text, 0x4000)


def powercom_stayoff_nuf(q: DeviceQuirks, text: str | None) -> float:
    return _powercom_delay(q, text, 0x8000)


def powercom_voltage_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return f"{value * 4:0.0f}"


def _bit(mask: int, name: str, want: int | None = None) -> Callable[[DeviceQuirks, float], str]:
    def conv(q: DeviceQuirks, value: float) -> str:
        hit = (c_long(value) & mask) == (mask if want is None else want)
        return name if hit else "!" + name
    return conv


CONVERTERS: dict[str, Callable[[DeviceQuirks, float], str | None]] = {
    f.__name__: f for f in (
        eaton_abm_enabled_fun, eaton_abm_status_fun, eaton_abm_chrg_dischrg_fun,
        eaton_abm_check_dischrg_fun, eaton_abm_check_chrg_fun, mge_date_conversion_fun,
        mge_time_conversion_fun, mge_battery_voltage_nominal_fun, mge_battery_voltage_fun,
        mge_powerfactor_conversion_fun, mge_battery_capacity_fun, eaton_check_pegasus_fun,
        pegasus_yes_no_info_fun, eaton_check_country_fun, eaton_compute_realpower_fun,
        nominal_output_voltage_fun, eaton_converter_online_fun, powercom_startup_fun,
        powercom_shutdown_fun, powercom_voltage_conversion_fun)
}
CONVERTERS["eaton_abm_enabled_legacy_fun"] = eaton_abm_enabled_fun
CONVERTERS.update({
    "powercom_upsfail_conversion_fun": _bit(0x0001, "fanfail"),
    "powercom_replacebatt_conversion_fun": _bit(0x0002, "replacebatt"),
    "powercom_test_conversion_fun": _bit(0x0004, "cal"),
    "powercom_shutdownimm_conversion_fun": _bit(0x0010, "shutdownimm"),
    "powercom_lowbatt_conversion_fun": _bit(0x0002, "lowbatt"),
    "powercom_trim_conversion_fun": _bit(0x0018, "trim", 0x0008),
    "powercom_boost_conversion_fun": _bit(0x0018, "boost", 0x0018),
    "powercom_overload_conversion_fun": _bit(0x0020, "overload"),
})


def powercom_online_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return "!online" if c_long(value) & 0x0001 else "online"


CONVERTERS["powercom_online_conversion_fun"] = powercom_online_conversion_fun


# -- Belkin (and Liebert units Belkin's table serves) ------------------------------
def _flag(name: str) -> Callable[[DeviceQuirks, float], str]:
    def conv(q: DeviceQuirks, value: float) -> str:
        return name if value else "!" + name
    return conv


def liebert_config_voltage_fun(q: DeviceQuirks, value: float) -> str | None:
    if value < 1 and abs(value - 1e-7) < 1e-9:
        q.liebert_config_mult, q.liebert_line_mult = 1e8, 1e7
    return f"{value * q.liebert_config_mult:.1f}"[:9]


def liebert_line_voltage_fun(q: DeviceQuirks, value: float) -> str | None:
    if value < 1 and abs(value - 1e-7) < 1e-9:
        q.liebert_line_mult = 1e7
    return f"{value * q.liebert_line_mult:.1f}"[:9]


def belkin_firmware_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return str(c_long(value) >> 4)


def belkin_upstype_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return {1: "offline", 2: "line-interactive", 3: "simple online", 4: "simple offline",
            5: "simple line-interactive"}.get(c_long(value) & 0x0F, "online")


def belkin_sensitivity_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return {1: "reduced", 2: "low"}.get(c_long(value), "normal")


def belkin_online_conversion_fun(q: DeviceQuirks, value: float) -> str | None:
    return "!online" if c_long(value) & 0x0001 else "online"


CONVERTERS.update({
    "liebert_online_fun": _flag("online"), "liebert_discharging_fun": _flag("dischrg"),
    "liebert_charging_fun": _flag("chrg"), "liebert_lowbatt_fun": _flag("lowbatt"),
    "liebert_replacebatt_fun": _flag("replacebatt"),
    "liebert_shutdownimm_fun": _flag("shutdownimm"),
    "liebert_config_voltage_fun": liebert_config_voltage_fun,
    "liebert_line_voltage_fun": liebert_line_voltage_fun,
    "belkin_firmware_conversion_fun": belkin_firmware_conversion_fun,
    "belkin_upstype_conversion_fun": belkin_upstype_conversion_fun,
    "belkin_sensitivity_conversion_fun": belkin_sensitivity_conversion_fun,
    "belkin_online_conversion_fun": belkin_online_conversion_fun,
    "belkin_overload_conversion_fun": _bit(0x0010, "overload"),
    "belkin_overheat_conversion_fun": _bit(0x0040, "overheat"),
    "belkin_commfault_conversion_fun": _bit(0x0080, "commfault"),
    "belkin_awaitingpower_conversion_fun": _bit(0x2000, "awaitingpower"),
    "belkin_lowbatt_conversion_fun": _bit(0x0004, "lowbatt"),
    "belkin_depleted_conversion_fun": _bit(0x0040, "depleted"),
    "belkin_replacebatt_conversion_fun": _bit(0x0080, "replacebatt"),
})
REVERSERS: dict[str, Callable[[DeviceQuirks, str | None], float]] = {
    f.__name__: f for f in (mge_date_conversion_nuf, mge_time_conversion_nuf,
                            pegasus_yes_no_info_nuf, powercom_startup_nuf,
                            powercom_shutdown_nuf, powercom_stayoff_nuf)
}


# -- Legrand (legrand-hid.c): values the descriptor scales too far down ----------------
def _times(factor: float) -> Callable[[DeviceQuirks, float], str]:
    def conv(q: DeviceQuirks, value: float) -> str:
        return f"{value * factor:0.1f}"[:19]
    return conv


CONVERTERS.update({"legrand_times10": _times(10), "legrand_times100k": _times(100000),
                   "legrand_times1M": _times(1000000), "legrand_times10M": _times(10000000)})


# -- Delta (delta_ups-hid.c) ----------------------------------------------------------
def delta_ups_type_fun(q: DeviceQuirks, value: float) -> str | None:
    kind = c_long(value) & 0xF
    if kind == 6:
        kind = 4
    elif 2 < kind <= 5:
        kind -= 2
    types = ("online", "offline", "line-interactive", "3-phase", "split-phase")
    return types[kind] if 0 <= kind <= 4 else None


CONVERTERS["delta_ups_type_fun"] = delta_ups_type_fun


# -- openUPS (openups-hid.c): scales per product ID, a thermistor table -------------------
#: Thermistor readings (x 100) at -40, -35, ... 125 degrees C (NUT's table, from the
#: openUPS Windows monitoring application).
OPENUPS_THERMISTOR = (
    0x31, 0x40, 0x53, 0x68, 0x82, 0xA0, 0xC3, 0xE9, 0x113, 0x13F, 0x16E, 0x19F, 0x1CF, 0x200,
    0x22F, 0x25C, 0x286, 0x2AE, 0x2D3, 0x2F4, 0x312, 0x32D, 0x345, 0x35A, 0x36D, 0x37E, 0x38C,
    0x399, 0x3A5, 0x3AF, 0x3B7, 0x3BF, 0x3C6, 0x3CC)


def openups_voltage_multiplier(q: DeviceQuirks) -> None:
    """NUT's get_voltage_multiplier: the scales of the d004 and d005 units."""
    if q.productid == 0xD004:
        q.openups_scales = (0.03545 * 100, 0.02571 * 100, 0.8274 / 10, 16.113 / 10)
    elif q.productid == 0xD005:
        q.openups_scales = (0.1, 0.1, 0.1, 0.1)


def _openups_scaled(index: int, fmt: str) -> Callable[[DeviceQuirks, float], str]:
    def conv(q: DeviceQuirks, value: float) -> str:
        return (fmt % (value * q.openups_scales[index]))[:19]
    return conv


def openups_temperature_fun(q: DeviceQuirks, value: float) -> str | None:
    table = OPENUPS_THERMISTOR
    reading = c_long(value * 100) & 0xFFFFFFFF  # C: unsigned int thermistor = value * 100
    if reading <= table[0]:
        return "-40"
    if reading >= table[-1]:
        return "125"
    pos = max(i for i, level in enumerate(table) if reading >= level)
    if reading == table[pos]:
        return str(pos * 5 - 40)
    t1, t2 = pos * 5 - 40, (pos + 1) * 5 - 40
    d1, d2 = table[pos], table[pos + 1]
    return f"{(reading - d1) * (t2 - t1) / (d2 - d1) + t1:.2f}"


CONVERTERS.update({
    "openups_charging_fun": _flag("chrg"), "openups_discharging_fun": _flag("dischrg"),
    "openups_online_fun": _flag("online"), "openups_nobattery_fun": _flag("nobattery"),
    "openups_off_fun": lambda q, value: "!off" if value else "off",
    "openups_scale_vin_fun": _openups_scaled(0, "%.2f"),
    "openups_scale_vout_fun": _openups_scaled(1, "%.2f"),
    "openups_scale_ccharge_fun": _openups_scaled(2, "%.3f"),
    "openups_scale_cdischarge_fun": _openups_scaled(3, "%.3f"),
    "openups_temperature_fun": openups_temperature_fun,
})


# -- Ever (ever-hid.c): whole reports read by fixed IDs --------------------------------
# NUT reads these reports' buffers directly (its pointer would be NULL for a report the
# descriptor lacks: a crash; here the row is skipped), and cycles the IP address and
# packet counter rows through four reports with a counter per function.
_EVER_REV = "0ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_EVER_WORKMODES = {1: "UNKNOWN", 2: "STOP", 4: "ONLINE", 8: "ONBATTERY", 16: "WATCH",
                   32: "WAITING", 64: "EMERGENCY"}
_EVER_MESSAGES = ((0x04, "BOOST"), (0x08, "BUCK"), (0x10, "BOOST_BLOCKED"),
                  (0x20, "BUCK_BLOCKED"), (0x40, "CHARGING"), (0x80, "FAN_ON"),
                  (0x100, "EPO_BLOCKED"), (0x200, "NEED_REPLACMENT"), (0xC00, "OVERHEAT"),
                  (0x1000, "WAITING_FOR_MIN_CHARGE"), (0x2000, "MAINS_OUT_OF_RANGE"))
_EVER_ALARMS = ((0x01, "OVERLOAD"), (0x02, "SHORT-CIRCUIT"), (0x0C, "OVERHEAT"),
                (0x10, "EPO"), (0x20, "INERNAL_ERROR"), (0x40, "REVERSE_POWER_SUPPLY"),
                (0x80, "NO_INETERNAL_COMM"), (0x100, "CRITICAL_BATT_VOLTAGE"))


def ever_format_hardware_fun(q: DeviceQuirks, value: float) -> str | None:
    v = c_long(value) & 0xFFFFFFFF
    rev = (v & 0xFF00) >> 8
    if rev >= len(_EVER_REV):
        return None  # NUT reads past its 27-entry table
    return f"rev.{_EVER_REV[rev]}v{v & 0xFF:02d}"[:9]


def ever_format_version_fun(q: DeviceQuirks, value: float) -> str | None:
    v = c_long(value)
    return f"v{(v & 0xF000) >> 12:X}.{(v & 0xF00) >> 8:X}b{v & 0xFF:02d}"[:9]


def _ever_bytes(q: DeviceQuirks, rid: int) -> bytes | None:
    return q.report(rid)


def ever_mac_address_fun(q: DeviceQuirks, value: float) -> str | None:
    buf = _ever_bytes(q, 210)
    return None if buf is None else ":".join(f"{b:02x}" for b in buf[1:])[:99]


def ever_ip_address_fun(q: DeviceQuirks, value: float) -> str | None:
    rid = (211, 230, 231, 232)[q.ever_ip_counter - 1]
    q.ever_ip_counter = 1 if q.ever_ip_counter == 4 else q.ever_ip_counter + 1
    buf = _ever_bytes(q, rid)
    return None if buf is None else ".".join(str(b) for b in buf[1:])[:99]


def ever_packets_fun(q: DeviceQuirks, value: float) -> str | None:
    rid = (215, 216, 217, 218)[q.ever_packets_counter - 1]
    q.ever_packets_counter = 1 if q.ever_packets_counter == 4 else q.ever_packets_counter + 1
    buf = _ever_bytes(q, rid)
    if buf is None:
        return None
    if len(buf) < 5:
        return ""
    return str(int.from_bytes(buf[1:5], "little", signed=True))


def ever_workmode_fun(q: DeviceQuirks, value: float) -> str | None:
    buf = _ever_bytes(q, 74)
    return None if buf is None or len(buf) < 2 else _EVER_WORKMODES.get(buf[1], "UNKNOWN")


def ever_on_off_fun(q: DeviceQuirks, value: float) -> str | None:
    buf = _ever_bytes(q, 74)
    if buf is None or len(buf) < 2:
        return None
    return "!off" if buf[1] in (0x04, 0x08) else "off"


def _ever_flags(q: DeviceQuirks, rid: int, names: tuple[tuple[int, str], ...]) -> str | None:
    buf = _ever_bytes(q, rid)
    if buf is None or len(buf) < 3:
        return None
    bits = buf[1] | buf[2] << 8
    return " ".join(name for mask, name in names if bits & mask)[:199]


CONVERTERS.update({
    f.__name__: f for f in (ever_format_hardware_fun, ever_format_version_fun,
                            ever_mac_address_fun, ever_ip_address_fun, ever_packets_fun,
                            ever_workmode_fun, ever_on_off_fun)})
CONVERTERS["ever_messages_fun"] = lambda q, value: _ever_flags(q, 75, _EVER_MESSAGES)
CONVERTERS["ever_alarms_fun"] = lambda q, value: _ever_flags(q, 76, _EVER_ALARMS)
