"""The driver socket: a Unix stream server that upsd and local tools connect to.

How this works
--------------
The driver is the server (NUT's design): it listens on
``STATEPATH/<driver>-<ups>``; upsd connects, sends ``DUMPALL`` and from
then on receives every change as it happens.  Any number of clients may be
connected; each gets its own tokenizer and its own broadcast switch.

Writes never block the driver: asyncio buffers them per connection, and a
client whose unread backlog passes :data:`MAX_CLIENT_BACKLOG` is dropped
(NUT drops a client whose non-blocking write fails).  Garbage from one
client is logged (a bounded number of times) and affects no other client.

Instant commands and SETs are passed to a :class:`Handler`; a ``TRACKING``
id gets its ``TRACKING <id> <code>`` answer on the connection that asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from pnut.driver.dstate import DriverState
from pnut.protocol.driversock import (
    Broadcast,
    DumpAll,
    DumpValue,
    GetPid,
    Goodbye,
    InstCmd,
    Logout,
    NoBroadcast,
    Pid,
    Ping,
    Pong,
    SetVar,
    TrackingResult,
    parse_command,
    serialize,
    tracking_line,
)
from pnut.protocol.tokens import Tokenizer

log = logging.getLogger("pnut.driver")

#: Bytes a client may leave unread before the driver drops it.
MAX_CLIENT_BACKLOG = 1024 * 1024
#: Longest socket path Linux accepts (sockaddr_un.sun_path is 108 bytes).
MAX_SOCKET_PATH = 107
#: Bytes read from a client at a time.
READ_SIZE = 4096
#: Complaints logged per connection about lines that are not requests.
MAX_COMPLAINTS = 10
#: Seconds a LOGOUT'ed client gets to read its goodbye.
LOGOUT_LINGER = 0.5
#: Seconds close() lets client tasks end on their EOF before cancelling them.
CLOSE_WAIT = 1.0


class SocketError(Exception):
    """The socket cannot be created (path too long, not writable...)."""


class Handler(Protocol):
    async def instcmd(self, name: str, param: str | None) -> int: ...

    async def setvar(self, name: str, value: str) -> int: ...


class _Client:
    __slots__ = ("broadcast", "complaints", "ident", "reader", "tokenizer", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ident: int):
        self.reader = reader
        self.writer = writer
        self.ident = ident
        self.tokenizer = Tokenizer()
        self.broadcast = True
        self.complaints = 0


def check_socket_path(path: Path) -> None:
    """Refuse a path the kernel cannot bind, naming it."""
    size = len(os.fsencode(str(path)))
    if size > MAX_SOCKET_PATH:
        raise SocketError(
            f"socket path {path} is {size} bytes long; Unix sockets allow at most "
            f"{MAX_SOCKET_PATH} (use a shorter statepath or UPS name)"
        )


class DriverSocketServer:
    """Serve one :class:`DriverState` on a Unix socket."""

    def __init__(self, path: Path, dstate: DriverState, handler: Handler) -> None:
        self.path = path
        self.dstate = dstate
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._clients: dict[int, _Client] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_ident = 1
        #: Serialises calls into the driver (polls, commands, SETs).
        self.lock = asyncio.Lock()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        check_socket_path(self.path)
        self._remove_stale()
        old_umask = os.umask(0o007)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        except OSError as exc:
            raise SocketError(f"cannot listen on {self.path}: {exc.strerror or exc}") from None
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o660)
        self.dstate.sink = self.broadcast

    def _remove_stale(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SocketError(f"cannot check {self.path}: {exc.strerror}") from None
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketError(f"{self.path} exists and is not a socket; not removing it")
        log.debug("removing stale socket %s", self.path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def close(self) -> None:
        """Stop listening, remove the socket file, drop every client."""
        self.dstate.sink = lambda line: None
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self._server = None
        for client in list(self._clients.values()):
            self._drop(client, None)  # aborted: each client's task reads EOF and ends
        if self._tasks:
            # Let them end so rather than cancel them: Python 3.11's streams log a
            # cancelled client task as an unhandled error (a traceback at every
            # stop).  One busy in a handler past the bound is cancelled.
            _done, busy = await asyncio.wait(list(self._tasks), timeout=CLOSE_WAIT)
            for task in busy:
                task.cancel()
            if busy:
                await asyncio.gather(*busy, return_exceptions=True)

    # -- writing -----------------------------------------------------------------
    def broadcast(self, line: str) -> None:
        for client in list(self._clients.values()):
            if client.broadcast:
                self._send(client, line)

    def _send(self, client: _Client, data: str) -> bool:
        if client.ident not in self._clients:
            return False
        transport = client.writer.transport
        if transport.is_closing():
            self._drop(client, "connection closed")
            return False
        client.writer.write(data.encode("ascii", "replace"))
        if transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
            self._drop(client, "client does not read; dropping it")
            return False
        return True

    def _drop(self, client: _Client, reason: str | None) -> None:
        if self._clients.pop(client.ident, None) is None:
            return
        if reason:
            log.warning("socket client %d: %s", client.ident, reason)
        client.writer.transport.abort()

    # -- reading -----------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(reader, writer, self._next_ident)
        self._next_ident += 1
        self._clients[client.ident] = client
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        log.debug("socket client %d connected", client.ident)
        try:
            while client.ident in self._clients:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                for line in client.tokenizer.feed(data):
                    if client.ident not in self._clients:
                        break
                    if line.error is not None:
                        self._complain(client, f"parse error: {line.error}")
                    elif line.words:
                        await self._handle(client, line.words)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._drop(client, None)
            if task is not None:
                self._tasks.discard(task)
            log.debug("socket client %d gone", client.ident)

    def _complain(self, client: _Client, text: str) -> None:
        client.complaints += 1
        if client.complaints <= MAX_COMPLAINTS:
            log.info("socket client %d: %s", client.ident, text)
        elif client.complaints == MAX_COMPLAINTS + 1:
            log.info("socket client %d: further complaints suppressed", client.ident)

    async def _handle(self, client: _Client, words: tuple[str, ...]) -> None:
        cmd = parse_command(words)
        if cmd is None:
            self._complain(client, f"unknown command on socket: {' '.join(words)[:200]!r}")
            return
        if isinstance(cmd, DumpAll):
            self._send(client, "".join(self.dstate.dump_lines()))
        elif isinstance(cmd, Ping):
            self._send(client, serialize(Pong()))
        elif isinstance(cmd, DumpValue):
            self._send(client, "".join(self.dstate.dump_lines(cmd.name)))
        elif isinstance(cmd, NoBroadcast):
            client.broadcast = False
        elif isinstance(cmd, Broadcast):
            client.broadcast = cmd.enabled
        elif isinstance(cmd, GetPid):
            self._send(client, serialize(Pid(str(os.getpid()))))
        elif isinstance(cmd, Logout):
            self._send(client, serialize(Goodbye()))
            await asyncio.sleep(LOGOUT_LINGER)
            self._drop(client, None)
        elif isinstance(cmd, InstCmd):
            ic = cmd
            result = await self._call(f"instant command {ic.name}",
                                      lambda: self.handler.instcmd(ic.name, ic.param))
            if cmd.tracking is not None:
                self._send(client, tracking_line(cmd.tracking, result))
        elif isinstance(cmd, SetVar):
            sv = cmd
            result = await self._call(f"SET {sv.name}",
                                      lambda: self.handler.setvar(sv.name, sv.value))
            if cmd.tracking is not None:
                self._send(client, tracking_line(cmd.tracking, result))

    async def _call(self, what: str, call: Callable[[], Awaitable[int]]) -> int:
        async with self.lock:
            try:
                result = await call()
            except Exception:
                log.exception("%s failed", what)
                return int(TrackingResult.FAILED)
        return int(result)
