"""What upsd knows about each UPS, shared by every client session.

One :class:`UpsEntry` per ups.conf section: the driver's state tree (kept
by :class:`~pnut.protocol.state.UpsState`), whether the driver is connected
and its data fresh, the FSD flag and the login count.  The asyncio driver
link updates ``connected``/``stale`` and plugs in ``sender``; the sans-IO
sessions only read the entry and call :meth:`UpsEntry.send`.

:class:`Store` keeps the entries in ups.conf order (LIST UPS order) and
looks names up case-insensitively, as NUT's ``strcasecmp`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pnut.protocol.driversock import SockCommand, SockUpdate
from pnut.protocol.state import UpsState

log = logging.getLogger("pnut.upsd")


@dataclass(eq=False)
class UpsEntry:
    name: str
    #: Socket file name inside STATEPATH: ``<driver>-<ups>``.
    socket: str
    desc: str | None = None
    state: UpsState = field(default_factory=UpsState)
    connected: bool = False
    #: NUT marks a UPS stale until a driver connection proves otherwise.
    stale: bool = True
    #: Set by FSD; never cleared while upsd runs (as in NUT).
    fsd: bool = False
    numlogins: int = 0
    #: Writes one request to the driver; False when it cannot.
    sender: Callable[[SockCommand], bool] | None = None
    #: Set when the store lets go of this entry (removed, or replaced under
    #: its name): what was said about it no longer holds (reply cache).
    removed: bool = False

    def send(self, msg: SockCommand) -> bool:
        if not self.connected or self.sender is None:
            return False
        return self.sender(msg)


#: Called with the entry and the driver's update (None: connected, lost,
#: stale or fresh again) after the change is applied.
Watcher = Callable[[UpsEntry, SockUpdate | None], None]


class Store:
    """The UPSes of ups.conf; embedders read it and :meth:`watch` its changes."""

    def __init__(self) -> None:
        self._by_key: dict[str, UpsEntry] = {}
        #: Registered watchers (the driver links call them).
        self.watchers: list[Watcher] = []

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher`` after every change; returns the function that stops it.

        Watchers run in the event loop, right after the update: they must be
        quick and must not raise (an exception is logged and ignored).
        """
        self.watchers.append(watcher)
        return lambda: self.watchers.remove(watcher) if watcher in self.watchers else None

    def changed(self, entry: UpsEntry, update: SockUpdate | None) -> None:
        for watcher in list(self.watchers):
            try:
                watcher(entry, update)
            except Exception:
                log.exception("watcher %r failed", watcher)

    def __iter__(self) -> Iterator[UpsEntry]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, name: str) -> UpsEntry | None:
        return self._by_key.get(name.lower())

    def add(self, entry: UpsEntry) -> None:
        key = entry.name.lower()
        old = self._by_key.get(key)
        if old is not None and old is not entry:
            old.removed = True
        self._by_key[key] = entry
        entry.removed = False

    def remove(self, name: str) -> UpsEntry | None:
        entry = self._by_key.pop(name.lower(), None)
        if entry is not None:
            entry.removed = True
        return entry

    def reorder(self, names: list[str]) -> None:
        """Put entries in ``names`` order (ups.conf order after a reload)."""
        old = self._by_key
        self._by_key = {n.lower(): old[n.lower()] for n in names if n.lower() in old}
        for key, entry in old.items():
            self._by_key.setdefault(key, entry)
