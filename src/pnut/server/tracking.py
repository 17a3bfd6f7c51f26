"""TRACKING: results of SET VAR and INSTCMD that a client asked to follow.

A client that sent ``SET TRACKING ON`` gets ``OK TRACKING <id>`` for each
SET VAR or INSTCMD; the id travels to the driver, which answers
``TRACKING <id> <code>`` once it has acted.  Entries live for
TRACKINGDELAY seconds after the request and are then forgotten, so
``GET TRACKING <id>`` for an old id says ``ERR UNKNOWN``, as in NUT.
The table holds at most :data:`MAX_TRACKING` ids (NUT's is unbounded):
past it the oldest id is forgotten, so memory stays bounded whatever a
logged-in client sends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Final

from pnut.protocol.cnum import atoi
from pnut.protocol.driversock import TrackingResult

PENDING: Final = "PENDING"
UNKNOWN: Final = "ERR UNKNOWN"
#: Pending and answered ids kept at most (a client asking faster than
#: TRACKINGDELAY forgets them gets the oldest forgotten first).
MAX_TRACKING: Final = 10_000


def new_id() -> str:
    """A random UUID version 4, upper-case hex, as NUT writes it."""
    raw = bytearray(os.urandom(16))  # what secrets.token_bytes does, without its imports
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Tracker:
    """id -> (result code or None while pending, time of the request)."""

    def __init__(self, delay: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.delay = delay
        self._clock = clock
        self._items: dict[str, tuple[int | None, float]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, id_: str) -> None:
        items = self._items
        if len(items) >= MAX_TRACKING:
            self.purge()
            while len(items) >= MAX_TRACKING:
                del items[next(iter(items))]  # the oldest (dicts keep insertion order)
        items[id_.upper()] = (None, self._clock())

    def set_result(self, id_: str, code: int | str) -> bool:
        """Record a driver's ``TRACKING id code``; False for an unknown id."""
        key = id_.upper()
        item = self._items.get(key)
        if item is None:
            return False
        self._items[key] = (code if isinstance(code, int) else atoi(code), item[1])
        return True

    def answer(self, id_: str) -> str:
        """The GET TRACKING reply line (without newline)."""
        self.purge()
        item = self._items.get(id_.upper())
        if item is None:
            return UNKNOWN
        code = item[0]
        if code is None or code < 0:
            return PENDING
        # Code 4 (CONVERSION_FAILED, NUT 2.8.1+ drivers) is INVALID-ARGUMENT
        # as in later NUT; 2.8.0 knew only 0-3.  Anything else is UNKNOWN.
        return TrackingResult.answer_for(code)

    def purge(self) -> None:
        """Forget entries requested more than ``delay`` seconds ago."""
        if not self._items:
            return
        limit = self._clock() - self.delay
        stale = [k for k, (_, at) in self._items.items() if at < limit]
        for key in stale:
            del self._items[key]
