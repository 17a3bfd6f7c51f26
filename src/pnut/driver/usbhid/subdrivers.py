"""usbhid-ups subdrivers: NUT's tables (tab_*.py) plus the code around them.

How this works
--------------
A :class:`Subdriver` joins one generated table module (usage names, the
HID-path -> NUT-variable rows, value lookups, claimed USB IDs) with what
cannot be a table: the value conversion functions NUT names in its lookups
(``date_conversion_fun`` ...), how the manufacturer/model/serial are
formatted, and the vendor's report descriptor fixes.  Conversions are
registered by NUT's C function name in :data:`CONVERTERS` so a generated
row can name one; a row whose conversion pnut lacks is skipped.

Device-specific state (the CyberPower battery scale, APC's maxreport
tweak) lives in :class:`DeviceQuirks`, one per opened device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

from pnut.driver.hid.parser import Descriptor
from pnut.driver.usbhid import (
    tab_apc,
    tab_arduino,
    tab_belkin,
    tab_cps,
    tab_delta_ups,
    tab_ever,
    tab_idowell,
    tab_legrand,
    tab_liebert,
    tab_mge,
    tab_openups,
    tab_powercom,
    tab_powervar,
    tab_salicru,
    tab_tripplite,
    usages,
    vendor_conv,
)
from pnut.driver.usbhid.quirks import DeviceQuirks, c_long

log = logging.getLogger("pnut.driver")

#: HID flags of a mapping row (NUT's HU_*).
HU_STATIC = 2
HU_SEMI_STATIC = 4
HU_ABSENT = 8
HU_QUICK_POLL = 16
HU_CMD = 64
HU_ENUM = 128
#: NUT variable flags of a mapping row.
ST_RW = 1
ST_STRING = 2

LookupRow = tuple[int, "str | None", "str | None", "str | None"]

USAGE_HIGH_VOLTAGE_TRANSFER = 0x00840054
USAGE_VOLTAGE = 0x00840030
USAGE_CONFIG_VOLTAGE = 0x00840040


_c_str = c_long


def date_conversion_fun(q: DeviceQuirks, value: float) -> str:
    v = _c_str(value)
    if v == 0:
        return "not set"
    return f"{1980 + (v >> 9):04d}/{(v >> 5) & 0x0F:02d}/{v & 0x1F:02d}"


def _scan_date(text: str) -> tuple[int, int, int] | None:
    parts = text.strip().split("/")
    if len(parts) != 3:
        return None
    try:
        return int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return None


def date_conversion_reverse(q: DeviceQuirks, text: str | None) -> float:
    ymd = _scan_date(text or "")
    if ymd is None:
        return 0.0
    year, month, day = ymd
    if year - 1980 > 127 or month > 12 or day > 31:
        return 0.0
    return float(((year - 1980) << 9) + (month << 5) + day)


def hex_conversion_fun(q: DeviceQuirks, value: float) -> str:
    return f"{_c_str(value) & 0xFFFFFFFFFFFFFFFF:08x}"


def stringid_conversion_fun(q: DeviceQuirks, value: float) -> str:
    return q.get_string(_c_str(value)).rstrip("\n")[:19]


def divide_by_10_conversion_fun(q: DeviceQuirks, value: float) -> str:
    return f"{value * 0.1:0.1f}"


def kelvin_celsius_conversion_fun(q: DeviceQuirks, value: float) -> str:
    if 273 <= value <= 373:
        return f"{value - 273.15:.1f}"
    return f"{value:.1f}"


def apc_date_conversion_fun(q: DeviceQuirks, value: float) -> str:
    v = _c_str(value)
    if v == 0:
        return "not set"
    year = (v & 0xF) + 10 * ((v >> 4) & 0xF)
    month = ((v >> 16) & 0xF) + 10 * ((v >> 20) & 0xF)
    day = ((v >> 8) & 0xF) + 10 * ((v >> 12) & 0xF)
    year += 1900 if year >= 70 else 2000
    return f"{year:04d}/{month:02d}/{day:02d}"


def apc_date_conversion_reverse(q: DeviceQuirks, text: str | None) -> float:
    ymd = _scan_date(text or "")
    if ymd is None:
        return 0.0
    year, month, day = ymd
    if year >= 2070 or month > 12 or day > 31:
        return 0.0
    year %= 100
    date = ((year // 10 & 0x0F) << 4) + (year % 10)
    date += ((month // 10 & 0x0F) << 20) + ((month % 10) << 16)
    date += ((day // 10 & 0x0F) << 12) + ((day % 10) << 8)
    return float(date)


def cps_battvolt_fun(q: DeviceQuirks, value: float) -> str:
    """CyberPower 0501 units report battery voltage 1.5x too high (NUT #439/#3089)."""
    if q.might_need_battery_scale and not q.battery_scale_checked:
        nominal_text = q.getinfo("battery.voltage.nominal")
        if nominal_text is not None:
            try:
                nominal = float(nominal_text.strip() or "0")
            except ValueError:
                nominal = 0.0
            if nominal != 0:
                if value / nominal > 1.4:
                    log.info("battery readings will be scaled by 2/3")
                    q.battery_scale = 2.0 / 3
                q.battery_scale_checked = True
    return f"{q.battery_scale * value:.1f}"


def cps_battcharge_fun(q: DeviceQuirks, value: float) -> str:
    return f"{min(value, 100.0):.0f}"


def tripplite_chemistry_fun(q: DeviceQuirks, value: float) -> str:
    """AVR550U (1003) and OMNI1000LCD (2005) firmware point at a bogus string."""
    if q.productid in (0x1003, 0x2005):
        return "unknown"
    return stringid_conversion_fun(q, value)


def tripplite_battvolt_fun(q: DeviceQuirks, value: float) -> str:
    return f"{q.battery_scale * value:.1f}"[:7]


def tripplite_iovolt_fun(q: DeviceQuirks, value: float) -> str:
    return f"{q.io_voltage_scale * value:.1f}"[:7]


def tripplite_iofreq_fun(q: DeviceQuirks, value: float) -> str:
    return f"{q.io_frequency_scale * value:.1f}"[:7]


def tripplite_ioamp_fun(q: DeviceQuirks, value: float) -> str:
    return f"{q.io_current_scale * value:.1f}"[:7]


Converter = Callable[[DeviceQuirks, float], "str | None"]
Reverser = Callable[[DeviceQuirks, "str | None"], float]

CONVERTERS: dict[str, Converter] = {
    f.__name__: f for f in (
        date_conversion_fun, hex_conversion_fun, stringid_conversion_fun,
        divide_by_10_conversion_fun, kelvin_celsius_conversion_fun, apc_date_conversion_fun,
        cps_battvolt_fun, cps_battcharge_fun, tripplite_chemistry_fun, tripplite_battvolt_fun,
        tripplite_iovolt_fun, tripplite_iofreq_fun, tripplite_ioamp_fun)
}
REVERSERS: dict[str, Reverser] = {
    f.__name__: f for f in (date_conversion_reverse, apc_date_conversion_reverse)
}
CONVERTERS.update(vendor_conv.CONVERTERS)
REVERSERS.update(vendor_conv.REVERSERS)


@dataclass(frozen=True)
class Row:
    """One HID-path -> NUT-variable mapping (NUT's hid_info_t)."""

    var: str
    flags: int
    length: int
    path: str
    dfl: str | None
    hidflags: int
    lookup: tuple[LookupRow, ...] | None


def _fix_none(desc: Descriptor, q: DeviceQuirks) -> bool:
    return False


def _fix_apc(desc: Descriptor, q: DeviceQuirks) -> bool:
    """Back-UPS XS 1400U (and kin) declare input voltage limits below the real ones."""
    if q.vendorid != 0x051D or q.productid != 0x0002:
        return False
    hvt = desc.find_by_id_node(0x33, USAGE_HIGH_VOLTAGE_TRANSFER)
    if hvt is None:
        return False
    hvt_max = desc.fields[hvt].logmax
    fixed = False
    volt = desc.find_by_id_node(0x31, USAGE_VOLTAGE)
    if volt is not None and hvt_max > desc.fields[volt].logmax:
        desc.patch(volt, logmin=0, logmax=hvt_max * 2)
        fixed = True
    conf = desc.find_by_id_node(0x30, USAGE_CONFIG_VOLTAGE)
    if conf is not None and hvt_max > desc.fields[conf].logmax:
        desc.patch(conf, logmax=255)
        fixed = True
    return fixed


def _fix_cps(desc: Descriptor, q: DeviceQuirks) -> bool:
    """CP*EPFCLCD reuse the high-transfer limits for the output voltage (NUT #439).

    NUT 2.8.0 also announces a fix of the input voltage limits but never
    applies it; pnut applies it (docs/compat.md).
    """
    if q.vendorid != 0x0764 or q.productid != 0x0501:
        return False
    hvt = desc.find_by_id_node(16, USAGE_HIGH_VOLTAGE_TRANSFER)
    out = desc.find_by_id_node(18, USAGE_VOLTAGE)
    if hvt is None or out is None:
        return False
    h, o = desc.fields[hvt], desc.fields[out]
    if (h.logmin, h.logmax) != (o.logmin, o.logmax):
        return False
    desc.patch(out, logmin=0, logmax=511)
    inp = desc.find_by_id_node(15, USAGE_VOLTAGE)
    if inp is not None:
        desc.patch(inp, logmin=0, logmax=511)
    return True


PHOENIXTEC = 0x06DA

#: APC product names whose firmware overflows some reports (NUT's tweak_max_report).
APC_MAX_REPORT = ("Back-UPS ES 525", "Back-UPS CS")


@dataclass
class Subdriver:
    key: str
    name: str
    usages: dict[str, int]
    rows: list[Row]
    devices: list[tuple[int, int, str | None]]
    fix: Callable[[Descriptor, DeviceQuirks], bool] = _fix_none
    default_mfr: str | None = None
    model_split_fw: bool = False
    _by_code: dict[int, str] = field(default_factory=dict)
    _by_name: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table in (self.usages, usages.HID_USAGES):
            for name, code in table.items():
                self._by_code.setdefault(code, name)
                self._by_name.setdefault(name.lower(), code)

    def claim(self, vid: int, pid: int, productid_given: bool, vendor: str | None = None,
              product: str | None = None) -> bool:
        """NUT's is_usb_device_supported plus the subdrivers' own exceptions."""
        known = any(v == vid and p == pid for v, p, _h in self.devices)
        if self.key == "mge" and vid == PHOENIXTEC:
            # Liebert's, unless it is an AEG-branded unit.
            return "AEG" in (vendor or "") or "AEG" in (product or "")
        if known:
            return True
        if not any(v == vid for v, _p, _h in self.devices):
            return False
        if self.key == "tripplite" and vid == 0x09AE and pid == 0x0001:
            return False  # serial-over-USB: the tripplite_usb driver's
        return productid_given

    def path_to_string(self, path: tuple[int, ...]) -> str:
        parts = []
        for node in path:
            name = self._by_code.get(node)
            if name is not None:
                parts.append(name)
            elif node & 0xFFFF0000 == 0x00FF0000:
                parts.append(f"[{node & 0xFFFF}]")
            else:
                parts.append(f"{node:08x}")
        return ".".join(parts)

    def string_to_path(self, text: str) -> tuple[int, ...] | None:
        nodes: list[int] = []
        for token in text.split("."):
            if not token:
                continue
            code = self._by_name.get(token.lower())
            if code is not None:
                nodes.append(code)
            elif all(c in "0123456789abcdefABCDEF" for c in token):
                nodes.append(int(token, 16))
            elif token.startswith("[") and token.endswith("]") and token[1:-1].isdigit():
                nodes.append(0x00FF0000 + int(token[1:-1]))
            else:
                return None
        return tuple(nodes) or None

    def on_claim(self, q: DeviceQuirks) -> None:
        """NUT's per-device hooks of the USB ID table, by their C names."""
        hook = next((h for v, p, h in self.devices if (v, p) == (q.vendorid, q.productid)),
                    None)
        if hook == "general_apc_check":
            q.max_report = any(q.product.startswith(p) for p in APC_MAX_REPORT)
        elif hook == "disable_interrupt_pipe":
            q.interrupt_pipe = False
        elif hook == "cps_battery_scale":
            q.might_need_battery_scale = True
        elif hook == "battery_scale_0dot1":
            q.battery_scale = 0.1
        elif hook == "battery_scale_1dot0":
            q.battery_scale = 1.0
        elif hook == "get_voltage_multiplier":
            vendor_conv.openups_voltage_multiplier(q)
        elif hook == "smart1500lcdt_scale":
            q.battery_scale = q.io_voltage_scale = 100000.0
            q.io_frequency_scale = q.io_current_scale = 0.01

    def format_mfr(self, vendor: str | None) -> str | None:
        mfr = vendor if vendor is not None else self.default_mfr
        if self.key == "belkin" and mfr is not None:
            mfr = mfr.lstrip(" ")
        return mfr

    def format_model(self, product: str | None,
                     setinfo: Callable[[str, str], object]) -> str | None:
        """The subdriver's model string; None (no ups.model) where NUT gives NULL."""
        if self.key == "belkin":
            return product if product else "unknown"
        if not self.model_split_fw:
            return product
        model = product if product is not None else "unknown"
        if self.model_split_fw and "FW:" in model:
            head, _, fw = model.partition("FW:")
            model = head[:-1] if head else head
            fw_main, sep, usb_fw = fw.partition("USB FW:")
            if sep:
                fw_main = fw_main[:-1] if fw_main else fw_main
                setinfo("ups.firmware.aux", usb_fw)
            setinfo("ups.firmware", fw_main)
        return model


def _rows(mod: ModuleType) -> list[Row]:
    lookups: dict[str, list[LookupRow]] = dict(usages.GENERIC_LOOKUPS)
    lookups.update(mod.LOOKUPS)
    out = []
    for var, flags, length, path, dfl, hidflags, lkp in mod.HID2NUT:
        table = tuple(lookups[lkp]) if lkp is not None and lkp in lookups else None
        if lkp is not None and table is None:
            continue
        out.append(Row(var, flags, length, path, dfl, hidflags, table))
    return out


def _make(key: str, mod: ModuleType, **kw: object) -> Subdriver:
    return Subdriver(key, mod.NAME, mod.USAGES, _rows(mod), mod.DEVICES, **kw)  # type: ignore[arg-type]


#: In NUT's order of trial (usbhid-ups.c subdriver_list, explore left out).
SUBDRIVERS: list[Subdriver] = [
    _make("mge", tab_mge, default_mfr="Eaton"),
    _make("apc", tab_apc, fix=_fix_apc, default_mfr="APC", model_split_fw=True),
    _make("arduino", tab_arduino, default_mfr="Arduino"),
    _make("belkin", tab_belkin, default_mfr="Belkin"),
    _make("cps", tab_cps, fix=_fix_cps, default_mfr="CPS"),
    _make("delta_ups", tab_delta_ups, default_mfr="Delta"),
    _make("ever", tab_ever, default_mfr="Ever"),
    _make("idowell", tab_idowell, default_mfr="iDowell"),
    _make("legrand", tab_legrand, default_mfr="Legrand"),
    _make("liebert", tab_liebert, default_mfr="Liebert"),
    _make("openups", tab_openups, default_mfr="openUPS"),
    _make("powercom", tab_powercom, default_mfr="PowerCOM"),
    _make("powervar", tab_powervar, default_mfr="Powervar"),
    _make("salicru", tab_salicru, default_mfr="Salicru"),
    _make("tripplite", tab_tripplite),
]


def find_subdriver(vid: int, pid: int, productid_given: bool, name: str | None = None,
                   vendor: str | None = None, product: str | None = None) -> Subdriver | None:
    """The first subdriver (NUT's order) that claims the device; ``name`` restricts the choice."""
    for sub in SUBDRIVERS:
        if name is not None and not sub.name.lower().startswith(name.lower()) and \
                sub.key != name.lower():
            continue
        if sub.claim(vid, pid, productid_given, vendor, product):
            return sub
    return None


def usb_ids() -> list[tuple[int, int, str]]:
    """Every (vendor ID, product ID, subdriver) usbhid-ups claims, for ``pnut scan``."""
    return [(v, p, s.key) for s in SUBDRIVERS for v, p, _h in s.devices]
