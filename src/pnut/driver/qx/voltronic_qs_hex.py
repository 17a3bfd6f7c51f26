"""Voltronic-QS-Hex: the QS status as raw bytes, turned back into text first.

``M`` answers ``P`` or ``T`` (``ups.firmware.aux: PM-P``/``PM-T``).  ``QS``
answers ``#`` and space-separated binary tokens; bytes that would disturb
the line (CR, XON, XOFF, LF, space) come escaped as ``0x28`` plus 0..4.
The answer hook rewrites the reply as hex text (the status and ratings
bytes as eight binary digits), e.g. ``#6C01 35 6C01 35 03 519A 1312D0 E6 1E
00001001``, and the rows read that like any other dialect: voltages are
``a * b / 51 / 256`` of the two hex numbers of their field, the frequency
``b / a``, the battery ``a * b / 510``.  ``T`` units add a ratings byte
(nominal frequency, battery and output voltage) and the quick battery test.
"""

from __future__ import annotations

import logging

from pnut.driver.qx import items as q
from pnut.driver.qx.blazer import (
    command_rows,
    delay_rows,
    initups_light,
    process_status_bits,
)
from pnut.driver.qx.engine import Dialect
from pnut.driver.qx.items import HookEngine, Item, only
from pnut.driver.qx.voltronic_qs import claim  # NUT's claim is the same: M, then QS

log = logging.getLogger("pnut.driver")
HEX = "0123456789ABCDEFabcdef"
#: Escape code after 0x28 -> the byte it stands for.
ESCAPES = {0x00: 0x0D, 0x01: 0x11, 0x02: 0x13, 0x03: 0x0A, 0x04: 0x20}
#: Rows only 'T' units have.
T_ONLY = ("test.battery.start.quick", "output.frequency.nominal", "battery.voltage.nominal",
          "output.voltage.nominal")


def _binary(byte: int) -> str:
    return f"{byte:08b}"


def refine(engine: HookEngine, item: Item, raw: bytes) -> str | None:
    """NUT's voltronic_qs_hex_preprocess_qs_answer: raw bytes to hex text."""
    if not raw:
        return ""
    if raw[0] != 0x23:  # '#'
        return None
    out, token, i = ["#"], 1, 1
    while i < len(raw):
        byte = raw[i]
        if byte == 0x20:
            out.append(" ")
            token += 1
            i += 1
            continue
        wide = token in (10, 11)
        if byte == 0x28:
            code = raw[i + 1] if i + 1 < len(raw) else 0
            if code in ESCAPES:
                out.append(f"{ESCAPES[code]:02x}")
                i += 2
                continue
            out.append(_binary(byte) if wide else f"{byte:02x}")
            i += 1
            continue
        if byte == 0x0D:
            break
        out.append(_binary(byte) if wide else f"{byte:02x}")
        i += 1
    text = "".join(out)
    if token not in (10, 11) or len(text) != (46 if token == 10 else 55):
        log.debug("noncompliant reply: %s", text)
        return None
    return text + "\r"


def protocol(engine: HookEngine, item: Item, value: str) -> str | None:
    if item.value.lower() not in ("p", "t"):
        return None
    if item.value.lower() == "t":
        for name in T_ONLY:
            row = engine.find(name, q.CMD if name.startswith("test.") else 0)
            if row is None:
                return None
            row.flags &= ~q.SKIP
    return (item.fmt or "%s") % item.value


def _two(value: str) -> tuple[int, int] | None:
    if not only(value, HEX + " "):
        return None
    parts = value.split()
    try:
        first = int(parts[0], 16) if parts else 0
        second = int(parts[1], 16) if len(parts) > 1 else 0
    except ValueError:
        return None
    return first, second


def voltage(engine: HookEngine, item: Item, value: str) -> str | None:
    pair = _two(item.value)
    if pair is None:
        return None
    return (item.fmt or "%s") % ((pair[0] * pair[1] // 51) / 256.0)


def load(engine: HookEngine, item: Item, value: str) -> str | None:
    if not only(item.value, HEX):
        return None
    return (item.fmt or "%s") % (int(item.value, 16) if item.value else 0)


def frequency(engine: HookEngine, item: Item, value: str) -> str | None:
    pair = _two(item.value)
    if pair is None:
        return None
    ratio = pair[1] / pair[0] if pair[0] else (float("inf") if pair[1] else float("nan"))
    return (item.fmt or "%s") % (99.9 if ratio > 99.9 else ratio)


def battery(engine: HookEngine, item: Item, value: str) -> str | None:
    pair = _two(item.value)
    if pair is None:
        return None
    return (item.fmt or "%s") % (pair[0] * pair[1] / 510.0)


_RATINGS = {
    47: {0: 50.0, 1: 60.0},
    48: {0: 12.0, 1: 24.0, 10: 36.0, 11: 48.0},
    52: {0: 110.0, 1: 120.0, 10: 220.0, 11: 230.0, 100: 240.0},
}


def ratings(engine: HookEngine, item: Item, value: str) -> str | None:
    if not only(item.value, "01"):
        return None
    table = _RATINGS.get(item.start)
    if table is None:
        return None
    number = int(item.value) if item.value else 0
    if item.start == 48:
        found = table.get(number, 48.0)
    elif item.start == 47:
        found = table[0] if number == 0 else table[1]
    else:
        if number not in table:
            return None
        found = table[number]
    return (item.fmt or "%s") % found


def _qs(name: str, start: int, end: int, fmt: str | None, flags: int = 0,
        hook: q.Hook | None = None, answer_len: int = 47) -> Item:
    return Item(name, "QS\r", answer_len, "#", start, end, fmt, flags, preprocess=hook,
                preprocess_answer=refine)


def _commands() -> list[Item]:
    rows = command_rows(full=False)
    for row in rows:
        if row.name == "test.battery.start.quick":
            row.flags |= q.SKIP
    return rows


_BITS = [("ups.status", 38, None, q.QUICK_POLL), ("ups.status", 39, None, q.QUICK_POLL),
         ("ups.status", 40, None, q.QUICK_POLL), ("ups.alarm", 41, None, 0),
         ("ups.type", 42, "%s", q.STATIC), ("ups.status", 43, None, q.QUICK_POLL),
         ("ups.status", 44, None, q.QUICK_POLL), ("ups.beeper.status", 45, "%s", 0)]

TABLE = (
    Item("ups.firmware.aux", "M\r", 2, "", 0, 0, "PM-%s", q.STATIC, preprocess=protocol),
    _qs("input.voltage", 1, 7, "%.1f", hook=voltage),
    _qs("output.voltage", 9, 15, "%.1f", hook=voltage),
    _qs("ups.load", 17, 18, "%d", hook=load),
    _qs("output.frequency", 20, 30, "%.1f", hook=frequency),
    _qs("battery.voltage", 32, 36, "%.2f", hook=battery),
    *(_qs(name, pos, pos, fmt, flags, process_status_bits) for name, pos, fmt, flags in _BITS),
    _qs("output.frequency.nominal", 47, 47, "%.1f", q.SKIP, ratings, 56),
    _qs("battery.voltage.nominal", 48, 49, "%.1f", q.SKIP, ratings, 56),
    _qs("output.voltage.nominal", 52, 54, "%.1f", q.SKIP, ratings, 56),
    *_commands(),
    *delay_rows(ondelay=("60", "599940"), offdelay=("12", "540")),
)

VOLTRONIC_QS_HEX = Dialect("Voltronic-QS-Hex 0.10", claim, TABLE, initups_light,
                           rejected="N\r")
