"""Answers to repeated ``GET VAR`` requests, reused while nothing changed.

Monitoring clients send the same few request lines over and over (upsmon
polls ``GET VAR ups ups.status`` every few seconds from every host).  The
reply to such a line depends only on the UPS entry it names: that the name
still names it (the store marks an entry ``removed`` when it lets go of
it), whether the driver is connected, whether its data is stale, the FSD
flag, and the variable tree (whose ``version`` moves on every change).
This cache maps
the exact request bytes to the reply bytes together with a snapshot of
those facts, and a hit is served only if every one of them is unchanged —
so a change in the UPS is visible to the very next request, exactly as
without the cache.

Only successful replies of the command table's one cacheable row
(``GET VAR``) are kept, keyed by one request line of at most
:data:`MAX_REQUEST` bytes, and the table is bounded.  The daemon
bypasses the cache for any connection whose replies depend on more than
the request (REQUIRE_TLS before STARTTLS).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from pnut.protocol.state import UpsState
from pnut.server.session import Context
from pnut.server.store import UpsEntry

#: Distinct request lines kept; beyond this the table starts afresh.
MAX_ENTRIES: Final = 4096
#: Longest request line kept as a key (a GET VAR of two 63-character
#: names is ~140 bytes): the table holds at most MAX_ENTRIES * MAX_REQUEST
#: key bytes (1 MiB) whatever clients send.
MAX_REQUEST: Final = 256


class _Hit(NamedTuple):
    reply: bytes
    entry: UpsEntry | None  # None: a server.* variable, valid for ever
    state: UpsState | None
    version: int
    connected: bool
    stale: bool
    fsd: bool


class ReplyCache:
    """Request bytes -> reply bytes, checked against the UPS on every hit."""

    __slots__ = ("_ctx", "_hits")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._hits: dict[bytes, _Hit] = {}

    def get(self, request: bytes) -> bytes | None:
        if len(request) > MAX_REQUEST:  # never a key: spare hashing a big read (floods)
            return None
        hit = self._hits.get(request)
        if hit is None:
            return None
        reply, entry, state, version, connected, stale, fsd = hit  # faster than hit.<field>
        if entry is not None:
            now = entry.state
            if (entry.removed  # no longer the store's entry for that name
                    or now is not state
                    or now.version != version
                    or entry.connected is not connected
                    or entry.stale is not stale
                    or entry.fsd is not fsd):
                del self._hits[request]
                return None
        return reply

    def put(self, request: bytes, ups: str, var: str, reply: bytes) -> None:
        """Remember the successful GET VAR ``reply`` to the one line ``request``."""
        if len(request) > MAX_REQUEST:
            return
        if len(self._hits) >= MAX_ENTRIES:
            self._hits.clear()
        if var.lower().startswith("server."):
            self._hits[request] = _Hit(reply, None, None, 0, True, False, False)
            return
        entry = self._ctx.store.get(ups)
        if entry is None or entry.removed:
            return
        self._hits[request] = _Hit(reply, entry, entry.state, entry.state.version,
                                   entry.connected, entry.stale, entry.fsd)

    def __len__(self) -> int:
        return len(self._hits)
