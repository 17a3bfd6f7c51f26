"""Sockets as transports on any loop with ``add_reader``: upsd's thin I/O edge.

How this works
--------------
:class:`SocketTransport` moves bytes between one non-blocking stream
socket and a protocol object with asyncio's four methods
(``connection_made``, ``data_received``, ``eof_received``,
``connection_lost``), and offers that protocol the part of
``asyncio.Transport`` upsd uses (``write``, ``close``, ``abort``,
``pause_reading``, ``resume_reading``, ``get_write_buffer_size``,
``is_closing``, ``get_extra_info``, ``set_protocol``).  It needs only
``add_reader``/``add_writer``/``call_soon`` from its loop, so it runs on
:class:`~pnut.server.evloop.EpollLoop` and on asyncio's loops alike.

Per request it makes the system calls NUT's upsd makes: one ``recv``, one
``send``.  An accepted socket is not switched to non-blocking mode (a
system call per connection): every ``recv`` and ``send`` passes
``MSG_DONTWAIT``, and TCP_NODELAY is set once on the listening socket,
which Linux copies to each accepted one.

Invariants
----------
* ``write`` sends at once when nothing is queued; what the kernel does
  not take is queued and sent when the socket is writable, in order.
* ``close`` sends what is queued, then closes; ``abort`` closes now.
  Either way ``connection_lost`` is called exactly once, from the loop
  (never from inside the caller's call), and the descriptor leaves the
  loop before the socket is closed.
* After EOF, reading stops; ``eof_received`` returning false closes.
"""

from __future__ import annotations

import _socket
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any, Final, Protocol

log = logging.getLogger("pnut.upsd")

#: Bytes asked of the kernel per read (a pipelined burst of requests fits).
READ_SIZE: Final = 32 * 1024
#: Bytes asked first: the largest bytes object CPython's small-object
#: allocator makes (512 bytes with its 33-byte header).  A read of READ_SIZE
#: makes the C library allocate 32 KiB, then shrink it to the few bytes a
#: request has, per request; a read this size stays in Python's own pools.
#: Only when it comes back full is the rest (up to READ_SIZE) read at once.
FIRST_READ: Final = 512 - 33
#: Connections accepted per readiness of a listening socket (then others run).
ACCEPT_PER_PASS: Final = 128
#: Seconds without accepting after running out of descriptors (as asyncio).
ACCEPT_RETRY_DELAY: Final = 1.0
_DONTWAIT: Final = socket.MSG_DONTWAIT
_OUT_OF_FILES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Loop(Protocol):
    """What upsd needs of an event loop: EpollLoop and asyncio's loops both fit."""

    def time(self) -> float: ...

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Cancellable: ...

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> Cancellable: ...

    def add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> None: ...

    # object, not bool: uvloop returns None (compiled callers check the type)
    def remove_reader(self, fd: int) -> object: ...

    def add_writer(self, fd: int, callback: Callable[..., object], *args: Any) -> None: ...

    def remove_writer(self, fd: int) -> object: ...

    def add_signal_handler(self, sig: int, callback: Callable[..., object],
                           *args: Any) -> None: ...


class Transport(Protocol):
    """What upsd's protocols use of a transport (SocketTransport, TLSLayer)."""

    def write(self, data: bytes) -> int:
        """Send ``data``; returns the bytes still queued (0: all sent)."""
        ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


class StreamProtocol(Protocol):
    """The receiving side of a :class:`SocketTransport` (asyncio's Protocol methods)."""

    def connection_made(self, transport: Any) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def eof_received(self) -> bool | None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...


class SocketTransport:
    """One connected stream socket (see the module doc)."""

    __slots__ = ("_buffer", "_closing", "_eof", "_fd", "_first", "_loop", "_lost", "_peer",
                 "_protocol", "_reading", "_recv", "_send", "_sock")

    def __init__(self, loop: Loop, sock: _socket.socket, protocol: StreamProtocol,
                 peer: Any = None) -> None:
        self._loop = loop
        self._sock = sock
        self._recv = sock.recv
        self._send = sock.send
        self._fd = sock.fileno()
        self._protocol = protocol
        self._peer = peer
        self._buffer = bytearray()
        self._closing = False
        self._lost = False
        self._eof = False
        self._reading = True
        self._first = False
        loop.add_reader(self._fd, self._read_ready)
        protocol.connection_made(self)

    # -- reading ------------------------------------------------------------------------
    def _read_ready(self) -> None:
        try:
            data = self._recv(FIRST_READ, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force(exc)
            return
        if data:
            if len(data) == FIRST_READ:
                self._read_more(data)
            else:
                self._protocol.data_received(data)
            return
        self._eof = True
        self._stop_reading()
        if not self._protocol.eof_received():
            self.close()

    def _read_more(self, data: bytes) -> None:
        """A full first read: take the rest of what is waiting, up to READ_SIZE."""
        error: OSError | None = None
        try:
            more = self._recv(READ_SIZE - FIRST_READ, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            more = b""
        except OSError as exc:  # reported once: act on it after the data, as a later read would
            more, error = b"", exc
        self._protocol.data_received(data + more if more else data)
        if error is not None:
            self._force(error)

    def pause_reading(self) -> None:
        if self._reading and not self._closing:
            self._stop_reading()

    def resume_reading(self) -> None:
        if not self._reading and not self._closing and not self._eof:
            self._reading = True
            self._loop.add_reader(self._fd, self._read_ready)
            if self._first:
                self.read_first()

    def read_first(self) -> None:
        """Be read before other sockets in each loop pass (on loops that can)."""
        self._first = True
        prioritize = getattr(self._loop, "read_first", None)
        if prioritize is not None and self._reading:
            prioritize(self._fd)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    # -- writing --------------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        """asyncio's ``write``; returns the bytes still queued (0: all sent)."""
        buffer = self._buffer
        if self._lost or not data:
            return len(buffer)
        if not buffer:
            try:
                sent = self._send(data, _DONTWAIT)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._force(exc)
                return 0
            if sent == len(data):
                return 0
            data = data[sent:]
            self._loop.add_writer(self._fd, self._write_ready)
        buffer += data
        return len(buffer)

    def _write_ready(self) -> None:
        buffer = self._buffer
        try:
            sent = self._send(buffer, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force(exc)
            return
        del buffer[:sent]
        if not buffer:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._lose(None)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    # -- ending ----------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._stop_reading()
        if not self._buffer:
            self._lose(None)

    def abort(self) -> None:
        self._force(None)

    def _force(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._closing = True
        self._stop_reading()
        if self._buffer:
            self._buffer.clear()
            self._loop.remove_writer(self._fd)
        self._lose(exc)

    def _lose(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._loop.call_soon(self._connection_lost, exc)

    def _connection_lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._sock.close()

    # -- the rest of asyncio.Transport's face --------------------------------------------
    def set_protocol(self, protocol: StreamProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> StreamProtocol:
        return self._protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer
        if name == "socket":
            return self._sock
        if name == "sockname":
            try:
                return self._sock.getsockname()
            except OSError:
                return default
        return default


class Listener:
    """Accepts on one listening socket, one transport and protocol per connection."""

    __slots__ = ("_accept", "_factory", "_kind", "_loop", "_retry", "sock")

    def __init__(self, loop: Loop, sock: socket.socket,
                 factory: Callable[[], StreamProtocol]) -> None:
        self._loop = loop
        self.sock = sock
        self._factory = factory
        self._retry: Cancellable | None = None
        #: socket.accept() without its per-call extras (it converts the family
        #: and type to enums and asks for the default timeout each time): the
        #: C method it calls (accept4 with SOCK_CLOEXEC), which typeshed omits.
        self._accept: Callable[[], tuple[int, Any]] = getattr(  # noqa: B009
            sock, "_accept")
        self._kind = (int(sock.family), int(sock.type), sock.proto)
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited
        loop.add_reader(sock.fileno(), self._accept_ready)

    def _accept_ready(self) -> None:
        accept, loop, factory = self._accept, self._loop, self._factory
        family, kind, proto = self._kind
        for _ in range(ACCEPT_PER_PASS):
            try:
                fd, peer = accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FILES:
                    log.error("cannot accept connections: %s (trying again in %g s)",
                              exc.strerror or exc, ACCEPT_RETRY_DELAY)
                    loop.remove_reader(self.sock.fileno())
                    self._retry = loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
                    return
                continue  # the peer gave up before we accepted (ECONNABORTED...)
            # The C socket type, without socket.socket's Python layer (its
            # __init__, close and _real_close: ~0.6 us a connection); the
            # transport uses only recv, send, close, fileno and getsockname.
            SocketTransport(loop, _socket.socket(family, kind, proto, fd), factory(), peer)

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening socket, as in ``asyncio.Server.sockets``."""
        return [self.sock]

    def _resume(self) -> None:
        self._retry = None
        if self.sock.fileno() >= 0:
            self._loop.add_reader(self.sock.fileno(), self._accept_ready)

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()


def connect_unix(loop: Loop, path: str, protocol: StreamProtocol) -> SocketTransport:
    """Connect to a local stream socket (a driver's) now, or raise OSError.

    A local connect completes at once or fails at once (a full backlog
    fails with EAGAIN: the caller tries again later, as after a refusal)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return SocketTransport(loop, sock, protocol, path)
