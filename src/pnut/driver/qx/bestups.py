"""Bestups: Best Power (Fortress, Patriot Pro, Axxium) and Sola Australia units.

The Megatec status line (``Q1``) without the beeper bit, plus ``ID`` (model
code, VA, input and output volts, battery low and full voltage, e.g.
``FOR,750,120,120,20.0,27.6``; the answer is first padded so every field
sits at a fixed place), ``RT`` (runtime in minutes), ``BP?``/``BPn``
(battery packs, Axxium and Sola 620 only), ``SS?``/``SSn`` (the DB9
shutdown pin mode, a ups.conf setting) and ``M`` (the voltage-settings
index into a table of transfer points).  The bypass/boost/buck bit is
ignored on battery, during tests and shutdowns, and inverted on Patriot Pro
units.  Values and rules as NUT 2.8.0's bestups subdriver.
"""

from __future__ import annotations

import logging

from pnut.driver.qx import items as q
from pnut.driver.qx.blazer import (
    claim_light,
    initups_light,
    process_command,
    process_setvar,
    process_status_bits,
)
from pnut.driver.qx.engine import DEFAULT_OFFDELAY, DEFAULT_ONDELAY, Dialect, QxEngine
from pnut.driver.qx.items import HookEngine, Item, only
from pnut.protocol.cnum import atoi, strtod

log = logging.getLogger("pnut.driver")

_BEST = {"AX1": "Axxium Rackmount", "FOR": "Fortress", "FTC": "Fortress Telecom",
         "PR2": "Patriot Pro II", "PRO": "Patriot Pro"}
_SOLA_MFR = ("325", "520", "620")
_SOLA_MODELS = ("320", "325", "520", "525", "620")
#: M index -> (low, boost, nominal, buck, high); U models 0-9, E models 10-19.
_VOLTAGES = (
    (96, 109, 120, 130, 146), (96, 109, 120, 138, 156), (90, 104, 120, 130, 146),
    (90, 104, 120, 138, 156), (90, 104, 110, 120, 130), (90, 104, 110, 130, 146),
    (90, 96, 110, 120, 130), (90, 96, 110, 130, 146), (96, 109, 128, 146, 156),
    (90, 104, 128, 146, 156),
    (200, 222, 240, 250, 284), (200, 222, 240, 264, 290), (188, 210, 240, 250, 284),
    (188, 210, 240, 264, 290), (188, 210, 230, 244, 270), (188, 210, 230, 250, 284),
    (180, 200, 230, 244, 270), (180, 200, 230, 250, 284), (165, 188, 208, 222, 244),
    (165, 188, 208, 244, 270),
)
_VOLTAGE_FIELD = {
    "input.transfer.low": 0, "input.transfer.boost.low": 0, "input.transfer.boost.high": 1,
    "input.voltage.nominal": 2, "output.voltage.nominal": 2, "input.transfer.trim.low": 3,
    "input.transfer.trim.high": 4, "input.transfer.high": 4,
}


class _State:
    """Per-driver facts the hooks learn (NUT keeps them in static variables)."""

    def __init__(self) -> None:
        self.inverted_bbb = False
        self.pins_shutdown_mode = -1


def _state(engine: HookEngine) -> _State:
    state = engine.scratch.get("bestups")
    if not isinstance(state, _State):
        state = _State()
        engine.scratch["bestups"] = state
    return state


def refine_id(engine: HookEngine, item: Item, raw: bytes) -> str | None:
    """Pad the ID answer so that its fields start at fixed places (28 characters)."""
    if not raw:
        return ""
    if not 25 <= len(raw) <= 27:
        return None
    text = raw.split(b"\0", 1)[0].decode("latin-1")
    tokens = [t for t in text.split(",") if t]
    out = ""
    for i, token in enumerate(tokens, start=1):
        if i == 1:
            out = token
        elif i == 2:
            out += f",{token:>4}"
        elif i == 6:
            out += f",{token:>6}"
        else:
            out += f",{token}"
    if len(tokens) != 6 or len(out) != 28:
        return None
    return out


def manufacturer(engine: HookEngine, item: Item, value: str) -> str:
    if item.value in _BEST:
        name = "Best Power"
    elif item.value in _SOLA_MFR:
        name = "Sola Australia"
    else:
        name = "Unknown"
    return (item.fmt or "%s") % name


def model(engine: HookEngine, item: Item, value: str) -> str | None:
    code = item.value
    if code in _BEST:
        text = (item.fmt or "%s") % _BEST[code]
        if code in ("PR2", "PRO"):
            _state(engine).inverted_bbb = True
    elif code in _SOLA_MODELS:
        text = f"Sola {code}"
    else:
        # NUT 2.8.0 prints the literal "Unknown (%s)" here (format mix-up).
        text = (item.fmt or "%s") % f"Unknown ({code})"
        log.info("Unknown model detected - please report this ID: '%s'", code)
    if code not in ("PRO", "320"):
        row = engine.find("battery.runtime")
        if row is None:
            return None
        row.flags &= ~q.SKIP
    if code in ("AX1", "620"):
        row = engine.find("battery.packs", 0, q.SETVAR)
        if row is None:
            return None
        row.flags &= ~q.SKIP
    return text


def runtime(engine: HookEngine, item: Item, value: str) -> str | None:
    if not only(item.value, "0123456789 ."):
        return None
    return (item.fmt or "%s") % (strtod(item.value) * 60)


def packs(engine: HookEngine, item: Item, value: str) -> str | None:
    if not only(item.value, "0123456789 "):
        return None
    row = engine.find("battery.packs", q.SETVAR)
    if row is None:
        return None
    row.flags &= ~q.SKIP
    return (item.fmt or "%s") % atoi(item.value)


def pins_mode(engine: HookEngine, item: Item, value: str) -> str | None:
    if not only(item.value, "0123456789"):
        return None
    _state(engine).pins_shutdown_mode = atoi(item.value)
    text = f"{_state(engine).pins_shutdown_mode}"
    if item.flags & q.NONUT and engine.getval(item.name) is None:
        return text
    row = engine.find(item.name, q.SETVAR)
    if row is None:
        return None
    row.flags &= ~q.SKIP
    return text


def process_set(engine: HookEngine, item: Item, value: str) -> str | None:
    if not value:
        return None
    number = strtod(value)
    if item.name == "pins_shutdown_mode" and number == _state(engine).pins_shutdown_mode:
        log.info("%s is already set to %.0f", item.name, number)
        return None
    return (item.command or "") % number


def voltage_settings(engine: HookEngine, item: Item, value: str) -> str | None:
    if not only(item.value, "0123456789"):
        return None
    index = atoi(item.value)
    if not 0 <= index <= 9:
        return None
    nominal = engine.dstate.value("input.voltage.nominal")
    if nominal is None:
        nominal = engine.dstate.value("output.voltage.nominal")
    if nominal is None:
        return None
    if atoi(nominal) > 160:
        index += 10
    field = _VOLTAGE_FIELD.get(item.name.lower())
    if field is None:
        return None
    return (item.fmt or "%s") % _VOLTAGES[index][field]


def bbb_bit(engine: HookEngine, item: Item, value: str) -> str | None:
    """The bypass/boost/buck bit, trusted only on line and outside tests and shutdowns."""
    status = engine.status
    if "OL" not in status or "CAL" in status or "FSD" in status:
        if item.value[:1] == "1":
            item.value = "0" + item.value[1:]
    elif _state(engine).inverted_bbb and item.value[:1] in ("0", "1"):
        item.value = ("1" if item.value[0] == "0" else "0") + item.value[1:]
    return process_status_bits(engine, item, value)


async def claim(engine: QxEngine) -> bool:
    """Q1, then ID must name a model."""
    if not await claim_light(engine):
        return False
    if not await engine.read_variable("device.model"):
        engine.dstate.del_info("input.voltage")
        return False
    return True


def _q1(name: str, start: int, end: int, fmt: str | None, flags: int = 0,
        hook: q.Hook | None = None) -> Item:
    return Item(name, "Q1\r", 47, "(", start, end, fmt, flags, preprocess=hook)


def _id(name: str, start: int, end: int, fmt: str, flags: int,
        hook: q.Hook | None = None) -> Item:
    return Item(name, "ID\r", 28, "", start, end, fmt, flags, preprocess=hook,
                preprocess_answer=refine_id)


_STATUS = q.QUICK_POLL
TABLE = (
    _q1("input.voltage", 1, 5, "%.1f"), _q1("input.voltage.fault", 7, 11, "%.1f"),
    _q1("output.voltage", 13, 17, "%.1f"), _q1("ups.load", 19, 21, "%.0f"),
    _q1("input.frequency", 23, 26, "%.1f"), _q1("battery.voltage", 28, 31, "%.2f"),
    _q1("ups.temperature", 33, 36, "%.1f"),
    _q1("ups.status", 38, 38, None, _STATUS, process_status_bits),
    _q1("ups.status", 39, 39, None, _STATUS, process_status_bits),
    _q1("ups.alarm", 41, 41, None, 0, process_status_bits),
    _q1("ups.type", 42, 42, "%s", q.STATIC, process_status_bits),
    _q1("ups.status", 43, 43, None, _STATUS, process_status_bits),
    _q1("ups.status", 44, 44, None, _STATUS, process_status_bits),
    _q1("ups.status", 40, 40, None, _STATUS, bbb_bit),
    _id("device.mfr", 0, 2, "%s", q.STATIC, manufacturer),
    _id("device.model", 0, 2, "%s", q.STATIC, model),
    _id("ups.power.nominal", 4, 7, "%.0f", q.STATIC),
    _id("input.voltage.nominal", 9, 11, "%.0f", q.STATIC),
    _id("output.voltage.nominal", 13, 15, "%.0f", q.STATIC),
    _id("battery.voltage.low", 17, 20, "%.1f", q.SEMI_STATIC),
    _id("battery.voltage.high", 22, 26, "%.1f", q.SEMI_STATIC),
    Item("battery.runtime", "RT\r", 4, "", 0, 2, "%.0f", q.SKIP, preprocess=runtime),
    Item("battery.packs", "BP?\r", 3, "", 0, 1, "%d", q.SEMI_STATIC | q.RANGE | q.SKIP,
         q.ST_RW, ("0", "5"), preprocess=packs),
    Item("battery.packs", "BP%.0f\r", 0, "", 0, 0, None, q.SETVAR | q.RANGE | q.SKIP, 0,
         ("0", "5"), preprocess=process_set),
    Item("pins_shutdown_mode", "SS?\r", 2, "", 0, 0, "%.0f",
         q.SEMI_STATIC | q.RANGE | q.NONUT, q.ST_RW, ("0", "6"), preprocess=pins_mode),
    Item("pins_shutdown_mode", "SS%.0f\r", 0, "", 0, 0, None,
         q.SETVAR | q.RANGE | q.NONUT | q.SKIP, 0, ("0", "6"), preprocess=process_set),
    *(Item(name, "M\r", 2, "", 0, 0, "%d", 0, preprocess=voltage_settings)
      for name in ("input.transfer.low", "input.transfer.boost.low",
                   "input.transfer.boost.high", "input.voltage.nominal",
                   "output.voltage.nominal", "input.transfer.trim.low",
                   "input.transfer.trim.high", "input.transfer.high")),
    *(Item(name, cmd, 0, "", 0, 0, None, q.CMD, preprocess=hook) for name, cmd, hook in (
        ("shutdown.return", "S%s\r", process_command),
        ("shutdown.stayoff", "S%s\r", process_command),
        ("shutdown.stop", "C\r", None), ("load.on", "C\r", None),
        ("load.off", "S00R0000\r", None),
        ("test.battery.start", "T%02d\r", process_command),
        ("test.battery.start.deep", "TL\r", None), ("test.battery.start.quick", "T\r", None),
        ("test.battery.stop", "CT\r", None))),
    Item("ups.delay.start", None, 0, "", 0, 0, DEFAULT_ONDELAY, q.ABSENT | q.SETVAR | q.RANGE,
         q.ST_RW, ("60", "599940"), preprocess=process_setvar),
    Item("ups.delay.shutdown", None, 0, "", 0, 0, DEFAULT_OFFDELAY,
         q.ABSENT | q.SETVAR | q.RANGE, q.ST_RW, ("12", "5940"), preprocess=process_setvar),
)

BESTUPS = Dialect("BestUPS 0.06", claim, TABLE, initups_light)
