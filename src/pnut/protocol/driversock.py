"""NUT's driver socket, both directions, as frozen messages — sans IO.

How this works
--------------
A driver listens on ``STATEPATH/<driver>-<ups>``; upsd (or a local tool)
connects and speaks line by line with the tokenizer's grammar.  Each line
is one frozen dataclass here:

* requests, client to driver: :class:`DumpAll`, :class:`Ping`,
  :class:`InstCmd`, :class:`SetVar` and the later NUT additions
  (NOBROADCAST, BROADCAST, DUMPVALUE/DUMPSTATUS, GETPID, LOGOUT);
  :func:`parse_command` reads one, :func:`serialize` writes one.
* updates, driver to client: the tree changes (:class:`SetInfo` ...
  :class:`DelCmd`), the freshness markers (:class:`DataOk`,
  :class:`DataStale`, :class:`DumpDone`) and the answers (:class:`Pong`,
  :class:`Tracking`, :class:`Pid`, :class:`Goodbye`); :func:`parse_update`
  reads one (raising :class:`DriverSockError` for a line that is not
  protocol), :func:`serialize` writes one.

:class:`TrackingResult` is the one enum of SET/INSTCMD results
(drivers/upshandler.h); a driver returns it, the socket carries its
number, and upsd turns it into the ``GET TRACKING`` answer.

Argument counts follow NUT's driver side (drivers/dstate.c):
``INSTCMD cmd [param] [TRACKING id]`` and ``SET var value [TRACKING id]``
(NUT 2.8.0 also runs a four-word ``SET`` as if the fourth word were
absent; pnut refuses it, docs/compat.md).  Surplus words of an update are
ignored, as NUT's upsd does.  Quoting lives here and in the tokenizer only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from pnut.protocol.cnum import atoi
from pnut.protocol.tokens import quote, quote_word

__all__ = ["atoi"]  # re-exported: callers of the codec read numbers the same way


class DriverSockError(ValueError):
    """A driver-socket line that is not protocol (logged and ignored)."""


class TrackingResult(IntEnum):
    """Result of a SET or an instant command (STAT_INSTCMD_* / STAT_SET_*)."""

    SUCCESS = 0
    UNKNOWN = 1
    INVALID_ARGUMENT = 2
    FAILED = 3
    #: NUT 2.8.1+ drivers; upsd answers it as INVALID-ARGUMENT, as later NUT does.
    CONVERSION_FAILED = 4
    # The drivers' own names for the same numbers.
    HANDLED = 0
    INVALID = 2

    @property
    def answer(self) -> str:
        """What ``GET TRACKING <id>`` says for this result."""
        return _ANSWERS[self]

    @classmethod
    def answer_for(cls, code: int) -> str:
        """The GET TRACKING answer for any number a driver sent."""
        try:
            return _ANSWERS[cls(code)]
        except ValueError:
            return "ERR UNKNOWN"


_ANSWERS: Final = {
    TrackingResult.SUCCESS: "SUCCESS",
    TrackingResult.UNKNOWN: "ERR UNKNOWN",
    TrackingResult.INVALID_ARGUMENT: "ERR INVALID-ARGUMENT",
    TrackingResult.FAILED: "ERR FAILED",
    TrackingResult.CONVERSION_FAILED: "ERR INVALID-ARGUMENT",
}

FLAG_RW: Final = "RW"
FLAG_STRING: Final = "STRING"
FLAG_NUMBER: Final = "NUMBER"
KNOWN_FLAGS: Final = (FLAG_RW, FLAG_STRING, FLAG_NUMBER)


# -- requests: client to driver -----------------------------------------------


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

# -- updates: driver to client ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetInfo:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class DelInfo:
    name: str


@dataclass(frozen=True, slots=True)
class AddEnum:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class DelEnum:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class AddRange:
    name: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class DelRange:
    name: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class SetAux:
    name: str
    aux: int


@dataclass(frozen=True, slots=True)
class SetFlags:
    name: str
    #: Known flags only, in NUT's order (RW, STRING, NUMBER).
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddCmd:
    name: str


@dataclass(frozen=True, slots=True)
class DelCmd:
    name: str


@dataclass(frozen=True, slots=True)
class DataOk:
    pass


@dataclass(frozen=True, slots=True)
class DataStale:
    pass


@dataclass(frozen=True, slots=True)
class DumpDone:
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class Tracking:
    id: str
    #: The number as sent (C atoi); see :meth:`TrackingResult.answer_for`.
    result: int


@dataclass(frozen=True, slots=True)
class Pid:
    pid: str


@dataclass(frozen=True, slots=True)
class Goodbye:
    """``OK Goodbye``, a driver's answer to LOGOUT (any ``OK ...`` line)."""

    text: str = "Goodbye"


TreeUpdate = (
    SetInfo | DelInfo | AddEnum | DelEnum | AddRange | DelRange | SetAux | SetFlags
    | AddCmd | DelCmd
)
SockUpdate = TreeUpdate | DataOk | DataStale | DumpDone | Pong | Tracking | Pid | Goodbye


def ordered_flags(flags: set[str] | frozenset[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Known flags in the order NUT writes them."""
    return tuple(f for f in KNOWN_FLAGS if f in flags)


# -- parsing --------------------------------------------------------------------


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


def _int(kind: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DriverSockError(f"bad number for {kind}: {text[:40]!r}") from None


def parse_update(words: list[str] | tuple[str, ...]) -> SockUpdate:
    """The update one driver line carries; :class:`DriverSockError` if none."""
    if not words:
        raise DriverSockError("empty line")
    kind = words[0].upper()
    a = words[1:]
    n = len(a)
    if kind == "SETINFO" and n >= 2:
        return SetInfo(a[0], a[1])
    if kind == "DELINFO" and n >= 1:
        return DelInfo(a[0])
    if kind == "ADDENUM" and n >= 2:
        return AddEnum(a[0], a[1])
    if kind == "DELENUM" and n >= 2:
        return DelEnum(a[0], a[1])
    if kind == "ADDRANGE" and n >= 3:
        return AddRange(a[0], _int(kind, a[1]), _int(kind, a[2]))
    if kind == "DELRANGE" and n >= 3:
        return DelRange(a[0], _int(kind, a[1]), _int(kind, a[2]))
    if kind == "SETAUX" and n >= 2:
        return SetAux(a[0], _int(kind, a[1]))
    if kind == "SETFLAGS" and n >= 1:
        return SetFlags(a[0], ordered_flags({f.upper() for f in a[1:]}))
    if kind == "ADDCMD" and n >= 1:
        return AddCmd(a[0])
    if kind == "DELCMD" and n >= 1:
        return DelCmd(a[0])
    if kind == "DATAOK":
        return DataOk()
    if kind == "DATASTALE":
        return DataStale()
    if kind == "DUMPDONE":
        return DumpDone()
    if kind == "PONG":
        return Pong()
    if kind == "TRACKING" and n >= 2:
        return Tracking(a[0], atoi(a[1]))
    if kind == "PID":
        return Pid(a[0] if a else "")
    if kind == "OK":
        return Goodbye(" ".join(a))
    if kind in _ARITY:
        raise DriverSockError(f"too few arguments for {kind}: {' '.join(a)[:80]!r}")
    raise DriverSockError(f"unknown driver message {kind[:40]!r}")


_ARITY: Final = frozenset({"SETINFO", "DELINFO", "ADDENUM", "DELENUM", "ADDRANGE", "DELRANGE",
                           "SETAUX", "SETFLAGS", "ADDCMD", "DELCMD", "TRACKING"})

# -- serializing ------------------------------------------------------------------


def serialize(msg: SockCommand | SockUpdate) -> str:
    """One message as its wire line, newline included."""
    match msg:
        case SetInfo(name, value):
            return f"SETINFO {name} {quote(value)}\n"
        case DelInfo(name):
            return f"DELINFO {name}\n"
        case AddEnum(name, value):
            return f"ADDENUM {name} {quote(value)}\n"
        case DelEnum(name, value):
            return f"DELENUM {name} {quote(value)}\n"
        case AddRange(name, low, high):
            return f"ADDRANGE {name} {low} {high}\n"
        case DelRange(name, low, high):
            return f"DELRANGE {name} {low} {high}\n"
        case SetAux(name, aux):
            return f"SETAUX {name} {aux}\n"
        case SetFlags(name, flags):
            return f"SETFLAGS {' '.join([name, *flags])}\n"
        case AddCmd(name):
            return f"ADDCMD {name}\n"
        case DelCmd(name):
            return f"DELCMD {name}\n"
        case DataOk():
            return "DATAOK\n"
        case DataStale():
            return "DATASTALE\n"
        case DumpDone():
            return "DUMPDONE\n"
        case Pong():
            return "PONG\n"
        case Tracking(id_, result):
            return f"TRACKING {id_} {int(result)}\n"
        case Pid(pid):
            return f"PID {pid}\n"
        case Goodbye(text):
            return f"OK {text}\n" if text else "OK\n"
        case DumpAll():
            return "DUMPALL\n"
        case Ping():
            return "PING\n"
        case InstCmd(name, param, tracking):
            line = f"INSTCMD {name}"
            if param is not None:
                line += " " + quote_word(param)
            return line + (f" TRACKING {tracking}\n" if tracking else "\n")
        case SetVar(name, value, tracking):
            line = f"SET {name} {quote(value)}"
            return line + (f" TRACKING {tracking}\n" if tracking else "\n")
        case NoBroadcast():
            return "NOBROADCAST\n"
        case Broadcast(enabled):
            return f"BROADCAST {int(enabled)}\n"
        case DumpValue(name):
            return f"DUMPVALUE {name}\n"
        case GetPid():
            return "GETPID\n"
        case Logout():
            return "LOGOUT\n"
    raise TypeError(f"not a driver-socket message: {msg!r}")


def tracking_line(tracking: str, result: int) -> str:
    """``TRACKING <id> <code>``: a driver's answer to a tracked request."""
    return serialize(Tracking(tracking, int(result)))
