"""The one API a driver writes its UPS state through.

How this works
--------------
:class:`DriverState` owns a :class:`~pnut.protocol.state.UpsState` (the tree
that upsd mirrors) and a *sink*: every method that changes the tree hands
the broadcast line it produced to the sink, which the socket server sets to
"write to every connected client".  Nothing here does I/O, so drivers and
their tests can run it without a socket.

On top of the raw tree it keeps NUT's driver-side conventions
(drivers/dstate.c):

* ``ups.status`` is built per poll with :meth:`status_init`,
  :meth:`status_set` (one word at a time) and :meth:`status_commit`; with the
  ``ignorelb`` flag the device's ``LB`` is dropped and ``LB`` derived from
  ``battery.charge``/``battery.runtime`` against their ``.low`` limits.
* ``ups.alarm`` likewise (:meth:`alarm_init`/``set``/``commit``); an active
  alarm puts ``ALARM`` first in ``ups.status``.
* ``override.<var>`` values from ups.conf are immutable: later writes by the
  driver are ignored.
* data starts stale; a driver calls :meth:`data_ok` once it has real data.
"""

from __future__ import annotations

from collections.abc import Callable

from pnut.protocol.cnum import atoi
from pnut.protocol.state import FLAG_NUMBER, FLAG_RW, FLAG_STRING, UpsState, Variable

Sink = Callable[[str], None]


def _discard(line: str) -> None:
    return None


def _as_int(text: str | None) -> int | None:
    """C's strtol(text, NULL, 10) for a leading number; None when absent."""
    return None if text is None else atoi(text)


class DriverState:
    """Driver-side view of the UPS tree, broadcasting every change."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.tree = UpsState()
        self.tree.data_ok = False
        self.sink: Sink = sink or _discard
        self._immutable: set[str] = set()
        self._status: list[str] = []
        self._alarms: list[str] = []
        self._alarm_active = False
        #: ``ignorelb`` flag of ups.conf (see module docstring).
        self.ignore_lb = False

    def _emit(self, line: str | None) -> bool:
        if line is None:
            return False
        self.sink(line)
        return True

    # -- reading -----------------------------------------------------------
    def get(self, name: str) -> Variable | None:
        return self.tree.get(name)

    def value(self, name: str) -> str | None:
        return self.tree.value(name)

    @property
    def stale(self) -> bool:
        return not self.tree.data_ok

    # -- variables -----------------------------------------------------------
    def set_info(self, name: str, value: str) -> bool:
        """Create or update ``name``; True if it changed (and was broadcast)."""
        if name.lower() in self._immutable and self.tree.get(name) is not None:
            return False
        return self._emit(self.tree.set_info(name, value))

    def set_immutable(self, name: str, value: str) -> None:
        """An ``override.<name>`` from ups.conf: fixed for the driver's life."""
        self._immutable.discard(name.lower())
        self.set_info(name, value)
        self._immutable.add(name.lower())

    def del_info(self, name: str) -> bool:
        if name.lower() in self._immutable:
            return False
        return self._emit(self.tree.del_info(name))

    def set_flags(self, name: str, flags: set[str]) -> bool:
        if name.lower() in self._immutable:
            return False
        return self._emit(self.tree.set_flags(name, flags))

    def add_flags(self, name: str, *flags: str) -> bool:
        var = self.tree.get(name)
        if var is None:
            return False
        return self.set_flags(name, var.flags | set(flags))

    def set_aux(self, name: str, aux: int) -> bool:
        return self._emit(self.tree.set_aux(name, aux))

    def add_enum(self, name: str, value: str) -> bool:
        return self._emit(self.tree.add_enum(name, value))

    def del_enum(self, name: str, value: str) -> bool:
        return self._emit(self.tree.del_enum(name, value))

    def add_range(self, name: str, low: int, high: int) -> bool:
        """Add an allowed range; like NUT, this also marks the var NUMBER."""
        changed = self._emit(self.tree.add_range(name, low, high))
        if changed:
            self.add_flags(name, FLAG_NUMBER)
        return changed

    def del_range(self, name: str, low: int, high: int) -> bool:
        return self._emit(self.tree.del_range(name, low, high))

    def add_cmd(self, name: str) -> bool:
        return self._emit(self.tree.add_cmd(name))

    def del_cmd(self, name: str) -> bool:
        return self._emit(self.tree.del_cmd(name))

    def has_command(self, name: str) -> bool:
        return self.tree.has_command(name)

    # -- convenience for drivers declaring writable variables -----------------
    def declare_string(self, name: str, value: str, length: int, writable: bool = True) -> None:
        """A STRING variable; RW ones are limited to ``length`` characters."""
        self.set_info(name, value)
        self.set_flags(name, {FLAG_RW, FLAG_STRING} if writable else {FLAG_STRING})
        self.set_aux(name, length)

    def declare_number(self, name: str, value: str, writable: bool = True) -> None:
        self.set_info(name, value)
        self.set_flags(name, {FLAG_RW, FLAG_NUMBER} if writable else {FLAG_NUMBER})

    def declare_enum(self, name: str, value: str, choices: list[str], length: int) -> None:
        self.declare_string(name, value, length)
        for choice in choices:
            self.add_enum(name, choice)

    def declare_range(self, name: str, value: str, ranges: list[tuple[int, int]]) -> None:
        self.declare_number(name, value)
        for low, high in ranges:
            self.add_range(name, low, high)

    # -- data freshness ------------------------------------------------------
    def data_ok(self) -> None:
        if not self.tree.data_ok:
            self.tree.data_ok = True
            self.sink("DATAOK\n")

    def data_stale(self) -> None:
        if self.tree.data_ok:
            self.tree.data_ok = False
            self.sink("DATASTALE\n")

    # -- ups.status and ups.alarm builders -------------------------------------
    def status_init(self) -> None:
        self._status = []

    def status_set(self, word: str) -> None:
        if self.ignore_lb and word.upper() == "LB":
            return
        if word:
            self._status.append(word)

    def status_commit(self) -> None:
        words = list(self._status)
        if self.ignore_lb and self._derived_low_battery():
            words.append("LB")
        if self._alarm_active:
            words.insert(0, "ALARM")
        self.set_info("ups.status", " ".join(words))

    def _derived_low_battery(self) -> bool:
        for var in ("battery.charge", "battery.runtime"):
            now, low = _as_int(self.value(var)), _as_int(self.value(var + ".low"))
            if now is not None and low is not None and now < low:
                return True
        return False

    def alarm_init(self) -> None:
        self._alarms = []
        self._alarm_active = False

    def alarm_set(self, text: str) -> None:
        if text:
            self._alarms.append(text)

    def alarm_commit(self) -> None:
        if self._alarms:
            self.set_info("ups.alarm", " ".join(self._alarms))
            self._alarm_active = True
        else:
            self.del_info("ups.alarm")
            self._alarm_active = False

    # -- socket replies --------------------------------------------------------
    def dump_lines(self, name: str | None = None) -> list[str]:
        return self.tree.dump_lines(name)
