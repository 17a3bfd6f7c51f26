"""upsd's end of one driver socket: connect, DUMPALL, follow, judge freshness.

How this works
--------------
A :class:`DriverLink` owns one :class:`~pnut.server.store.UpsEntry`.  The
daemon calls :meth:`DriverLink.tick` about once a second; the tick
(re)connects to ``STATEPATH/<driver>-<ups>`` every ``RECONNECT_INTERVAL``
seconds while the driver is away, and, while connected, does what NUT's
main loop does: PING after MAXAGE/3 seconds of silence, mark the data
stale after MAXAGE seconds without a valid line (or when the driver said
DATASTALE after its dump), and fresh again when lines flow.

On connect upsd sends ``DUMPALL`` and shows ``ups.status`` as ``WAIT``
until the dump overwrites it.  When the connection drops, the UPS's state
is flushed so that nothing old survives a driver restart.

Lines from the driver go through the same bounded tokenizer as network
requests and through :meth:`UpsState.apply`; a line that is not protocol
is logged and ignored (and, as in NUT, does not count as "heard").  No
input from a driver can raise out of this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from pnut.protocol import driversock as ds
from pnut.protocol.limits import STATUS_WAIT
from pnut.protocol.tokens import Tokenizer
from pnut.server.guard import LogLimiter
from pnut.server.store import Store, UpsEntry
from pnut.server.tracking import Tracker
from pnut.server.transport import Loop, Transport, connect_unix

log = logging.getLogger("pnut.upsd")

#: Seconds between connection attempts while a driver is away (NUT: one
#: main-loop pass, at most 2 s).
RECONNECT_INTERVAL: Final = 2.0
#: NUT complains about an unreachable driver at most this often (seconds).
CONNFAIL_LOG_INTERVAL: Final = 300.0
#: Bytes upsd may queue for a driver that does not read before it gives
#: up on the connection.
MAX_DRIVER_BACKLOG: Final = 1024 * 1024
_DUMPALL: Final = ds.serialize(ds.DumpAll()).encode()
#: Bytes from a driver handled per event-loop turn (a DUMPALL of a big UPS
#: is a few of them; the rest of a flood waits, reading paused).
DRIVER_BYTES_PER_TURN: Final = 16 * 1024


class _DriverProtocol:
    def __init__(self, link: DriverLink) -> None:
        self.link = link

    def connection_made(self, transport: Any) -> None:
        self.link._connected(transport)

    def data_received(self, data: bytes) -> None:
        self.link._received(data)

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.link._lost(self, exc)


class DriverLink:
    def __init__(self, entry: UpsEntry, statepath: Path, maxage: int, tracker: Tracker,
                 store: Store | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 loop: Loop | None = None) -> None:
        self.entry = entry
        #: The daemon's loop (None only in tests that call tick() without one).
        self.loop = loop
        self._clock = clock
        #: Told of every change (Store.watch); None in tests without a store.
        self.store = store
        self.path = statepath / entry.socket
        self.maxage = maxage
        self.tracker = tracker
        self._transport: Transport | None = None
        self._tokenizer = Tokenizer()
        self._last_heard = 0.0
        self._last_ping = 0.0
        self._last_attempt = -RECONNECT_INTERVAL
        self._last_complaint = -CONNFAIL_LOG_INTERVAL * 2
        self._closed = False
        #: Bytes read but not yet handled (see _received); reading paused meanwhile.
        self._inbox = b""
        self._paused = False
        self._complaints = LogLimiter(rate=0.2, burst=5, clock=clock)

    # -- daemon interface -----------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        """Reconnect or check freshness; called about once a second."""
        if self._closed:
            return
        now = self._clock() if now is None else now
        if self._transport is None:
            if self.loop is not None and now - self._last_attempt >= RECONNECT_INTERVAL:
                self._last_attempt = now
                self._connect(self.loop)
            return
        self._judge(now)

    def send(self, msg: ds.SockCommand) -> bool:
        """Write one request to the driver (SET, INSTCMD, PING)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        transport.write(ds.serialize(msg).encode("ascii", "replace"))
        if transport.get_write_buffer_size() > MAX_DRIVER_BACKLOG:
            log.warning("Driver for UPS [%s] is not reading; dropping the connection",
                        self.entry.name)
            transport.abort()
            return False
        return True

    def close(self) -> None:
        """Forget this driver for good (UPS removed or daemon exiting)."""
        self._closed = True
        if self._transport is not None:
            self._transport.abort()
        self._disconnected()

    # -- connection -------------------------------------------------------------
    def _connect(self, loop: Loop) -> None:
        try:
            transport = connect_unix(loop, str(self.path), _DriverProtocol(self))
        except (OSError, ValueError) as exc:
            now = self._clock()
            if now - self._last_complaint >= CONNFAIL_LOG_INTERVAL:
                self._last_complaint = now
                reason = getattr(exc, "strerror", None) or str(exc)
                log.error("Can't connect to UPS [%s] (%s): %s", self.entry.name,
                          self.entry.socket, reason)
            return
        if self._transport is transport:
            transport.read_first()  # the driver's updates before the clients' requests

    def _connected(self, transport: Transport) -> None:
        if self._closed:
            transport.abort()
            return
        self._transport = transport
        self._inbox = b""
        self._paused = False
        transport.write(_DUMPALL)
        self._tokenizer = Tokenizer()
        entry = self.entry
        entry.state.clear()
        entry.state.set_info("ups.status", STATUS_WAIT)
        entry.connected = True
        entry.stale = False
        entry.sender = self.send
        now = self._clock()
        self._last_heard = now
        self._last_ping = now
        self._last_complaint = -CONNFAIL_LOG_INTERVAL * 2
        log.info("Connected to UPS [%s]: %s", entry.name, entry.socket)
        self._notify()

    def _lost(self, protocol: _DriverProtocol, exc: Exception | None) -> None:
        if self._transport is None:
            return
        self._transport = None
        if not self._closed:
            log.warning("Lost connection to the driver of UPS [%s]%s", self.entry.name,
                        f": {exc}" if exc else "")
        self._disconnected()

    def _disconnected(self) -> None:
        entry = self.entry
        entry.connected = False
        entry.sender = None
        entry.state.clear()
        entry.stale = True
        self._notify()
        # Try again soon, but not in a tight loop.
        self._last_attempt = self._clock() - RECONNECT_INTERVAL / 2

    # -- incoming lines ---------------------------------------------------------
    def _received(self, data: bytes) -> None:
        """Bytes from the driver: worked on DRIVER_BYTES_PER_TURN at a time.

        While more is waiting, the socket is not read and the rest is
        handled on later loop turns, so a driver that floods (or a hostile
        process on its socket) cannot hold upsd's event loop.
        """
        self._inbox += data
        if len(self._inbox) == len(data):
            self._turn()

    def _turn(self) -> None:
        data = self._inbox
        self._inbox = data[DRIVER_BYTES_PER_TURN:]
        self._consume(data[:DRIVER_BYTES_PER_TURN])
        transport = self._transport
        if transport is None or transport.is_closing():
            self._inbox = b""
            return
        if self._inbox:
            if not self._paused:
                self._paused = True
                transport.pause_reading()
            assert self.loop is not None
            self.loop.call_soon(self._turn)
        elif self._paused:
            self._paused = False
            transport.resume_reading()

    def _consume(self, data: bytes) -> None:
        try:
            lines = self._tokenizer.feed(data)
        except Exception:  # a driver must never crash upsd
            log.exception("UPS [%s]: unreadable data from driver", self.entry.name)
            self._tokenizer = Tokenizer()
            return
        state = self.entry.state
        judge = False
        for line in lines:
            if line.error is not None:
                told = self._complaints.allow()
                if told is not None:
                    log.warning("Parse error on sock: %s (UPS [%s])%s", line.error,
                                self.entry.name, f" ({told} more not logged)" if told else "")
                continue
            if not line.words:
                continue
            try:
                msg = state.apply(line.words)
            except ds.DriverSockError as exc:
                log.debug("UPS [%s]: ignoring driver line: %s", self.entry.name, exc)
                continue
            except Exception:  # a driver must never crash upsd
                log.exception("UPS [%s]: bad driver line %r", self.entry.name, line.words)
                continue
            self._last_heard = self._clock()
            if self.store is not None and self.store.watchers:
                self.store.changed(self.entry, msg)
            if isinstance(msg, ds.DataOk | ds.DataStale | ds.DumpDone):
                judge = True
            elif isinstance(msg, ds.Tracking) and self.tracker.set_result(msg.id, msg.result):
                log.info("tracking ID: %s\tresult: %s", msg.id, self.tracker.answer(msg.id))
        if judge and self._transport is not None:
            self._judge(self._clock())

    def _notify(self) -> None:
        if self.store is not None and self.store.watchers:
            self.store.changed(self.entry, None)

    # -- freshness ------------------------------------------------------------------
    def _judge(self, now: float) -> None:
        entry = self.entry
        state = entry.state
        if state.dump_done and not state.data_ok:
            dead = True
        else:
            elapsed = now - self._last_heard
            third = self.maxage // 3
            if elapsed > third and now - self._last_ping > third:
                self._last_ping = now
                if not self.send(ds.Ping()):
                    return
            dead = elapsed > self.maxage + 1
        if dead and not entry.stale:
            entry.stale = True
            log.warning("Data for UPS [%s] is stale - check driver", entry.name)
            self._notify()
        elif not dead and entry.stale:
            entry.stale = False
            log.info("UPS [%s] data is no longer stale", entry.name)
            self._notify()
