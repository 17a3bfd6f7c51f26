"""The state of one UPS as the driver socket describes it — sans IO.

Both ends of NUT's driver socket keep this same tree: a driver writes into
it and broadcasts each change; upsd applies the driver's messages to its
copy.  It lives in ``protocol`` so that upsd uses it without importing the
driver package.  :meth:`UpsState.update` applies one parsed
:mod:`~pnut.protocol.driversock` update, :meth:`UpsState.dump_lines` writes
a DUMPALL reply, and each setter returns the broadcast line of its change;
every line is written by :func:`pnut.protocol.driversock.serialize`.

Variables and commands are looked up case-insensitively (NUT's strcasecmp)
but keep the spelling the driver gave.  Listing order is NUT's: variables
and commands sorted case-insensitively; enums and ranges in insertion order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pnut.protocol import driversock as ds
from pnut.protocol.driversock import (
    FLAG_NUMBER,
    FLAG_RW,
    FLAG_STRING,
    KNOWN_FLAGS,
    DriverSockError,
    SockUpdate,
    TrackingResult,
    ordered_flags,
)

__all__ = [
    "FLAG_NUMBER",
    "FLAG_RW",
    "FLAG_STRING",
    "KNOWN_FLAGS",
    "TRACKING_ANSWERS",
    "DriverSockError",
    "UpsState",
    "Variable",
]

#: TRACKING result codes and what GET TRACKING says (see TrackingResult).
TRACKING_ANSWERS: Final = {int(r): r.answer for r in TrackingResult}


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
        return ds.serialize(ds.SetInfo(name, value))

    def del_info(self, name: str) -> str | None:
        if self._vars.pop(_key(name), None) is None:
            return None
        self.version += 1
        self._sorted_vars = None
        return ds.serialize(ds.DelInfo(name))

    def set_flags(self, name: str, flags: set[str]) -> str | None:
        var = self.get(name)
        if var is None or var.flags == flags:
            return None
        self.version += 1
        var.flags = set(flags)
        return ds.serialize(ds.SetFlags(name, ordered_flags(flags)))

    def set_aux(self, name: str, aux: int) -> str | None:
        var = self.get(name)
        if var is None or var.aux == aux:
            return None
        self.version += 1
        var.aux = aux
        return ds.serialize(ds.SetAux(name, aux))

    def add_enum(self, name: str, value: str) -> str | None:
        var = self.get(name)
        if var is None or value in var.enums:
            return None
        self.version += 1
        var.enums.append(value)
        return ds.serialize(ds.AddEnum(name, value))

    def del_enum(self, name: str, value: str) -> str | None:
        var = self.get(name)
        if var is None or value not in var.enums:
            return None
        self.version += 1
        var.enums.remove(value)
        return ds.serialize(ds.DelEnum(name, value))

    def add_range(self, name: str, low: int, high: int) -> str | None:
        var = self.get(name)
        if var is None or (low, high) in var.ranges:
            return None
        self.version += 1
        var.ranges.append((low, high))
        return ds.serialize(ds.AddRange(name, low, high))

    def del_range(self, name: str, low: int, high: int) -> str | None:
        var = self.get(name)
        if var is None or (low, high) not in var.ranges:
            return None
        self.version += 1
        var.ranges.remove((low, high))
        return ds.serialize(ds.DelRange(name, low, high))

    def add_cmd(self, name: str) -> str | None:
        if _key(name) in self._cmds:
            return None
        self.version += 1
        self._cmds[_key(name)] = name
        return ds.serialize(ds.AddCmd(name))

    def del_cmd(self, name: str) -> str | None:
        if self._cmds.pop(_key(name), None) is None:
            return None
        self.version += 1
        return ds.serialize(ds.DelCmd(name))

    # -- the socket codec ----------------------------------------------------
    def update(self, msg: SockUpdate) -> None:
        """Apply one driver-to-server update (answers such as PONG change nothing)."""
        match msg:
            case ds.SetInfo(name, value):
                self.set_info(name, value)
            case ds.DelInfo(name):
                self.del_info(name)
            case ds.AddEnum(name, value):
                self.add_enum(name, value)
            case ds.DelEnum(name, value):
                self.del_enum(name, value)
            case ds.AddRange(name, low, high):
                self.add_range(name, low, high)
            case ds.DelRange(name, low, high):
                self.del_range(name, low, high)
            case ds.SetAux(name, aux):
                self.set_aux(name, aux)
            case ds.SetFlags(name, flags):
                self.set_flags(name, set(flags))
            case ds.AddCmd(name):
                self.add_cmd(name)
            case ds.DelCmd(name):
                self.del_cmd(name)
            case ds.DataOk():
                self.data_ok = True
            case ds.DataStale():
                self.data_ok = False
            case ds.DumpDone():
                self.dump_done = True

    def apply(self, words: tuple[str, ...] | list[str]) -> SockUpdate:
        """Parse and apply one driver line; :class:`DriverSockError` if not protocol."""
        msg = ds.parse_update(words)
        self.update(msg)
        return msg

    def dump_lines(self, name: str | None = None) -> list[str]:
        """A DUMPALL (or DUMPVALUE for ``name``) reply, DUMPDONE included."""
        out: list[str] = []
        if not self.data_ok:
            out.append(ds.serialize(ds.DataStale()))
        chosen = self.variables() if name is None else [v for v in [self.get(name)] if v]
        for var in chosen:
            out.append(ds.serialize(ds.SetInfo(var.name, var.value)))
            out.extend(ds.serialize(ds.AddEnum(var.name, e)) for e in var.enums)
            out.extend(ds.serialize(ds.AddRange(var.name, lo, hi)) for lo, hi in var.ranges)
            if var.aux:
                out.append(ds.serialize(ds.SetAux(var.name, var.aux)))
            if var.flags:
                out.append(ds.serialize(ds.SetFlags(var.name, ordered_flags(var.flags))))
        if name is None:
            out.extend(ds.serialize(ds.AddCmd(c)) for c in self.commands())
        if self.data_ok:
            out.append(ds.serialize(ds.DataOk()))
        out.append(ds.serialize(ds.DumpDone()))
        return out
