"""asyncio client: a stream adapter around :class:`ClientConnection`.

Same contract as :class:`pnut.client.Client`: one deadline per call, ERR
raises :class:`ServerError` and keeps the connection, anything else
(network failure, timeout, cancellation, garbled answer) closes it.  Calls
on one client are serialized by a lock, so tasks may share it.

>>> async def main():                               # doctest: +SKIP
...     async with AsyncClient("127.0.0.1", 3493) as c:
...         return await c.list_var("myups")
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar, overload

from pnut.client.core import ClientConnection, Exchange, Op, Received
from pnut.client.errors import (
    Failure,
    NutConnectionError,
    NutTimeoutError,
    ProtocolError,
    ServerError,
    TrackingTimeout,
)
from pnut.client.models import (
    ClientEntry,
    Command,
    Range,
    TrackingStatus,
    UpsEntry,
    Variable,
    VarType,
)
from pnut.client.session import Secret, SessionPlan, connect_error
from pnut.client.tls import TlsMode, TlsSettings
from pnut.protocol.limits import DEFAULT_PORT
from pnut.tls.contexts import check_pin

T = TypeVar("T")

_RECV = 65536


class AsyncClient:
    """An asyncio connection to one upsd.

    Create with ``await AsyncClient.connect(host, port)`` or
    ``async with AsyncClient(host, port) as c:`` (connects on entry, says
    LOGOUT and closes on exit).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, timeout: float = 10.0
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        #: Seconds to wait for each reply within an operation (None: only
        #: ``timeout`` for the whole operation).  A follower sets it so a
        #: server that stops answering in the middle of a long operation is
        #: given up on in that time, not after the whole operation's timeout.
        self.reply_timeout: float | None = None
        #: Called after each complete reply (a follower's sign of life).
        self.on_reply: Callable[[], None] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn = ClientConnection()
        self._plan = SessionPlan()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        state = "closed" if self._writer is None else "open"
        return f"<AsyncClient {self.host}:{self.port} {state}>"

    # -- connection -------------------------------------------------------------
    @classmethod
    async def connect(
        cls, host: str = "127.0.0.1", port: int = DEFAULT_PORT, timeout: float = 10.0
    ) -> AsyncClient:
        """A connected client."""
        client = cls(host, port, timeout)
        await client.open()
        return client

    async def open(self) -> None:
        """Open the TCP connection (closing any previous one first)."""
        await self.close()
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._open_first()
        except TimeoutError:
            raise NutTimeoutError(
                Failure.CONNECT, self.host, self.port, "Connection timed out"
            ) from None
        except (OSError, UnicodeError, ValueError) as exc:
            raise connect_error(exc, self.host, self.port) from None
        self._reader, self._writer = reader, writer
        self._conn = ClientConnection()

    async def _open_first(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Try each address of the host in turn, like NUT; raise the last error."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        last: OSError = OSError(errno.EHOSTUNREACH, os.strerror(errno.EHOSTUNREACH))
        for family, _, proto, _, addr in infos:
            sock = socket.socket(family, socket.SOCK_STREAM, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, addr)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            except BaseException:
                sock.close()
                raise
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return await asyncio.open_connection(sock=sock)
        raise last

    @property
    def connected(self) -> bool:
        return self._writer is not None

    @property
    def engine(self) -> ClientConnection:
        """The sans-IO connection, to build operations for :meth:`run`
        (e.g. ``client.run(poll_server(client.engine))``)."""
        return self._conn

    def abort(self) -> None:
        """Drop a connection that failed, at once: no LOGOUT, no TLS close_notify,
        no wait for a peer that may be gone."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.transport.abort()

    async def close(self) -> None:
        """Close without a LOGOUT."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError, ssl.SSLError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def __aenter__(self) -> AsyncClient:
        if self._writer is None:
            await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None and exc_type is None:
            with contextlib.suppress(ServerError, NutConnectionError, ProtocolError):
                await self.logout()
        await self.close()

    async def reconnect(self, attempts: int = 3, delay: float = 1.0) -> None:
        """Connect again and replay STARTTLS, USERNAME/PASSWORD, LOGIN, PRIMARY."""
        last: NutConnectionError | None = None
        for i in range(max(1, attempts)):
            if i:
                await asyncio.sleep(delay)
            try:
                await self.open()
                await self._replay()
                return
            except NutConnectionError as exc:
                last = exc
        assert last is not None
        raise last

    async def _replay(self) -> None:
        plan = self._plan
        self._plan = SessionPlan()
        if plan.tls is not None:
            context, name, pin = plan.tls
            await self.starttls(context, name, pin=pin)
        if plan.user is not None and plan.secret is not None:
            await self.authenticate(plan.user, plan.secret.reveal())
        if plan.login is not None:
            await self.login(plan.login)
        if plan.primary is not None:
            await self.primary(plan.primary)

    # -- the engine -------------------------------------------------------------
    async def run(self, op: Op[T]) -> T:
        """Drive one sans-IO operation over the streams, within the timeout."""
        async with self._lock:
            return await self._run_locked(op)

    async def _run_locked(self, op: Op[T]) -> T:
        reader, writer = self._reader, self._writer
        if reader is None or writer is None:
            op.close()
            raise NutConnectionError(Failure.DISCONNECTED, self.host, self.port, "not connected")
        exchange = Exchange(self._conn, op)
        out = exchange.start()  # ValueError here: nothing sent, still usable
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    if out:
                        writer.write(out)
                        await writer.drain()
                    if exchange.done:
                        return exchange.result
                    out = exchange.receive(await self._recv_within(reader))
        except ServerError:
            raise
        except TimeoutError:
            self.abort()
            raise NutTimeoutError(
                Failure.TIMEOUT, self.host, self.port, self._timeout_text()
            ) from None
        except (ConnectionError, OSError) as exc:
            self.abort()
            if isinstance(exc, NutConnectionError):
                raise
            raise NutConnectionError(Failure.READ, self.host, self.port, _reason(exc)) from None
        except BaseException:
            self.abort()
            raise

    async def _recv_within(self, reader: asyncio.StreamReader) -> Received:
        if self.reply_timeout is None:
            received = await self._recv_reply(reader)
        else:
            async with asyncio.timeout(self.reply_timeout):
                received = await self._recv_reply(reader)
        if self.on_reply is not None:
            self.on_reply()
        return received

    def _timeout_text(self) -> str:
        if self.reply_timeout is not None and self.reply_timeout < self.timeout:
            return f"{self.reply_timeout:g}s"
        return f"{self.timeout}s"

    async def _recv_reply(self, reader: asyncio.StreamReader) -> Received:
        while (received := self._conn.next_reply()) is None:
            data = await reader.read(_RECV)
            if not data:
                raise NutConnectionError(Failure.DISCONNECTED, self.host, self.port)
            self._conn.receive_data(data)
        return received

    # -- session ------------------------------------------------------------------
    async def starttls(self, context: ssl.SSLContext, server_hostname: str | None = None,
                       *, pin: str | None = None) -> None:
        """Send STARTTLS, expect ``OK STARTTLS``, then upgrade the stream to TLS.

        Same contract as :meth:`pnut.client.Client.starttls` (``pin``: the
        SHA-256 fingerprint the server certificate must have).
        """
        async with self._lock:
            await self._run_locked(self._conn.starttls())
            writer = self._writer
            assert writer is not None
            if self._conn.has_partial:
                await self.close()
                raise ProtocolError("data after OK STARTTLS before the handshake")
            try:
                async with asyncio.timeout(self.timeout):
                    await writer.start_tls(context, server_hostname=server_hostname or self.host)
                if pin is not None:
                    sslobj = writer.get_extra_info("ssl_object")
                    if sslobj is None:
                        raise ssl.SSLError("no TLS session after the handshake")
                    check_pin(sslobj, pin)
            except (ssl.SSLError, OSError, TimeoutError) as exc:
                await self.close()
                raise NutConnectionError(Failure.TLS, self.host, self.port, _reason(exc)) from None
            self._conn.tls = True
            self._plan.tls = (context, server_hostname, pin)

    async def secure(self, settings: TlsSettings) -> bool:
        """Apply a STARTTLS policy right after connecting; True if TLS is on.

        Same contract as :meth:`pnut.client.Client.secure`.
        """
        if settings.mode is TlsMode.OFF or self._conn.tls:
            return self._conn.tls
        context = settings.context()
        try:
            await self.starttls(context, settings.server_name, pin=settings.pin)
        except ProtocolError:
            # Not "OK STARTTLS" and not ERR: NUT's clients take any other
            # answer as "no TLS here".  The stream may be out of step, so
            # carry on in clear text on a fresh connection.
            if settings.required:
                raise
            await self.open()
            return False
        except ServerError as exc:
            if settings.required:
                await self.close()
                raise NutConnectionError(Failure.TLS, self.host, self.port,
                                         f"server refused STARTTLS: ERR {exc.name}") from None
            return False
        return True

    @property
    def tls(self) -> bool:
        return self._conn.tls

    @property
    def last_line(self) -> str:
        """The last reply line exactly as the server sent it (for NUT's CLIs)."""
        return self._conn.last_line

    async def ver(self) -> str:
        return await self.run(self._conn.ver())

    async def protver(self) -> str:
        return await self.run(self._conn.protver())

    async def netver(self) -> str:
        return await self.run(self._conn.protver("NETVER"))

    async def help(self) -> str:
        return await self.run(self._conn.help())

    async def username(self, name: str) -> None:
        await self.run(self._conn.username(name))

    async def password(self, password: str) -> None:
        await self.run(self._conn.password(password))

    async def authenticate(self, user: str, password: str) -> None:
        """USERNAME then PASSWORD (checked by upsd on the first privileged command)."""
        await self.username(user)
        await self.password(password)
        self._plan.user, self._plan.secret = user, Secret(password)

    async def login(self, ups: str) -> None:
        await self.run(self._conn.login(ups))
        self._plan.login = ups

    async def attach(self, ups: str) -> None:
        await self.run(self._conn.login(ups, "ATTACH"))
        self._plan.login = ups

    async def logout(self) -> str:
        text = await self.run(self._conn.logout())
        self._plan.login = None
        return text

    async def detach(self) -> str:
        text = await self.run(self._conn.logout("DETACH"))
        self._plan.login = None
        return text

    async def primary(self, ups: str) -> str:
        text = await self.run(self._conn.primary(ups))
        self._plan.primary = ups
        return text

    async def master(self, ups: str) -> str:
        text = await self.run(self._conn.primary(ups, "MASTER"))
        self._plan.primary = ups
        return text

    async def fsd(self, ups: str) -> str:
        return await self.run(self._conn.fsd(ups))

    # -- GET ------------------------------------------------------------------------
    async def get_var(self, ups: str, var: str) -> str:
        return await self.run(self._conn.get_var(ups, var))

    async def get_type(self, ups: str, var: str) -> VarType:
        return await self.run(self._conn.get_type(ups, var))

    async def get_desc(self, ups: str, var: str) -> str:
        return await self.run(self._conn.get_desc(ups, var))

    async def get_cmddesc(self, ups: str, cmd: str) -> str:
        return await self.run(self._conn.get_cmddesc(ups, cmd))

    async def get_upsdesc(self, ups: str) -> str:
        return await self.run(self._conn.get_upsdesc(ups))

    async def num_logins(self, ups: str) -> int:
        return await self.run(self._conn.num_logins(ups))

    async def num_attach(self, ups: str) -> int:
        return await self.run(self._conn.num_logins(ups, "NUMATTACH"))

    # -- LIST -----------------------------------------------------------------------
    async def list_ups(self) -> list[UpsEntry]:
        return await self.run(self._conn.list_ups())

    async def list_var(self, ups: str) -> dict[str, str]:
        return await self.run(self._conn.list_var(ups))

    async def list_rw(self, ups: str) -> dict[str, str]:
        return await self.run(self._conn.list_rw(ups))

    async def list_cmd(self, ups: str) -> list[str]:
        return await self.run(self._conn.list_cmd(ups))

    async def list_enum(self, ups: str, var: str) -> list[str]:
        return await self.run(self._conn.list_enum(ups, var))

    async def list_range(self, ups: str, var: str) -> list[Range]:
        return await self.run(self._conn.list_range(ups, var))

    async def list_client(self, ups: str) -> list[ClientEntry]:
        return await self.run(self._conn.list_client(ups))

    async def commands(self, ups: str) -> list[Command]:
        return [Command(n, await self.get_cmddesc(ups, n)) for n in await self.list_cmd(ups)]

    async def describe_var(self, ups: str, var: str) -> Variable:
        return await self.run(self._conn.describe_var(ups, var))

    # -- SET / INSTCMD / TRACKING -----------------------------------------------------
    async def set_var(self, ups: str, var: str, value: str) -> str | None:
        return await self.run(self._conn.set_var(ups, var, value))

    async def instcmd(self, ups: str, cmd: str, param: str | None = None) -> str | None:
        return await self.run(self._conn.instcmd(ups, cmd, param))

    async def set_tracking(self, on: bool = True) -> None:
        await self.run(self._conn.set_tracking(on))

    @overload
    async def get_tracking(self) -> bool: ...
    @overload
    async def get_tracking(self, ident: str) -> TrackingStatus: ...
    async def get_tracking(self, ident: str | None = None) -> bool | TrackingStatus:
        if ident is None:
            return await self.run(self._conn.get_tracking_mode())
        return await self.run(self._conn.get_tracking_status(ident))

    async def wait_tracking(
        self, ident: str, timeout: float = 10.0, interval: float = 0.5
    ) -> TrackingStatus:
        """Poll ``GET TRACKING id`` until done; :class:`TrackingTimeout` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.get_tracking(ident)
            if status.done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                raise TrackingTimeout(f"tracking {ident} still PENDING after {timeout}s")
            await asyncio.sleep(min(interval, left))


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
