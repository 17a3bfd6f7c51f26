"""The I/O shell around one :class:`~pnut.server.connection.Connection`.

It only moves bytes and acts on the connection's events; every rule
(fairness, rejection, STARTTLS gate, reply reuse, drops) lives in the
sans-IO connection.  While the connection is :attr:`backlogged` the
transport is not read, and the rest of the input is worked on one turn of
the event loop at a time (``call_soon``), so no client holds the loop.

The transport is a :class:`~pnut.server.transport.SocketTransport` (or a
:class:`~pnut.server.tlslayer.TLSLayer` over one after STARTTLS); the loop
is the daemon's (:class:`~pnut.server.evloop.EpollLoop`, or asyncio's).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from pnut.server.connection import Close, Connection, Drop, StartTLS
from pnut.server.transport import Loop, Transport

log = logging.getLogger("pnut.upsd")


class Host(Protocol):
    """What the shell needs from the daemon (pnut.server.daemon.Upsd)."""

    clients: set[ClientProtocol]
    loop: Loop

    def admit(self, transport: Transport) -> Connection | None: ...

    def forget(self, client: ClientProtocol, conn: Connection) -> None: ...

    def log_drop(self, conn: Connection, event: Drop) -> None: ...

    def start_tls(self, client: ClientProtocol) -> None: ...


class ClientProtocol:
    """One network client."""

    __slots__ = ("conn", "daemon", "paused", "transport")

    def __init__(self, daemon: Host) -> None:
        self.daemon = daemon
        self.transport: Transport | None = None
        self.conn: Connection | None = None
        self.paused = False

    def connection_made(self, transport: Any) -> None:
        conn = self.daemon.admit(transport)
        if conn is None:
            transport.abort()
            return
        self.transport = transport
        self.conn = conn
        self.daemon.clients.add(self)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:
            return
        try:
            # The hot path (a monitor polling GET VAR): one cached reply, one write.
            reply = conn.cached_reply(data)
            if reply is not None:
                transport = self.transport
                if transport is not None:
                    size = transport.write(reply)
                    if size > conn.limits.max_unsent:
                        conn.unsent(size)
                        self._events(conn, transport)
                return
            conn.receive_data(data, cache_missed=True)
        except Exception as exc:  # a bug must cost one connection, not the daemon
            self._internal_error(exc)
            return
        self._flush(conn)

    def _flush(self, conn: Connection) -> None:
        transport = self.transport
        if transport is None:
            return
        out = conn.data_to_send()
        if out:
            conn.unsent(transport.write(out))
        if conn.has_events:
            self._events(conn, transport)
        if conn.backlogged:
            if not self.paused:
                self.paused = True
                transport.pause_reading()
            delay = conn.turn_delay
            if delay:
                self.daemon.loop.call_later(delay, self._turn)
            else:
                self.daemon.loop.call_soon(self._turn)
        elif self.paused and not conn.done:
            self.paused = False
            transport.resume_reading()

    def _turn(self) -> None:
        conn = self.conn
        if conn is None or self.transport is None or self.transport.is_closing():
            return
        try:
            conn.process()
        except Exception as exc:
            self._internal_error(exc)
            return
        self._flush(conn)

    def _events(self, conn: Connection, transport: Transport) -> None:
        while (event := conn.next_event()) is not None:
            if isinstance(event, Close):
                transport.close()
            elif isinstance(event, Drop):
                self.daemon.log_drop(conn, event)
                transport.abort()
            elif isinstance(event, StartTLS):
                self.daemon.start_tls(self)

    def drop(self, reason: str, invalid: bool = False) -> None:
        """Drop now (timeouts, UPS removed, a bad TLS record): the connection decides, we act."""
        conn = self.conn
        if conn is not None and self.transport is not None:
            conn.drop(reason, invalid)
            self._events(conn, self.transport)

    def _internal_error(self, exc: Exception) -> None:
        addr = self.conn.session.addr if self.conn else "?"
        log.error("internal error serving %s (connection dropped): %r", addr, exc)
        log.debug("details", exc_info=True)
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool | None:
        conn = self.conn
        if conn is None:
            return False
        conn.receive_data(b"")
        if conn.backlogged:
            return True  # answer what was read first; the Close event follows
        conn.next_event()  # the Close: returning False closes after the flush
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self.conn
        self.transport = None  # a TLSLayer points back here: no cycle for the GC
        if conn is None:
            return
        self.conn = None
        self.daemon.forget(self, conn)
