"""upsmon's notification events: names, stock messages, default flags.

NUT 2.8.0 raises exactly the eleven events of :class:`NotifyType`; later
2.8.x releases added more (OFF, BYPASS, NOTCAL, ...).  Their names are
listed in :data:`LATER_EVENTS` so that a upsmon.conf written for a newer
NUT still loads (with a warning) instead of being refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Flag, StrEnum, auto
from typing import Final


class NotifyType(StrEnum):
    ONLINE = "ONLINE"
    ONBATT = "ONBATT"
    LOWBATT = "LOWBATT"
    FSD = "FSD"
    COMMOK = "COMMOK"
    COMMBAD = "COMMBAD"
    SHUTDOWN = "SHUTDOWN"
    REPLBATT = "REPLBATT"
    NOCOMM = "NOCOMM"
    NOPARENT = "NOPARENT"
    CAL = "CAL"


class NotifyFlag(Flag):
    NONE = 0
    IGNORE = auto()
    SYSLOG = auto()
    WALL = auto()
    EXEC = auto()


#: Event names of NUT releases after 2.8.0: accepted in NOTIFYMSG and
#: NOTIFYFLAG, never raised.
LATER_EVENTS: Final = frozenset({
    "SHUTDOWN_HOSTSYNC", "NOTCAL", "OFF", "NOTOFF", "BYPASS", "NOTBYPASS",
    "ECO", "NOTECO", "ALARM", "NOTALARM", "OVER", "NOTOVER", "TRIM", "NOTTRIM",
    "BOOST", "NOTBOOST", "OTHER", "NOTOTHER", "SUSPEND_STARTING", "SUSPEND_FINISHED",
})

#: NUT 2.8.0's stock messages; ``%s`` is the UPS as written in MONITOR.
STOCK_MESSAGES: Final[dict[NotifyType, str]] = {
    NotifyType.ONLINE: "UPS %s on line power",
    NotifyType.ONBATT: "UPS %s on battery",
    NotifyType.LOWBATT: "UPS %s battery is low",
    NotifyType.FSD: "UPS %s: forced shutdown in progress",
    NotifyType.COMMOK: "Communications with UPS %s established",
    NotifyType.COMMBAD: "Communications with UPS %s lost",
    NotifyType.SHUTDOWN: "Auto logout and shutdown proceeding",
    NotifyType.REPLBATT: "UPS %s battery needs to be replaced",
    NotifyType.NOCOMM: "UPS %s is unavailable",
    NotifyType.NOPARENT: "upsmon parent process died - shutdown impossible",
    NotifyType.CAL: "UPS %s: calibration in progress",
}

_DEFAULT = NotifyFlag.SYSLOG | NotifyFlag.WALL
#: NUT 2.8.0 defaults: SYSLOG+WALL everywhere, except CAL (SYSLOG only).
DEFAULT_FLAGS: Final[dict[NotifyType, NotifyFlag]] = {
    t: (NotifyFlag.SYSLOG if t is NotifyType.CAL else _DEFAULT) for t in NotifyType
}

#: Longest message NUT builds (its SMALLBUF, less the terminator).
MAX_MESSAGE_LEN: Final = 511


def format_message(template: str, system: str) -> str:
    """printf-style ``%s`` substitution with one argument, as NUT does.

    The first ``%s`` becomes ``system``, ``%%`` becomes ``%``; any other
    ``%`` sequence (which in C would read garbage) is kept literally, and a
    second ``%s`` becomes the empty string.
    """
    out: list[str] = []
    args = [system]
    i = 0
    while i < len(template):
        ch = template[i]
        nxt = template[i + 1] if i + 1 < len(template) else ""
        if ch == "%" and nxt == "s":
            out.append(args.pop() if args else "")
            i += 2
        elif ch == "%" and nxt == "%":
            out.append("%")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)[:MAX_MESSAGE_LEN]


def parse_flags(text: str) -> tuple[NotifyFlag, list[str]]:
    """``SYSLOG+WALL`` -> flags, plus the words that are not flag names."""
    flags = NotifyFlag.NONE
    bad: list[str] = []
    for word in text.split("+"):
        if word in ("SYSLOG", "WALL", "EXEC", "IGNORE"):
            flags |= NotifyFlag[word]
        else:
            bad.append(word)
    return flags, bad


@dataclass(frozen=True, slots=True)
class Notification:
    """One event as delivered: type, UPS (None for SHUTDOWN/NOPARENT), text."""

    type: NotifyType
    system: str | None
    message: str
    flags: NotifyFlag
