"""Voltronic-QS: the Megatec status line behind an ``M`` protocol query.

``M`` answers ``V`` (published as ``ups.firmware.aux: PM-V``); ``QS`` is the
47-character Megatec status with the output frequency instead of the
input's; ``F`` gives output ratings.  Commands echo ``(NAK``-style replies
(characters 1..3) when refused, and the device has no "done" reply.
"""

from __future__ import annotations

from pnut.driver.qx import items as q
from pnut.driver.qx.blazer import command_rows, delay_rows, initups_light, status_rows
from pnut.driver.qx.engine import Dialect, QxEngine
from pnut.driver.qx.items import HookEngine, Item


def protocol(engine: HookEngine, item: Item, value: str) -> str | None:
    if item.value.lower() != "v":
        return None
    return (item.fmt or "%s") % item.value


async def claim(engine: QxEngine) -> bool:
    """M must be accepted (V here, P or T for Voltronic-QS-Hex, which shares this
    claim), then QS must give a valid input.voltage."""
    if not await engine.read_variable("ups.firmware.aux"):
        return False
    if not await engine.read_variable("input.voltage"):
        engine.dstate.del_info("ups.firmware.aux")
        return False
    return True


def _ratings() -> list[Item]:
    return [
        Item("output.voltage.nominal", "F\r", 22, "#", 1, 5, "%.0f", q.STATIC),
        Item("output.current.nominal", "F\r", 22, "#", 7, 9, "%.1f", q.STATIC),
        Item("battery.voltage.nominal", "F\r", 22, "#", 11, 15, "%.1f", q.STATIC),
        Item("output.frequency.nominal", "F\r", 22, "#", 17, 20, "%.0f", q.STATIC),
    ]


TABLE = (
    Item("ups.firmware.aux", "M\r", 2, "", 0, 0, "PM-%s", q.STATIC, preprocess=protocol),
    *status_rows("QS\r", frequency="output.frequency"),
    *_ratings(),
    *command_rows(answer=(1, 3), full=False),
    *delay_rows(ondelay=("60", "599940"), offdelay=("12", "540")),
)

VOLTRONIC_QS = Dialect("Voltronic-QS 0.07", claim, TABLE, initups_light)
