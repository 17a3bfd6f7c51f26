"""Mecer: Megatec with ``(ACK``/``(NAK`` answers, and Voltronic Power P98 units.

``QPI`` answers ``(PI98`` on a Voltronic P98 unit (``ups.firmware.aux:
Voltronic Power P98``, battery tests from 12 s); other Mecer units refuse it
with ``(NAK`` and are taken as plain ACK/NAK units.  Everything else is the
Megatec table, except that commands are answered ``(ACK`` (done) or
``(NAK`` (refused).
"""

from __future__ import annotations

import logging

from pnut.driver.qx import items as q
from pnut.driver.qx.blazer import (
    claim_light,
    command_rows,
    delay_rows,
    initups,
    rating_rows,
    status_rows,
    vendor_rows,
)
from pnut.driver.qx.engine import Dialect, QxEngine
from pnut.driver.qx.items import HookEngine, Item, only
from pnut.protocol.cnum import atoi

log = logging.getLogger("pnut.driver")
P98 = "Voltronic Power P98"


def protocol(engine: HookEngine, item: Item, value: str) -> str | None:
    if item.value.lower() != "pi98":
        log.error("Protocol [%s] is not supported by this driver", item.value)
        return None
    return (item.fmt or "%s") % P98


def test_battery(engine: HookEngine, item: Item, value: str) -> str | None:
    """Tnn minutes, or .n (n x 6 s) on P98 units."""
    fw = engine.dstate.value("ups.firmware.aux")
    minimum = 12 if fw is not None and fw.lower() == P98.lower() else 60
    if not only(value, "0123456789"):
        log.error("%s: non numerical value [%s]", item.name, value)
        return None
    seconds = atoi(value) if value else 600
    if seconds < minimum or seconds > 5940:
        log.error("%s: battery test time '%d' out of range [%d..5940] seconds", item.name,
                  seconds, minimum)
        return None
    arg = f".{seconds // 6}" if seconds < 60 else f"{seconds // 60:02d}"
    return (item.command or "") % arg


async def claim(engine: QxEngine) -> bool:
    """Q1, then QPI must say PI98 or refuse with (NAK."""
    if not await claim_light(engine):
        return False
    item = engine.find("ups.firmware.aux")
    if item is None:
        engine.dstate.del_info("input.voltage")
        return False
    if not await engine.process(item):
        if not item.answer or item.answer.lower() != "(nak\r":
            engine.dstate.del_info("input.voltage")
            return False
        item.flags |= q.SKIP  # an ACK/NAK unit without a protocol query
        return True
    if engine.infoval_set(item) != 1:
        engine.dstate.del_info("input.voltage")
        return False
    return True


def _commands() -> list[Item]:
    rows = command_rows(answer=(1, 3))
    for row in rows:
        row.answer_len, row.leading = 5, "("
        if row.name == "test.battery.start":
            row.command, row.preprocess = "T%s\r", test_battery
    return rows


TABLE = (
    Item("ups.firmware.aux", "QPI\r", 6, "(", 1, 4, "%s", q.STATIC, preprocess=protocol),
    *status_rows("Q1\r"),
    *rating_rows(),
    *vendor_rows("I\r"),
    *_commands(),
    *delay_rows(),
)

MECER = Dialect("Mecer 0.07", claim, TABLE, initups, accepted="ACK", rejected="(NAK\r")
