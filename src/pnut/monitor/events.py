"""upsmon's notifications as delivered: the message text and the event.

The vocabulary (event names, flags, stock messages, defaults) is upsmon.conf's
and lives in :mod:`pnut.config.notify`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from pnut.config.notify import NotifyFlag, NotifyType

__all__ = ["MAX_MESSAGE_LEN", "Notification", "NotifyFlag", "NotifyType", "format_message"]

#: Longest message NUT builds (its SMALLBUF, less the terminator).
MAX_MESSAGE_LEN: Final = 511


#: What printf reads as one conversion of NUT's single string argument: ``%%``,
#: or ``%s`` with flags, a width and a precision (``%-20s``, ``%.8s``, ``% s``).
_CONVERSION: Final = re.compile(r"%(?:%|([-+ #0']*)([0-9]*)(?:\.([0-9]*))?s)")


def format_message(template: str, system: str) -> str:
    """The message NUT 2.8.0 builds: ``snprintf(msg, template, system)``.

    The first string conversion gets ``system``, formatted as glibc's printf
    formats it (``-`` pads on the right, a width pads to that many
    characters, a precision cuts; the other flags change nothing for a
    string): so ``100% sure`` reads ``% s`` and becomes ``100<system>ure``, as
    in NUT.  ``%%`` is ``%``.  A second string conversion (C would read
    garbage) becomes the empty string; any other ``%`` sequence is kept as
    written.
    """
    args = [system]

    def convert(m: re.Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        value = args.pop() if args else ""
        flags, width, precision = m.group(1), m.group(2), m.group(3)
        if precision is not None:
            value = value[:int(precision or 0)]
        # Bounded: beyond a message's length of padding the window is all spaces.
        pad = min(int(width or 0), len(value) + 2 * MAX_MESSAGE_LEN)
        return value.ljust(pad) if "-" in flags else value.rjust(pad)

    return _CONVERSION.sub(convert, template)[:MAX_MESSAGE_LEN]


@dataclass(frozen=True, slots=True)
class Notification:
    """One event as delivered: type, UPS (None for SHUTDOWN/NOPARENT), text."""

    type: NotifyType
    system: str | None
    message: str
    flags: NotifyFlag
