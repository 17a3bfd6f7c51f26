"""Voltronic Power (``QPI``): NUT 2.8.0's nutdrv_qx_voltronic.c, "Voltronic 0.06".

How this works
--------------
The table (:mod:`.voltronic_table`) is NUT's, row for row; this module holds
its hooks.  ``QGS`` (general status) and ``QPI`` (protocol, ``(PIxx``) claim
the device; the protocol number then turns rows on (NUT's
``voltronic_massive_unskip``: three-phase readings for P03/P09/P10, bypass
limits for all but P00/P08/P31, battery type and grid range for P31).  Other
rows are turned on by what the device reports: ``QFLAG`` capabilities unskip
their SET rows (and the beeper, bypass and outlet commands, the ECO limits),
an answering outlet unskips its delay and commands, the QGS fault bit
unskips ``QFS``.  Commands answer ``(ACK`` (done) or ``(NAK`` (refused).

What NUT keeps in C statics (the capability words, the bypass limits, the
phase angle, ...) lives in ``engine.scratch``.  Two places where NUT 2.8.0 is
plainly wrong are done right here (docs/compat.md): the QGS fault bit is
compared with the character '1' (NUT compares it with the number 1, so it
never sees a fault), and ``output_phase_angle`` sends the angle (NUT sends
the index of the angle in its list, ``PPD001`` for 120°).
"""

from __future__ import annotations

import logging

from pnut.driver.qx import items as q
from pnut.driver.qx.engine import Dialect, QxEngine
from pnut.driver.qx.items import Hook, HookEngine, Item, RwHook, cformat, only
from pnut.driver.qx.voltronic_table import (
    FAULT_1_PHASE,
    FAULTS,
    FAULTS_P31,
    ROWS,
    RW,
    RW_SPECS,
    WARNING_STATUS,
    WARNINGS,
)
from pnut.protocol.cnum import atoi, strtod

log = logging.getLogger("pnut.driver")

VERSION = "Voltronic 0.06"
#: NUT's ST_MAX_VALUE_LEN (a warning list longer than this less 32 is abbreviated).
ST_MAX_VALUE_LEN = 256
#: What NUT's value buffer (SMALLBUF) holds.
VALUE_MAX = 511
PROTOCOLS = frozenset({0, 1, 2, 3, 8, 9, 10, 13, 14, 31, 99})
#: ups.conf settings of this dialect (NUT's voltronic_makevartable).
SETTINGS = (
    ("reset_to_default", "Reset capability options and their limits to safe default values",
     True),
    ("bypass_alarm", "Alarm (BEEP!) at Bypass Mode [enabled/disabled]", False),
    ("battery_alarm", "Alarm (BEEP!) at Battery Mode [enabled/disabled]", False),
    ("bypass_when_off", "Bypass when the UPS is Off [enabled/disabled]", False),
    ("alarm_control", "Alarm (BEEP!) Control [enabled/disabled]", False),
    ("converter_mode", "Converter Mode [enabled/disabled]", False),
    ("eco_mode", "ECO Mode [enabled/disabled]", False),
    ("battery_open_status_check", "Battery Open Status Check [enabled/disabled]", False),
    ("bypass_forbidding", "Bypass not allowed (Bypass Forbidding) [enabled/disabled]", False),
    ("site_fault_detection", "Site fault detection [enabled/disabled]", False),
    ("advanced_eco_mode", "Advanced ECO Mode [enabled/disabled]", False),
    ("constant_phase_angle", "Constant Phase Angle Function (Output and input phase angles "
                             "are not equal) [enabled/disabled]", False),
    ("limited_runtime_on_battery", "Limited runtime on battery mode [enabled/disabled]", False),
    ("max_bypass_volt", "Maximum voltage for Bypass Mode", False),
    ("min_bypass_volt", "Minimum voltage for Bypass Mode", False),
    ("max_bypass_freq", "Maximum frequency for Bypass Mode", False),
    ("min_bypass_freq", "Minimum frequency for Bypass Mode", False),
    ("work_range_type", "Device grid working range for P31 UPSes [Appliance/UPS]", False),
    ("output_phase_angle", "Change output phase angle to the provided value "
                           "[000, 120, 180, 240]°", False),
    ("battery_number", "Set number of batteries that make a pack to n (integer, 1-9)", False),
    ("testing", "If invoked the driver will exec also commands that still need testing", True),
)
#: Capability letter of each QFLAG row.
CAPABILITY = {
    "bypass_alarm": "p", "battery_alarm": "b", "bypass_when_off": "o", "alarm_control": "a",
    "converter_mode": "v", "eco_mode": "e", "battery_open_status_check": "d",
    "bypass_forbidding": "f", "site_fault_detection": "l", "advanced_eco_mode": "n",
    "constant_phase_angle": "q", "limited_runtime_on_battery": "w",
    "ups.start.auto": "r", "battery.protection": "s", "battery.energysave": "g",
    "ups.start.battery": "c", "outlet.0.switchable": "j",
}


# -- helpers ------------------------------------------------------------------------
def _protocol(engine: HookEngine) -> int:
    return atoi((engine.dstate.value("ups.firmware.aux") or "")[1:])


def _info(engine: HookEngine, name: str) -> str:
    return engine.dstate.value(name) or ""


def _unskip(engine: HookEngine, name: str, flag: int = 0) -> bool:
    item = engine.find(name, flag)
    if item is None:
        return False
    item.flags &= ~q.SKIP
    return True


def _numeric(item: Item) -> bool:
    if only(item.value, "0123456789 ."):
        return True
    log.debug("non numerical value [%s: %s]", item.name, item.value)
    return False


def _span(text: str, chars: str) -> int:
    """C's strspn."""
    n = 0
    while n < len(text) and text[n] in chars:
        n += 1
    return n


def _cmod(a: int, b: int) -> int:
    """C's % (the sign of the dividend)."""
    return a - b * int(a / b)


# -- rw checks (NUT's info_rw_t preprocess functions) ----------------------------------
def _spec_allows(spec: str, protocol: int, ivn: int | None, ofn: float | None) -> bool:
    """One comment of NUT's range tables, e.g. ``P01/P99 ivn<200`` or ``P01 ivn<200, P09``."""
    for alternative in spec.split(", "):
        words = alternative.split()
        protocols = {int(p[1:]) for p in words[0].split("/")}
        if protocol not in protocols:
            continue
        cond = words[1] if len(words) > 1 else ""
        if cond == "ivn<200" and not (ivn is not None and ivn < 200):
            continue
        if cond == "ivn>=200" and not (ivn is not None and ivn >= 200):
            continue
        if cond.startswith("ofn==") and ofn != float(cond[5:]):
            continue
        return True
    return False


def _range_check(table: str, nominal: str) -> RwHook:
    specs = RW_SPECS[table]

    def check(engine: HookEngine, value: str) -> bool:
        raw = engine.dstate.value(nominal)
        if raw is None:
            log.debug("unable to get %s", nominal)
            return False
        ivn = atoi(raw) if nominal == "input.voltage.nominal" else None
        ofn = strtod(raw) if nominal == "output.frequency.nominal" else None
        spec = specs.get(value)
        return spec is not None and _spec_allows(spec, _protocol(engine), ivn, ofn)

    return check


def batt_low(engine: HookEngine, value: str) -> bool:
    ovn, ocn = (engine.dstate.value(n) for n in ("output.voltage.nominal",
                                                  "output.current.nominal"))
    if ovn is None or ocn is None:
        log.debug("unable to get the value of output voltage nominal/output current nominal")
        return False
    return atoi(value) == (24 if atoi(ovn) * atoi(ocn) < 1000 else 28)


RW_HOOKS: dict[str, RwHook] = {
    "batt_low": batt_low,
    "bypass_volt_max": _range_check("R_BYPASS_VOLT_MAX", "input.voltage.nominal"),
    "bypass_volt_min": _range_check("R_BYPASS_VOLT_MIN", "input.voltage.nominal"),
    "bypass_freq_max": _range_check("R_BYPASS_FREQ_MAX", "output.frequency.nominal"),
    "bypass_freq_min": _range_check("R_BYPASS_FREQ_MIN", "output.frequency.nominal"),
    "eco_freq_min": _range_check("R_ECO_FREQ_MIN", "output.frequency.nominal"),
    "eco_freq_max": _range_check("R_ECO_FREQ_MAX", "output.frequency.nominal"),
}


# -- the protocol and what it turns on -------------------------------------------------
def _unskipped_by_protocol(engine: HookEngine, item: Item, p: int) -> bool:
    """NUT's voltronic_massive_unskip condition for one row."""
    name, setvar = item.name.lower(), bool(item.flags & q.SETVAR)
    if p == 9 and name in ("output.bypass.l1-n.voltage", "output.bypass.l2-n.voltage") \
            and item.answer_len == 19:
        return True
    if p == 10 and (name in ("output.l3-n.voltage", "output.bypass.l1-l2.voltage",
                             "output.bypass.l2-l3.voltage", "output.bypass.l1-l3.voltage",
                             "output.l3.current", "output.l3.power.percent")
                    or (name == "output.l2-l3.voltage" and item.start == 25)
                    or (name == "output.l1-l3.voltage" and item.start == 31)
                    or (name.startswith("output.bypass.l") and name.endswith("-n.voltage")
                        and item.answer_len == 37)):
        return True
    if p in (9, 10) and name in ("output.l1-n.voltage", "output.l2-n.voltage",
                                 "output.l1-l2.voltage", "output.l1.current",
                                 "output.l2.current", "output.l1.power.percent",
                                 "output.l2.power.percent"):
        return True
    if p in (3, 9, 10) and name in ("input.l1-n.voltage", "input.l2-n.voltage",
                                    "input.l1-l2.voltage", "input.l1.current",
                                    "input.l2.current"):
        return True
    if p in (3, 10) and (name in ("input.l3-n.voltage", "input.l3.current")
                         or (name == "input.l2-l3.voltage" and item.start == 25)
                         or (name == "input.l1-l3.voltage" and item.start == 31)):
        return True
    if p == 31 and (name == "battery.type" or (name == "work_range_type" and (
            not setvar or engine.getval(item.name) is not None))):
        return True
    if p not in (0, 8, 31) and name in ("max_bypass_volt", "min_bypass_volt",
                                        "max_bypass_freq", "min_bypass_freq") and not setvar:
        return True
    if name == "reset_to_default" and engine.testvar("reset_to_default"):
        return True
    return name == "unknown.7" and engine.testvar("testing")


def protocol(engine: HookEngine, item: Item, value: str) -> str | None:
    if item.value[:2].lower() != "pi":
        log.debug("invalid start characters [%.2s]", item.value)
        return None
    if not only(item.value[2:], "0123489"):
        log.error("Protocol [%s] is not supported by this driver", item.value)
        return None
    number = atoi(item.value[2:])
    if number not in PROTOCOLS:
        log.error("Protocol [PI%02d] is not supported by this driver", number)
        return None
    for row in engine.table:
        if row.command and _unskipped_by_protocol(engine, row, number):
            row.flags &= ~q.SKIP
    return f"P{number:02d}"


async def claim(engine: QxEngine) -> bool:
    """QGS must give the input voltage, then QPI a protocol this driver knows."""
    if not await engine.read_variable("input.voltage"):
        return False
    if not await engine.read_variable("ups.firmware.aux"):
        engine.dstate.del_info("input.voltage")
        return False
    return True


# -- SET and command hooks -----------------------------------------------------------
def process_setvar(engine: HookEngine, item: Item, value: str) -> str | None:
    if not value:
        log.debug("value not given for %s", item.name)
        return None
    val = strtod(value)
    name, s = item.name.lower(), engine.scratch
    if name == "ups.delay.start":
        return cformat("%.0f", val - _cmod(int(val), 60))
    if name == "ups.delay.shutdown":
        step = 6 if val < 60 else 60
        return cformat("%.0f", val - _cmod(int(val), step))
    if name in ("max_bypass_freq", "min_bypass_freq", "max_bypass_volt", "min_bypass_volt",
                "battery_number") and val == s.get(name, 0):
        shown = "%.1f" if name.endswith("freq") else "%.0f"
        log.info("%s is already set to %s", item.name, cformat(shown, val))
        return None
    return cformat(item.command or "", val)


def _arg_minutes(offdelay: int) -> str:
    return f".{int(offdelay / 6)}" if offdelay < 60 else f"{int(offdelay / 60):02d}"


def process_command(engine: HookEngine, item: Item, value: str) -> str | None:
    name = item.name.lower()
    if name == "shutdown.return":
        offdelay = atoi(_info(engine, "ups.delay.shutdown"))
        ondelay = int(atoi(_info(engine, "ups.delay.start")) / 60)
        arg = _arg_minutes(offdelay)
        if ondelay != 0:
            arg += f"R{ondelay:04d}"
    elif name == "shutdown.stayoff":
        arg = _arg_minutes(atoi(_info(engine, "ups.delay.shutdown")))
    elif name == "test.battery.start":
        if not only(value, "0123456789"):
            log.error("%s: non numerical value [%s]", item.name, value)
            return None
        delay = atoi(value) if value else 600
        if delay < 12 or delay > 5940:
            log.error("%s: battery test time '%d' out of range [12..5940] seconds",
                      item.name, delay)
            return None
        arg = _arg_minutes(delay)
    elif name == "beeper.toggle":
        beeper = _info(engine, "ups.beeper.status")
        if engine.scratch.get("alarm_control"):
            if beeper == "enabled":
                arg = "OFF"
            elif beeper == "muted":
                arg = "ON"
            else:
                log.info("The beeper is already disabled")
                return None
        else:
            arg = "OFF" if beeper == "enabled" else "ON" if beeper == "disabled" else ""
    else:
        return None
    return (item.command or "") % arg


def _split_capabilities(value: str) -> tuple[str | None, str | None]:
    """strtok_r(value + 1, "D") then the rest: (enabled, disabled), None when absent."""
    raw = value[1:]
    i = 0
    while i < len(raw) and raw[i] == "D":
        i += 1
    if i >= len(raw):
        return None, None
    j = raw.find("D", i)
    if j < 0:
        return raw[i:], None
    return raw[i:j], raw[j + 1:] or None


def capability(engine: HookEngine, item: Item, value: str) -> str | None:
    enabled, disabled = _split_capabilities(item.value)
    if enabled is None and disabled is None:
        log.debug("parsing failed")
        return None
    on, off = enabled or "", disabled or ""
    name, s = item.name.lower(), engine.scratch
    letter = CAPABILITY.get(name)
    val: str | None = None
    if letter is None:
        return None
    nonut = bool(item.flags & q.NONUT)
    yes, no = ("enabled", "disabled") if nonut else ("yes", "no")
    if name == "alarm_control":
        if "a" in item.value:
            if "a" in on:
                val = s["alarm_control"] = "enabled"
                beeper = engine.dstate.value("ups.beeper.status")
                if beeper is None or beeper != "muted":
                    engine.dstate.set_info("ups.beeper.status", "enabled")
            elif "a" in off:
                val = s["alarm_control"] = "disabled"
                engine.dstate.set_info("ups.beeper.status", "disabled")
            if not (_unskip(engine, "beeper.enable", q.CMD)
                    and _unskip(engine, "beeper.disable", q.CMD)):
                return None
    elif name == "eco_mode":
        if "e" in item.value:
            if "e" in on:
                val = s["eco_mode"] = "enabled"
            elif "e" in off:
                val = s["eco_mode"] = "disabled"
            for cmd in ("bypass.start", "bypass.stop"):
                if not _unskip(engine, cmd, q.CMD):
                    return None
            for var in ("input.transfer.high", "input.transfer.low", "input.frequency.high",
                        "input.frequency.low"):
                if not _unskip(engine, var, q.SEMI_STATIC):
                    return None
    elif name == "outlet.0.switchable":
        if "j" in on:
            val = yes
            for n in range(1, 5):
                if not (_unskip(engine, f"outlet.{n}.switchable")
                        and _unskip(engine, f"outlet.{n}.status")):
                    return None
        elif "j" in off:
            val = no
    elif letter in on:
        val = yes
    elif letter in off:
        val = no
    if nonut and val is not None:
        s[name] = val
    if val is None:
        return None
    out = cformat(item.fmt or "%s", val)
    if nonut and engine.getval(item.name) is None:
        return out
    if not _unskip(engine, item.name, q.SETVAR):
        return None
    return out


def capability_set(engine: HookEngine, item: Item, value: str) -> str | None:
    low = value.lower()
    if low in ("yes", "no"):
        return (item.command or "") % ("E" if low == "yes" else "D")
    log.error("%s: given value [%s] is not acceptable. Enter either 'yes' or 'no'.",
              item.name, value)
    return None


def capability_set_nonut(engine: HookEngine, item: Item, value: str) -> str | None:
    match = engine.scratch.get(item.name.lower())
    if not isinstance(match, str):
        return None
    if value.lower() == match.lower():
        log.info("%s is already %s", item.name, match)
        return None
    if value.lower() in ("disabled", "enabled"):
        return (item.command or "") % ("D" if value.lower() == "disabled" else "E")
    log.error("%s: [%s] is not within acceptable values [enabled/disabled]", item.name, value)
    return None


def capability_reset(engine: HookEngine, item: Item, value: str) -> str | None:
    if not engine.testvar("reset_to_default"):
        return None
    if "OFF" not in engine.status:
        log.error("%s: UPS capability options can be reset only when the UPS is in Standby "
                  "Mode (i.e. ups.status = 'OFF').", item.name)
        return None
    return item.command or ""


# -- value hooks -----------------------------------------------------------------------
def eco_volt(engine: HookEngine, item: Item, value: str) -> str | None:
    if not _numeric(item):
        return None
    out = cformat(item.fmt or "%s", strtod(item.value))
    raw = engine.dstate.value("output.voltage.nominal")
    if raw is None:
        log.debug("unable to get output voltage nominal")
        return out
    ovn = atoi(raw)
    if ovn < 0 or ovn > 2**31 - 1:
        return out
    p = _protocol(engine)
    if p in (1, 9):
        wide, narrow = (24, 7) if ovn >= 200 else (12, 3)
    elif p in (2, 3, 10, 13, 14, 99):
        wide, narrow = (24, 11) if ovn >= 200 else (12, 5)
    else:
        log.debug("the UPS doesn't seem to support ECO Mode")
        return out
    if item.name.lower() == "input.transfer.high":
        item.rw = (str(ovn + narrow), str(ovn + wide))
    elif item.name.lower() == "input.transfer.low":
        item.rw = (str(ovn - wide), str(ovn - narrow))
    for name in (f"{item.name}.min", f"{item.name}.max"):
        if not _unskip(engine, name, q.SEMI_STATIC):
            return None
    if not _unskip(engine, item.name, q.SETVAR):
        return None
    return out


def eco_volt_range(engine: HookEngine, item: Item, value: str) -> str | None:
    base, _, end = item.name.rpartition(".")
    if end not in ("min", "max") or base.lower() not in ("input.transfer.low",
                                                         "input.transfer.high"):
        return None
    source = engine.find(base, q.SEMI_STATIC)
    index = 0 if end == "min" else 1
    if source is None or len(source.rw) <= index or not source.rw[index]:
        return None
    return source.rw[index]


def eco_freq(engine: HookEngine, item: Item, value: str) -> str | None:
    if not _numeric(item):
        return None
    out = cformat(item.fmt or "%s", strtod(item.value))
    return out if _unskip(engine, item.name, q.SETVAR) else None


def bypass(engine: HookEngine, item: Item, value: str) -> str | None:
    if not _numeric(item):
        return None
    name = item.name.lower()
    val: float = atoi(item.value) if name.endswith("volt") else strtod(item.value)
    engine.scratch[name] = val
    out = cformat(item.fmt or "%s", val)
    if engine.getval(item.name) is None:
        return out
    return out if _unskip(engine, item.name, q.SETVAR) else None


def batt_numb(engine: HookEngine, item: Item, value: str) -> str | None:
    if not _numeric(item):
        return None
    number = atoi(item.value)
    engine.scratch["battery_number"] = number
    out = cformat(item.fmt or "%s", number)
    if engine.getval(item.name) is None:
        return out
    return out if _unskip(engine, "battery_number", q.SETVAR) else None


def batt_runtime(engine: HookEngine, item: Item, value: str) -> str | None:
    if not _numeric(item):
        return None
    return cformat(item.fmt or "%s", strtod(item.value) * 60)


def fault(engine: HookEngine, item: Item, value: str) -> str | None:
    p = _protocol(engine)
    log.info("Checking for faults..")
    v = item.value
    if v.lower() == "ok":
        text = cformat(item.fmt or "%s", "No fault found")
        log.info("%s", text)
        item.flags |= q.SKIP
        return text
    code = atoi(v)
    if _span(v, "0123456789ABC") != 2 or (v[:1] != "1" and _span(v[1:], "0123456789") != 1):
        alarm = f"Unknown fault [{v}]"
    elif p == 31:
        if any(c in "ABC" for c in v[1:]):
            alarm = f"Unknown fault [{v}]"
        else:
            alarm = FAULTS_P31.get(code, f"Unknown fault [{v}]")
            if code == 7:
                engine.update_status("OVER")
    elif code == 1:
        alarm = FAULT_1_PHASE.get(v[1:2], FAULTS[1])
    else:
        alarm = FAULTS.get(code, f"Unknown fault [{v}]")
        if code == 43:
            engine.update_status("OVER")
    text = cformat(item.fmt or "%s", alarm)
    log.info("Fault found: %s", alarm)
    item.flags |= q.SKIP
    return text


def warning(engine: HookEngine, item: Item, value: str) -> str | None:
    v = item.value
    if not only(v, "01"):
        log.debug("invalid reply from the UPS [%s]", v)
        return None
    if only(v, "0"):
        return ""
    unknown, bits, known = "", "", ""
    for i, ch in enumerate(v):
        if ch != "1":
            continue
        warn = WARNINGS.get(i)
        if warn is not None and i in WARNING_STATUS:
            engine.update_status(WARNING_STATUS[i])
        if warn is None:
            warn = f"Unknown warning from UPS [bit: #{i + 1:02d}]"
            log.info("Warning from UPS: %s", warn)
            unknown += f", #{i + 1:02d}"
            continue
        log.info("Warning from UPS: %s", warn)
        if known:
            bits += f", #{i + 1:02d}"
            known += f" {warn}"
        else:
            bits = f"Known (see log or manual) [bit: #{i + 1:02d}"
            known = warn
    if known:
        if unknown:
            known += f" Unknown warnings [bit:{unknown[1:]}]"
            bits += f"]; Unknown warnings [bit:{unknown[1:]}]"
        else:
            bits += "]"
    elif unknown:
        known = bits = f"Unknown warnings [bit:{unknown[1:]}]"
    else:
        return None
    shown = known if len(known) < ST_MAX_VALUE_LEN - 32 else bits
    return f"UPS warnings: {shown}"[:VALUE_MAX]


MODES = {"P": (None, "UPS is going ON"), "S": ("OFF", None), "Y": ("BYPASS", None),
         "L": ("OL", None), "B": ("!OL", None), "T": ("CAL", None),
         "F": (None, "Fault reported by UPS."), "E": (None, "UPS is in ECO Mode."),
         "C": (None, "UPS is in Converter Mode."), "D": ("FSD", "UPS is shutting down!")}


def mode(engine: HookEngine, item: Item, value: str) -> str | None:
    if item.value[:1] not in MODES:
        log.debug("invalid reply from the UPS [%s]", item.value)
        return None
    status, alarm = MODES[item.value[:1]]
    if alarm and item.name.lower() == "ups.alarm":
        return cformat(item.fmt or "%s", alarm)
    if status and item.name.lower() == "ups.status":
        return cformat(item.fmt or "%s", status)
    return ""


def status(engine: HookEngine, item: Item, value: str) -> str | None:
    v = item.value
    if not only(v, "01"):
        log.debug("unexpected value %s@%d", v, item.start)
        return None
    first = v[:1]
    start = item.start
    if start == 63:
        types = {0: "offline", 1: "line-interactive", 10: "online"}
        val = types.get(atoi(v))
        if val is None:
            log.debug("invalid type [%s: %s]", item.name, v)
            return None
        return val
    if start == 65:
        return "!OL" if first == "1" else "OL"
    if start == 66:
        return "LB" if first == "1" else "!LB"
    if start == 67:
        if first != "1":
            return ""
        vi = strtod(_info(engine, "input.voltage"))
        vo = strtod(_info(engine, "output.voltage"))
        if vo < 0.5 * vi:
            log.debug("output voltage too low")
            return None
        if vo < 0.95 * vi:
            return "TRIM"
        if vo < 1.05 * vi:
            p = _protocol(engine)
            if p in (0, 8):
                return "UPS is in AVR Mode." if item.name.lower() == "ups.alarm" else ""
            return "BYPASS" if item.name.lower() == "ups.status" else ""
        if vo < 1.5 * vi:
            return "BOOST"
        log.debug("output voltage too high")
        return None
    if start == 68:
        if first != "1":
            return ""
        for row in engine.table:
            if row.command and row.command.lower() == "qfs\r":
                row.flags &= ~q.SKIP
        return "UPS Fault!"
    if start == 70:
        return "CAL" if first == "1" else "!CAL"
    if start == 71:
        return "FSD" if first == "1" else "!FSD"
    if start == 72:
        if engine.scratch.get("alarm_control"):
            beeper = engine.dstate.value("ups.beeper.status")
            if beeper is None or beeper.lower() != "disabled":
                return "enabled" if first == "0" else "muted"
            return ""
        return "enabled" if first == "0" else "disabled"
    return None


def output_powerfactor(engine: HookEngine, item: Item, value: str) -> str | None:
    if not _numeric(item):
        return None
    return cformat(item.fmt or "%s", strtod(item.value) * 0.01)


def serial_numb(engine: HookEngine, item: Item, value: str) -> str | None:
    if only(item.value, "0"):
        log.info("%s: UPS reported a non-significant serial [%s]", item.name, item.value)
        return None
    return cformat(item.fmt or "%s", item.value)


def outlet(engine: HookEngine, item: Item, value: str) -> str | None:
    states = {"1": ("yes", "on"), "0": ("yes", "off")}
    if item.value[:1] not in states:
        log.debug("invalid reply from the UPS [%s: %s]", item.name, item.value)
        return None
    switchable, state = states[item.value[:1]]
    if "switchable" in item.name:
        out = cformat(item.fmt or "%s", switchable)
    elif "status" in item.name:
        out = cformat(item.fmt or "%s", state)
    else:
        return None
    n = item.name[7]
    if not (_unskip(engine, f"outlet.{n}.delay.shutdown", q.SEMI_STATIC)
            and _unskip(engine, f"outlet.{n}.load.on", q.CMD)
            and _unskip(engine, f"outlet.{n}.load.off", q.CMD)):
        return None
    return out


def outlet_delay(engine: HookEngine, item: Item, value: str) -> str | None:
    if not _numeric(item):
        return None
    out = cformat(item.fmt or "%s", strtod(item.value) * 60)
    return out if _unskip(engine, f"outlet.{item.name[7]}.delay.shutdown", q.SETVAR) else None


def outlet_delay_set(engine: HookEngine, item: Item, value: str) -> str | None:
    return (item.command or "") % int(atoi(value) / 60)


def _rw_index(item: Item, value: str) -> int | None:
    for n, choice in enumerate(v for v in item.rw if v):
        if choice.lower() == value.lower():
            return n
    log.error("%s: value [%s] out of range", item.name, value)
    return None


def p31b(engine: HookEngine, item: Item, value: str) -> str | None:
    v = item.value
    if v[:1] != "0" or _span(v[1:], "012") != 1:
        log.debug("invalid battery type reported by the UPS [%s]", v)
        return None
    return cformat(item.fmt or "%s", item.rw[atoi(v)])


def p31b_set(engine: HookEngine, item: Item, value: str) -> str | None:
    index = _rw_index(item, value)
    return None if index is None else process_setvar(engine, item, str(index))


def p31g(engine: HookEngine, item: Item, value: str) -> str | None:
    v = item.value
    if v[:1] != "0" or _span(v[1:], "01") != 1:
        log.debug("invalid device grid working range reported by the UPS [%s]", v)
        return None
    engine.scratch["work_range_type"] = atoi(v)
    return cformat(item.fmt or "%s", item.rw[atoi(v)])


def p31g_set(engine: HookEngine, item: Item, value: str) -> str | None:
    index = _rw_index(item, value)
    if index is None:
        return None
    if index == engine.scratch.get("work_range_type"):
        log.info("%s is already set to %s", item.name, item.rw[index])
        return None
    return process_setvar(engine, item, str(index))


def phase(engine: HookEngine, item: Item, value: str) -> str | None:
    if not _numeric(item):
        return None
    angle = atoi(item.value)
    if item.name.lower() == "output_phase_angle":
        engine.scratch["output_phase_angle"] = angle
        if engine.getval(item.name) is not None and not _unskip(engine, item.name, q.SETVAR):
            return None
    if angle < 0 or angle > 2**31 - 1:
        log.debug("phase angle out of range [%s: %d]", item.value, angle)
        return None
    return cformat(item.fmt or "%s", angle)


def phase_set(engine: HookEngine, item: Item, value: str) -> str | None:
    index = _rw_index(item, value)
    if index is None:
        return None
    angle = atoi(item.rw[index])
    if angle == engine.scratch.get("output_phase_angle"):
        log.info("%s is already set to %s", item.name, item.rw[index])
        return None
    return process_setvar(engine, item, str(angle))  # NUT sends the index (compat.md)


def parallel(engine: HookEngine, item: Item, value: str) -> str | None:
    if not only(item.value, "0123456789"):
        log.debug("non numerical value [%s: %s]", item.name, item.value)
        return None
    kind = {1: "master", 2: "slave", 3: "slave"}.get(atoi(item.value))
    if kind is None:
        log.debug("invalid reply from the UPS [%s]", item.value)
        return None
    return f"This UPS is *{kind}* in a system of UPSes in parallel"


HOOKS: dict[str, Hook] = {f.__name__: f for f in (
    protocol, process_setvar, process_command, capability, capability_set,
    capability_set_nonut, capability_reset, eco_volt, eco_volt_range, eco_freq, bypass,
    batt_numb, batt_runtime, fault, warning, mode, status, output_powerfactor, serial_numb,
    outlet, outlet_delay, outlet_delay_set, p31b, p31b_set, p31g, p31g_set, phase, phase_set,
    parallel)}


def _item(row: tuple[str, str | None, int, str, int, int, str | None, int, int, str | None,
                     str | None]) -> Item:
    name, command, length, leading, start, end, fmt, flags, st_flags, rw, hook = row
    entries = RW[rw] if rw is not None else ()
    return Item(name, command, length, leading, start, end, fmt, flags, st_flags,
                rw=tuple(v for v, _ in entries),
                preprocess=HOOKS[hook] if hook is not None else None,
                rw_hooks=tuple(RW_HOOKS[h] if h is not None else None for _, h in entries))


TABLE = tuple(_item(row) for row in ROWS)

VOLTRONIC = Dialect(VERSION, claim, TABLE, None, accepted="ACK", rejected="(NAK\r")
