"""upsmon's notifications as delivered: the message text and the event.

The vocabulary (event names, flags, stock messages, defaults) is upsmon.conf's
and lives in :mod:`pnut.config.notify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pnut.config.notify import NotifyFlag, NotifyType

__all__ = ["MAX_MESSAGE_LEN", "Notification", "NotifyFlag", "NotifyType", "format_message"]

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


@dataclass(frozen=True, slots=True)
class Notification:
    """One event as delivered: type, UPS (None for SHUTDOWN/NOPARENT), text."""

    type: NotifyType
    system: str | None
    message: str
    flags: NotifyFlag
