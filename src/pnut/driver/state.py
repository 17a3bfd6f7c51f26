"""The state of one UPS as the driver socket describes it — sans IO.

Both ends of NUT's driver socket keep this same tree: a driver writes into
it and broadcasts each change; upsd applies the driver's messages to its
copy.  :meth:`UpsState.apply` is the one reader of driver-to-server lines,
:meth:`UpsState.dump` the one writer of a DUMPALL reply, and the
``*_line`` helpers produce each broadcast line, so both directions share
one codec.

Variables and commands are looked up case-insensitively (NUT's strcasecmp)
but keep the spelling the driver gave.  Listing order is NUT's: variables
and commands sorted case-insensitively; enums and ranges in insertion order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pnut.protocol.tokens import escape, quote

FLAG_RW: Final = "RW"
FLAG_STRING: Final = "STRING"
FLAG_NUMBER: Final = "NUMBER"
KNOWN_FLAGS: Final = (FLAG_RW, FLAG_STRING, FLAG_NUMBER)

#: TRACKING result codes (drivers/upshandler.h) and what GET TRACKING says.
TRACKING_ANSWERS: Final[dict[int, str]] = {
    0: "SUCCESS",
    1: "ERR UNKNOWN",
    2: "ERR INVALID-ARGUMENT",
    3: "ERR FAILED",
    4: "ERR INVALID-ARGUMENT",
}


@dataclass(slots=True)
class Variable:
    name: str
    value: str
    flags: set[str] = field(default_factory=set)
    aux: int = 0
    enums: list[str] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def writable(self) -> bool:
        return FLAG_RW in self.flags

    @property
    def is_string(self) -> bool:
        return FLAG_STRING in self.flags

    def type_words(self) -> list[str]:
        """The words of a GET TYPE reply after the name, as NUT orders them."""
        words = []
        if self.writable:
            words.append("RW")
        if self.enums:
            words.append("ENUM")
        if self.ranges:
            words.append("RANGE")
        words.append(f"STRING:{self.aux}" if self.is_string else "NUMBER")
        return words


def _key(name: str) -> str:
    return name.lower()


@dataclass(slots=True)
class Message:
    """One parsed driver-to-server line that changed nothing in the tree."""

    kind: str
    args: tuple[str, ...]


class UpsState:
    """Variables, commands and data freshness of one UPS."""

    def __init__(self) -> None:
        self._vars: dict[str, Variable] = {}
        self._cmds: dict[str, str] = {}
        self._sorted_vars: list[Variable] | None = None
        #: True once the driver said DATAOK (False after DATASTALE).
        self.data_ok = True
        #: True once DUMPDONE arrived on this connection.
        self.dump_done = False
        #: Bumped by every change to variables or commands, so a reader can
        #: tell in O(1) that what it derived from the tree is still current.
        self.version = 0

    # -- reading ----------------------------------------------------------
    def get(self, name: str) -> Variable | None:
        return self._vars.get(_key(name))

    def value(self, name: str) -> str | None:
        var = self._vars.get(_key(name))
        return None if var is None else var.value

    def variables(self) -> list[Variable]:
        """All variables in NUT's order (case-insensitive by name)."""
        if self._sorted_vars is None:
            self._sorted_vars = [self._vars[k] for k in sorted(self._vars)]
        return self._sorted_vars

    def commands(self) -> list[str]:
        return [self._cmds[k] for k in sorted(self._cmds)]

    def has_command(self, name: str) -> bool:
        return _key(name) in self._cmds

    def clear(self) -> None:
        self.version += 1
        self._vars.clear()
        self._cmds.clear()
        self._sorted_vars = None
        self.data_ok = True
        self.dump_done = False

    # -- writing (driver side API; each returns the broadcast line or None) --
    def set_info(self, name: str, value: str) -> str | None:
        key = _key(name)
        var = self._vars.get(key)
        if var is None:
            self._vars[key] = Variable(name, value)
            self._sorted_vars = None
        elif var.value == value:
            return None
        else:
            var.value = value
        self.version += 1
        return f"SETINFO {name} {quote(value)}\n"

    def del_info(self, name: str) -> str | None:
        if self._vars.pop(_key(name), None) is None:
            return None
        self.version += 1
        self._sorted_vars = None
        return f"DELINFO {name}\n"

    def set_flags(self, name: str, flags: set[str]) -> str | None:
        var = self.get(name)
        if var is None or var.flags == flags:
            return None
        self.version += 1
        var.flags = set(flags)
        order = [f for f in KNOWN_FLAGS if f in flags]
        return f"SETFLAGS {' '.join([name, *order])}\n"

    def set_aux(self, name: str, aux: int) -> str | None:
        var = self.get(name)
        if var is None or var.aux == aux:
            return None
        self.version += 1
        var.aux = aux
        return f"SETAUX {name} {aux}\n"

    def add_enum(self, name: str, value: str) -> str | None:
        var = self.get(name)
        if var is None or value in var.enums:
            return None
        self.version += 1
        var.enums.append(value)
        return f"ADDENUM {name} {quote(value)}\n"

    def del_enum(self, name: str, value: str) -> str | None:
        var = self.get(name)
        if var is None or value not in var.enums:
            return None
        self.version += 1
        var.enums.remove(value)
        return f"DELENUM {name} {quote(value)}\n"

    def add_range(self, name: str, low: int, high: int) -> str | None:
        var = self.get(name)
        if var is None or (low, high) in var.ranges:
            return None
        self.version += 1
        var.ranges.append((low, high))
        return f"ADDRANGE {name} {low} {high}\n"

    def del_range(self, name: str, low: int, high: int) -> str | None:
        var = self.get(name)
        if var is None or (low, high) not in var.ranges:
            return None
        self.version += 1
        var.ranges.remove((low, high))
        return f"DELRANGE {name} {low} {high}\n"

    def add_cmd(self, name: str) -> str | None:
        if _key(name) in self._cmds:
            return None
        self.version += 1
        self._cmds[_key(name)] = name
        return f"ADDCMD {name}\n"

    def del_cmd(self, name: str) -> str | None:
        if self._cmds.pop(_key(name), None) is None:
            return None
        self.version += 1
        return f"DELCMD {name}\n"

    # -- the socket codec ----------------------------------------------------
    def apply(self, words: tuple[str, ...] | list[str]) -> Message | None:
        """Apply one driver-to-server line; return what is not tree state.

        Returns None for a line that updated the tree, a :class:`Message`
        for DATAOK/DATASTALE/DUMPDONE/PONG/TRACKING/PID/OK, and raises
        ``ValueError`` for a line that is not protocol (the caller decides
        whether that refreshes the driver's "last heard" time; NUT's does not).
        """
        if not words:
            raise ValueError("empty line")
        kind = words[0].upper()
        args = tuple(words[1:])
        n = len(args)
        try:
            if kind == "SETINFO" and n >= 2:
                self.set_info(args[0], args[1])
            elif kind == "DELINFO" and n >= 1:
                self.del_info(args[0])
            elif kind == "ADDENUM" and n >= 2:
                self.add_enum(args[0], args[1])
            elif kind == "DELENUM" and n >= 2:
                self.del_enum(args[0], args[1])
            elif kind == "ADDRANGE" and n >= 3:
                self.add_range(args[0], int(args[1]), int(args[2]))
            elif kind == "DELRANGE" and n >= 3:
                self.del_range(args[0], int(args[1]), int(args[2]))
            elif kind == "SETAUX" and n >= 2:
                self.set_aux(args[0], int(args[1]))
            elif kind == "SETFLAGS" and n >= 1:
                self.set_flags(args[0], {f.upper() for f in args[1:]} & set(KNOWN_FLAGS))
            elif kind == "ADDCMD" and n >= 1:
                self.add_cmd(args[0])
            elif kind == "DELCMD" and n >= 1:
                self.del_cmd(args[0])
            elif kind == "DATAOK":
                self.data_ok = True
                return Message(kind, args)
            elif kind == "DATASTALE":
                self.data_ok = False
                return Message(kind, args)
            elif kind == "DUMPDONE":
                self.dump_done = True
                return Message(kind, args)
            elif kind in ("PONG", "PID", "OK") or (kind == "TRACKING" and n >= 2):
                return Message(kind, args)
            else:
                raise ValueError(f"unknown driver message {kind!r}")
        except ValueError as exc:
            if "unknown driver message" in str(exc):
                raise
            raise ValueError(f"bad arguments for {kind}: {' '.join(args)!r}") from None
        return None

    def dump_lines(self, name: str | None = None) -> list[str]:
        """A DUMPALL (or DUMPVALUE for ``name``) reply, DUMPDONE included."""
        out: list[str] = []
        if not self.data_ok:
            out.append("DATASTALE\n")
        chosen = self.variables() if name is None else [v for v in [self.get(name)] if v]
        for var in chosen:
            out.append(f"SETINFO {var.name} \"{escape(var.value)}\"\n")
            out.extend(f"ADDENUM {var.name} {quote(e)}\n" for e in var.enums)
            out.extend(f"ADDRANGE {var.name} {lo} {hi}\n" for lo, hi in var.ranges)
            if var.aux:
                out.append(f"SETAUX {var.name} {var.aux}\n")
            if var.flags:
                order = [f for f in KNOWN_FLAGS if f in var.flags]
                out.append(f"SETFLAGS {' '.join([var.name, *order])}\n")
        if name is None:
            out.extend(f"ADDCMD {c}\n" for c in self.commands())
        if self.data_ok:
            out.append("DATAOK\n")
        out.append("DUMPDONE\n")
        return out
