"""The Megatec family: Megatec (Q1), Megatec/old (D), Mustek (QS), Zinto, Hunnox, Q1.

How this works
--------------
All six dialects share one status reply (NUT's blazer-common)::

    > Q1\\r   (D\\r for Megatec/old, QS\\r for Mustek)
    < (226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\\r
       input  fault  output load freq batt temp status bits

status bits, left to right: utility fail, battery low, bypass/boost/buck,
UPS failed, line-interactive, test in progress, shutdown active, beeper on.
``F`` gives the ratings, ``I`` (``FW?`` for Zinto and Hunnox) the vendor
line.  They differ only in those commands, in how a device is recognised
(status alone, or status and vendor), in the "done" reply to commands and
(Hunnox) in default delays and which rows are read at every poll.  So the
tables are built by one function from those differences.

Commands: ``Q`` toggles the beeper, ``SnRm`` shuts down after n minutes
(``.2``..``.9`` for 12..54 s) and returns after m minutes, ``C`` cancels,
``T``/``TL``/``Tnn`` test the battery, ``CT`` stops the test.
"""

from __future__ import annotations

import logging

from pnut.driver.qx import items as q
from pnut.driver.qx.engine import DEFAULT_OFFDELAY, DEFAULT_ONDELAY, Dialect, QxEngine
from pnut.driver.qx.items import HookEngine, Item
from pnut.protocol.cnum import atoi, strtod

log = logging.getLogger("pnut.driver")

ONDELAY_RANGE = ("0", "599940")
OFFDELAY_RANGE = ("12", "600")


# -- claims ------------------------------------------------------------------------
async def claim_light(engine: QxEngine) -> bool:
    """Recognised when the status query gives a valid input.voltage."""
    return await engine.read_variable("input.voltage")


async def claim(engine: QxEngine) -> bool:
    """Status, then the vendor line (unless ``novendor``)."""
    if not await claim_light(engine):
        return False
    if engine.testvar("novendor"):
        return True
    if not await engine.read_variable("ups.firmware"):
        engine.dstate.del_info("input.voltage")
        return False
    return True


def initups(engine: QxEngine) -> None:
    """``norating``, ``novendor`` and ``ignoresab`` turn rows off."""
    nr, nv, isb = (engine.testvar(k) for k in ("norating", "novendor", "ignoresab"))
    for item in engine.table:
        if not item.command:
            continue
        cmd = item.command.lower()
        if (nr and cmd == "f\r") or (nv and cmd in ("i\r", "fw?\r")) or (
                isb and item.name == "ups.status" and item.start == 44 and item.end == 44):
            item.flags |= q.SKIP


def initups_light(engine: QxEngine) -> None:
    if not engine.testvar("ignoresab"):
        return
    for item in engine.table:
        if item.name == "ups.status" and item.start == 44 and item.end == 44:
            item.flags |= q.SKIP
            return


# -- value hooks ----------------------------------------------------------------------
def process_setvar(engine: HookEngine, item: Item, value: str) -> str | None:
    """ups.delay.start to whole minutes, ups.delay.shutdown to 6 s / 1 min steps."""
    if not value:
        return None
    delay = atoi(value)
    if delay < 0:
        log.error("%s: delay '%d' should not be negative", item.name, delay)
        return None
    if item.name == "ups.delay.start":
        return str(delay - delay % 60)
    if item.name == "ups.delay.shutdown":
        return str(delay - delay % (6 if delay < 60 else 60))
    return None


def _offdelay_text(offdelay: int) -> str:
    return f".{offdelay // 6}" if offdelay < 60 else f"{offdelay // 60:02d}"


def process_command(engine: HookEngine, item: Item, value: str) -> str | None:
    """Fill the delays into S..R.... and the minutes into Tnn."""
    ds, cmd = engine.dstate, item.command or ""
    if item.name == "shutdown.return":
        offdelay = atoi(ds.value("ups.delay.shutdown") or "")
        ondelay = atoi(ds.value("ups.delay.start") or "") // 60
        if offdelay < 0:
            return None
        if ondelay <= 0:
            arg = _offdelay_text(offdelay)
        elif offdelay < 60:
            arg = f".{offdelay // 6}R{ondelay:04d}"
        else:
            arg = f"{offdelay // 60:02d}R{ondelay:04d}"
        return cmd % arg
    if item.name == "shutdown.stayoff":
        offdelay = atoi(ds.value("ups.delay.shutdown") or "")
        if offdelay < 0:
            return None
        return cmd % _offdelay_text(offdelay)
    if item.name == "test.battery.start":
        delay = atoi(value) if value else 600
        if delay < 60 or delay > 5940:
            log.error("%s: battery test time '%d' out of range [60..5940] seconds",
                      item.name, delay)
            return None
        return cmd % (delay // 60)
    return None


#: Status bit position -> (word when '1', word when '0').
_BITS: dict[int, tuple[str, str]] = {
    38: ("!OL", "OL"),
    39: ("LB", "!LB"),
    41: ("UPS selftest failed!", ""),
    42: ("offline / line interactive", "online"),
    43: ("CAL", "!CAL"),
    44: ("FSD", "!FSD"),
    45: ("enabled", "disabled"),
}


def process_status_bits(engine: HookEngine, item: Item, value: str) -> str | None:
    """One status bit to a status word, alarm, ups.type or beeper status."""
    if len(item.value) != 1 or item.value not in "01":
        return None
    on = item.value == "1"
    if item.start == 40:
        if not on:
            return ""
        vi = strtod(engine.dstate.value("input.voltage") or "")
        vo = strtod(engine.dstate.value("output.voltage") or "")
        if vo < 0.5 * vi:
            return None
        if vo < 0.95 * vi:
            return "TRIM"
        if vo < 1.05 * vi:
            return "BYPASS"
        if vo < 1.5 * vi:
            return "BOOST"
        return None
    words = _BITS.get(item.start)
    if words is None:
        return None
    return words[0] if on else words[1]


# -- tables ---------------------------------------------------------------------------
def status_rows(cmd: str, quick_values: bool = False, frequency: str = "input.frequency"
                ) -> list[Item]:
    """The 47-character status reply (Q1/D/QS)."""
    vflags = q.QUICK_POLL if quick_values else 0
    rows = [
        Item("input.voltage", cmd, 47, "(", 1, 5, "%.1f", vflags),
        Item("input.voltage.fault", cmd, 47, "(", 7, 11, "%.1f", vflags),
        Item("output.voltage", cmd, 47, "(", 13, 17, "%.1f", vflags),
        Item("ups.load", cmd, 47, "(", 19, 21, "%.0f", vflags),
        Item(frequency, cmd, 47, "(", 23, 26, "%.1f", vflags),
        Item("battery.voltage", cmd, 47, "(", 28, 31, "%.2f", vflags),
        Item("ups.temperature", cmd, 47, "(", 33, 36, "%.1f", vflags),
    ]
    bits = [("ups.status", 38, None, q.QUICK_POLL), ("ups.status", 39, None, q.QUICK_POLL),
            ("ups.status", 40, None, q.QUICK_POLL), ("ups.alarm", 41, None, 0),
            ("ups.type", 42, "%s", q.STATIC), ("ups.status", 43, None, q.QUICK_POLL),
            ("ups.status", 44, None, q.QUICK_POLL), ("ups.beeper.status", 45, "%s", 0)]
    rows += [Item(name, cmd, 47, "(", pos, pos, fmt, flags, preprocess=process_status_bits)
             for name, pos, fmt, flags in bits]
    return rows


def rating_rows(prefix: str = "input") -> list[Item]:
    """``F``: #220.0 000 024.0 50.0"""
    return [
        Item(f"{prefix}.voltage.nominal", "F\r", 22, "#", 1, 5, "%.0f", q.STATIC),
        Item(f"{prefix}.current.nominal", "F\r", 22, "#", 7, 9, "%.1f", q.STATIC),
        Item("battery.voltage.nominal", "F\r", 22, "#", 11, 15, "%.1f", q.STATIC),
        Item(f"{prefix}.frequency.nominal", "F\r", 22, "#", 17, 20, "%.0f", q.STATIC),
    ]


def vendor_rows(cmd: str) -> list[Item]:
    """``I`` / ``FW?``: #manufacturer(15) model(10) firmware(10)"""
    flags = q.STATIC | q.TRIM
    return [
        Item("device.mfr", cmd, 39, "#", 1, 15, "%s", flags),
        Item("device.model", cmd, 39, "#", 17, 26, "%s", flags),
        Item("ups.firmware", cmd, 39, "#", 28, 37, "%s", flags),
    ]


def command_rows(answer: tuple[int, int] = (0, 0), full: bool = True) -> list[Item]:
    start, end = answer
    rows = [
        ("beeper.toggle", "Q\r", None), ("load.off", "S00R0000\r", None),
        ("load.on", "C\r", None), ("shutdown.return", "S%s\r", process_command),
        ("shutdown.stayoff", "S%sR0000\r", process_command), ("shutdown.stop", "C\r", None),
    ]
    if full:
        rows += [("test.battery.start", "T%02d\r", process_command),
                 ("test.battery.start.deep", "TL\r", None)]
    rows += [("test.battery.start.quick", "T\r", None)]
    if full:
        rows += [("test.battery.stop", "CT\r", None)]
    return [Item(name, cmd, 0, "", start, end, None, q.CMD, preprocess=hook)
            for name, cmd, hook in rows]


def delay_rows(ondelay: tuple[str, str] = ONDELAY_RANGE,
               offdelay: tuple[str, str] = OFFDELAY_RANGE,
               defaults: tuple[str, str] = (DEFAULT_ONDELAY, DEFAULT_OFFDELAY)) -> list[Item]:
    flags = q.ABSENT | q.SETVAR | q.RANGE
    return [
        Item("ups.delay.start", None, 0, "", 0, 0, defaults[0], flags, q.ST_RW, ondelay,
             preprocess=process_setvar),
        Item("ups.delay.shutdown", None, 0, "", 0, 0, defaults[1], flags, q.ST_RW, offdelay,
             preprocess=process_setvar),
    ]


def _family(status_cmd: str, vendor_cmd: str | None, *, quick_values: bool = False,
            defaults: tuple[str, str] = (DEFAULT_ONDELAY, DEFAULT_OFFDELAY)
            ) -> tuple[Item, ...]:
    rows = status_rows(status_cmd, quick_values)
    if vendor_cmd is not None:
        rows += rating_rows() + vendor_rows(vendor_cmd)
    return tuple(rows + command_rows() + delay_rows(defaults=defaults))


MEGATEC = Dialect("Megatec 0.06", claim, _family("Q1\r", "I\r"), initups, accepted="ACK")
MEGATEC_OLD = Dialect("Megatec/old 0.07", claim_light, _family("D\r", "I\r"), initups,
                      accepted="ACK")
MUSTEK = Dialect("Mustek 0.07", claim_light, _family("QS\r", "I\r"), initups, accepted="ACK")
ZINTO = Dialect("Zinto 0.06", claim, _family("Q1\r", "FW?\r"), initups, accepted="ACK")
HUNNOX = Dialect("Hunnox 0.01", claim,
                 _family("Q1\r", "FW?\r", quick_values=True, defaults=("0", "60")),
                 initups, accepted="UPS No Ack")
Q1 = Dialect("Q1 0.07", claim_light, _family("Q1\r", None), initups_light, accepted="ACK")
