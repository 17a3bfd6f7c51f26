"""TLS after ``OK STARTTLS``: OpenSSL over memory buffers, under the client's shell.

How this works
--------------
:class:`TLSRecords` is sans-IO: ciphertext goes in through
:meth:`TLSRecords.receive` (which drives the handshake, then returns the
plaintext), plaintext goes out through :meth:`TLSRecords.send`, and
:meth:`TLSRecords.data_to_send` gives the ciphertext to write (handshake
messages, records, alerts, close_notify).  It is an :class:`ssl.SSLObject`
on two :class:`ssl.MemoryBIO`\\ s, nothing more.

:class:`TLSLayer` puts it between the TCP transport and the client's
:class:`~pnut.server.listener.ClientProtocol`: it is the TCP transport's
protocol (ciphertext in) and, once the handshake is done, the client's
transport (plaintext out).  The shell and the sans-IO connection above it
do not change: they see plaintext and a transport.

Why not ``loop.start_tls``: asyncio's (and uvloop's) SSL protocol is
built for streams of any size.  Per read it asks OpenSSL for up to 256 KiB
(an mmap, a mremap and a munmap per GET VAR), and it keeps its own buffers,
states and flow control around every record.  A upsd request is one small
record each way; this layer does one BIO write, one SSL_read, one SSL_write
and one BIO read per request, and the handshake needs no task.

Invariants
----------
* Nothing is handed up before the handshake is done; a failed handshake
  (an OpenSSL error, the peer's EOF, the timeout) is reported once to
  ``on_failed`` and the TCP connection is aborted.
* Every call that can make OpenSSL produce output (handshake steps, reads
  that meet a post-handshake message, writes, close) is followed by a
  write of :meth:`TLSRecords.data_to_send` - at the latest at the end of
  the event loop's pass (:class:`WriteBatch`): what the client's protocol
  writes while it handles a read is encrypted at once and goes out in one
  TCP write with the rest (the handshake's last answer, the replies),
  together with the other connections' answers of that pass.  A close
  writes everything at once, then close_notify.
* A TLS error after the handshake (a record that does not decrypt) ends
  the connection like any other invalid input: a Drop for the shell.
* ``close()`` sends close_notify, then closes TCP (it does not wait for
  the peer's close_notify); ``abort()`` sends nothing.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from typing import Any, Final, Protocol

from pnut.server.transport import FIRST_READ, Cancellable, Loop, SocketTransport, StreamProtocol

#: Plaintext asked of OpenSSL per SSL_read after the first (which asks the
#: transport's FIRST_READ): one whole record (RFC 8446's 2^14 bytes).
READ_SIZE: Final = 16 * 1024


class _Engine(Protocol):
    """What an :class:`ssl.SSLObject` and the C object under it both offer."""

    def read(self, size: int, /) -> bytes: ...

    def write(self, data: bytes, /) -> int: ...

    def pending(self) -> int: ...


class TLSRecords:
    """The server side of one TLS connection, without I/O."""

    __slots__ = ("_drain", "_engine", "_feed", "_in", "_obj", "_out", "_read", "_write",
                 "eof", "established")

    def __init__(self, context: ssl.SSLContext) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=True)
        #: Reads and writes skip ssl.py's one-line wrappers (two Python calls
        #: of the few per request) when the C object is there, as in CPython.
        engine: _Engine = getattr(self._obj, "_sslobj", self._obj)
        self._engine = engine  # for _more: one store per connection, nothing per request
        # Bound once: compiled code calls a method of a C object by name,
        # a type lookup per call, several per request.
        self._feed: Callable[[bytes], int] = self._in.write
        self._read: Callable[[int], bytes] = engine.read
        self._write: Callable[[bytes], int] = engine.write
        self._drain: Callable[[], bytes] = self._out.read
        self.established = False
        #: The peer sent close_notify: no more plaintext will come.
        self.eof = False

    @property
    def ssl_object(self) -> ssl.SSLObject:
        return self._obj

    def receive(self, data: bytes) -> bytes:
        """Ciphertext from the peer; returns the plaintext it completes (maybe ``b""``).

        Raises :class:`ssl.SSLError` when the handshake fails or a record is
        bad; :attr:`established` turns true when the handshake completes."""
        incoming = self._in
        self._feed(data)
        if not self.established:
            try:
                self._obj.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            self.established = True
            if not incoming.pending:
                return b""
        try:
            # FIRST_READ, as the TCP transport: a record of a few plaintext
            # bytes then stays in Python's small-object pools instead of a
            # 16 KiB malloc shrunk to size; the rest, if any, in _more.
            chunk = self._read(FIRST_READ)
        except ssl.SSLWantReadError:  # a record's start only
            return b""
        except ssl.SSLZeroReturnError:  # (CPython returns b"" instead, below)
            chunk = b""
        if not chunk:  # close_notify
            self.eof = True
            return b""
        if len(chunk) < FIRST_READ and not incoming.pending:
            return chunk  # one record, all read: a request's usual case
        return self._more(chunk)

    def _more(self, first: bytes) -> bytes:
        engine = self._engine
        incoming = self._in
        chunks = [first]
        while incoming.pending or engine.pending():
            try:
                chunk = self._read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                chunk = b""
            if not chunk:
                self.eof = True
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def send(self, data: bytes) -> None:
        """Plaintext to encrypt (then write :meth:`data_to_send`)."""
        self._write(data)

    def close(self) -> None:
        """Queue close_notify."""
        with contextlib.suppress(ssl.SSLError):  # WantRead: the peer's is not awaited
            self._obj.unwrap()

    def data_to_send(self) -> bytes:
        return self._drain()  # b"" when there is none

    @property
    def has_output(self) -> bool:
        return bool(self._out.pending)


class WriteBatch:
    """The layers that answered during this pass of the event loop, written at its end.

    One TCP write per answered read either way, but the writes of all the
    reads of one pass go out together: a client waiting on several
    connections is woken once for them, not once per reply (on a VM each
    wake-up of an idle CPU costs more than a TLS record).  The daemon owns
    one per event loop."""

    __slots__ = ("layers", "loop")

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.layers: list[TLSLayer] = []

    def add(self, layer: TLSLayer) -> None:
        if not self.layers:
            self.loop.call_soon(self.run)
        self.layers.append(layer)

    def run(self) -> None:
        layers, self.layers = self.layers, []
        for layer in layers:
            layer._flush_raw()


class _Lost:
    """The TCP transport's protocol once its TLS layer has seen the connection lost."""

    __slots__ = ()

    def connection_made(self, transport: Any) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        pass


_LOST: Final = _Lost()


class TLSLayer:
    """TLS between a TCP transport and the client's protocol (see the module doc)."""

    __slots__ = ("_batch", "_failed", "_reading", "_ready", "_timer", "app", "raw", "records")

    def __init__(self, raw: SocketTransport, app: StreamProtocol,
                 context: ssl.SSLContext, timeout: float,
                 on_ready: Callable[[TLSLayer], None],
                 on_failed: Callable[[TLSLayer, Exception], None],
                 batch: WriteBatch) -> None:
        self.raw = raw
        self._batch = batch
        self.app = app
        self.records = TLSRecords(context)
        self._ready = on_ready
        self._failed = on_failed
        #: Inside data_received: writes wait for its end (one TCP write).
        self._reading = False
        self._timer: Cancellable | None = batch.loop.call_later(timeout, self._timed_out,
                                                                timeout)
        raw.set_protocol(self)

    # -- the TCP side: the raw transport's protocol ---------------------------------
    def connection_made(self, transport: Any) -> None:
        pass  # made before STARTTLS: set_protocol hands it over

    def data_received(self, data: bytes) -> None:
        records = self.records
        if records.established:
            try:
                plain = records.receive(data)
            except ssl.SSLError as exc:
                self._flush_raw()
                self._bad_record(exc)
                return
        else:
            try:
                plain = records.receive(data)
            except ssl.SSLError as exc:
                self._fail(exc)
                return
            if not records.established:
                self._flush_raw()
                return
            self._cancel_timer()
            self._reading = True
            try:
                self._ready(self)
            finally:
                self._reading = False
        if plain:
            self._reading = True
            try:
                self.app.data_received(plain)
            finally:
                self._reading = False
        if records.has_output:
            self._batch.add(self)
        if records.eof and not self.raw.is_closing():
            self._peer_eof()

    def eof_received(self) -> bool | None:
        if not self.records.established:
            self._fail(ConnectionResetError("the client closed the connection"))
            return False
        return self.app.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        try:
            self.app.connection_lost(exc)
        finally:
            # The TCP transport points back here: without this cycle each
            # connection's OpenSSL state (~30 KiB) is freed now rather than
            # by a full pass of the garbage collector, which after a burst of
            # handshakes kept hundreds of them (and the heap they grew).
            self.raw.set_protocol(_LOST)

    # -- the client's side: what ClientProtocol uses of a transport --------------
    def write(self, data: bytes) -> int:
        """Encrypt ``data`` (sent at once, or with the pass's batch while reading);
        returns the ciphertext bytes still queued."""
        records = self.records
        records.send(data)
        if not self._reading:
            return self.raw.write(records.data_to_send())
        return self.raw.get_write_buffer_size()

    def close(self) -> None:
        raw = self.raw
        if raw.is_closing():
            return
        if self.records.established:
            self.records.close()
            self._flush_raw()
        raw.close()

    def abort(self) -> None:
        self.raw.abort()

    def is_closing(self) -> bool:
        return self.raw.is_closing()

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.records.ssl_object
        return self.raw.get_extra_info(name, default)

    # -- internals -----------------------------------------------------------------
    def _flush_raw(self) -> None:
        out = self.records.data_to_send()
        if out and not self.raw.is_closing():
            self.raw.write(out)

    def _peer_eof(self) -> None:
        """close_notify from the client: its end of input, as a TCP EOF is in clear."""
        if not self.app.eof_received():
            self.close()

    def _bad_record(self, exc: ssl.SSLError) -> None:
        drop = getattr(self.app, "drop", None)
        if callable(drop):
            drop(f"TLS error: {exc.reason or exc}", invalid=True)
        if not self.raw.is_closing():
            self.raw.abort()

    def _fail(self, exc: Exception) -> None:
        self._cancel_timer()
        if self.raw.is_closing():
            return
        self._flush_raw()  # the alert, if OpenSSL made one
        self._failed(self, exc)
        self.raw.abort()

    def _timed_out(self, timeout: float) -> None:
        self._timer = None
        if not self.records.established:
            self._fail(TimeoutError(f"no TLS handshake within {timeout:g} seconds"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
