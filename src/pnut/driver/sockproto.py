"""What upsd (or any local tool) may say to a driver on its socket — sans IO.

One frozen dataclass per request; :func:`parse_command` turns the words of
one line into one of them, or ``None`` when the line is not a request this
driver understands (the caller logs it and carries on, as NUT does).

Argument counts follow NUT's driver side (drivers/dstate.c):

* ``INSTCMD cmd`` / ``INSTCMD cmd param`` / ``INSTCMD cmd TRACKING id`` /
  ``INSTCMD cmd param TRACKING id`` — any other count is malformed.
* ``SET var value`` / ``SET var value TRACKING id`` — NUT 2.8.0 also runs a
  four-word ``SET`` as if the fourth word were absent; pnut refuses it
  (docs/compat.md).

``NOBROADCAST``, ``BROADCAST``, ``DUMPVALUE``, ``DUMPSTATUS``, ``GETPID`` and
``LOGOUT`` come from later NUT releases (2.8.1 / 2.8.3); pnut's drivers
answer them too, and NUT 2.8.0's upsd never sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Stat(IntEnum):
    """Results of an instant command or a SET (drivers/upshandler.h)."""

    HANDLED = 0
    UNKNOWN = 1
    INVALID = 2
    FAILED = 3


@dataclass(frozen=True, slots=True)
class DumpAll:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class InstCmd:
    name: str
    param: str | None = None
    tracking: str | None = None


@dataclass(frozen=True, slots=True)
class SetVar:
    name: str
    value: str
    tracking: str | None = None


@dataclass(frozen=True, slots=True)
class NoBroadcast:
    pass


@dataclass(frozen=True, slots=True)
class Broadcast:
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class DumpValue:
    name: str


@dataclass(frozen=True, slots=True)
class GetPid:
    pass


@dataclass(frozen=True, slots=True)
class Logout:
    pass


SockCommand = (
    DumpAll | Ping | InstCmd | SetVar | NoBroadcast | Broadcast | DumpValue | GetPid | Logout
)


def _instcmd(args: list[str]) -> InstCmd | None:
    n = len(args)
    if n == 1:
        return InstCmd(args[0])
    if n == 2:
        return InstCmd(args[0], args[1])
    if n == 3 and args[1].upper() == "TRACKING":
        return InstCmd(args[0], None, args[2])
    if n == 4 and args[2].upper() == "TRACKING":
        return InstCmd(args[0], args[1], args[3])
    return None


def _set(args: list[str]) -> SetVar | None:
    if len(args) == 2:
        return SetVar(args[0], args[1])
    if len(args) == 4 and args[2].upper() == "TRACKING":
        return SetVar(args[0], args[1], args[3])
    return None


def _broadcast(args: list[str]) -> Broadcast:
    if not args:
        return Broadcast(True)
    try:
        return Broadcast(int(args[0]) >= 1)
    except ValueError:
        return Broadcast(True)


def parse_command(words: list[str] | tuple[str, ...]) -> SockCommand | None:
    """The request one socket line carries, or None if it is not one."""
    if not words:
        return None
    verb = words[0].upper()
    args = list(words[1:])
    if verb == "DUMPALL":
        return DumpAll()
    if verb == "PING":
        return Ping()
    if verb == "INSTCMD":
        return _instcmd(args)
    if verb == "SET":
        return _set(args)
    if verb == "NOBROADCAST":
        return NoBroadcast()
    if verb == "BROADCAST":
        return _broadcast(args)
    if verb == "DUMPVALUE" and args:
        return DumpValue(args[0])
    if verb == "DUMPSTATUS":
        return DumpValue("ups.status")
    if verb == "GETPID":
        return GetPid()
    if verb == "LOGOUT":
        return Logout()
    return None


def tracking_line(tracking: str, result: int) -> str:
    return f"TRACKING {tracking} {int(result)}\n"
