"""Blocking client: a socket adapter around :class:`ClientConnection`.

Each public method runs one operation of the sans-IO core to completion
under one deadline (``timeout`` seconds for the whole exchange, LIST
included).  A network failure, a timeout or a garbled answer closes the
connection - the stream may be out of step with the requests - and raises;
an ``ERR`` reply raises :class:`ServerError` and leaves the connection open.

>>> with Client("127.0.0.1", 3493) as c:          # doctest: +SKIP
...     c.get_var("myups", "battery.charge")
'100'
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import ssl
import time
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


class Client:
    """A blocking connection to one upsd.

    ``Client(host, port, timeout)`` connects at once; use it as a context
    manager so that it says LOGOUT and closes.  Methods mirror RFC 9271's
    commands; see docs/client.md.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        timeout: float = 10.0,
        *,
        connect: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._conn = ClientConnection()
        self._plan = SessionPlan()
        if connect:
            self.connect()

    def __repr__(self) -> str:
        state = "closed" if self._sock is None else "open"
        return f"<Client {self.host}:{self.port} {state}>"

    # -- connection -------------------------------------------------------------
    def connect(self) -> None:
        """Open the TCP connection (every address of the host in turn)."""
        self.close()
        try:
            sock = self._open_first()
        except (OSError, UnicodeError, ValueError) as exc:
            raise connect_error(exc, self.host, self.port) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._conn = ClientConnection()

    def _open_first(self) -> socket.socket:
        """Try each address in turn within the timeout; raise the last error, as NUT."""
        deadline = time.monotonic() + self.timeout
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        last: OSError = OSError(errno.EHOSTUNREACH, os.strerror(errno.EHOSTUNREACH))
        for family, kind, proto, _, addr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self._remaining(deadline))
                sock.connect(addr)
            except OSError as exc:  # TimeoutError included
                sock.close()
                last = exc
                continue
            return sock
        raise last

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        """Close without a LOGOUT (see :meth:`logout` for the polite way)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sock is not None and exc_type is None:
            with contextlib.suppress(ServerError, NutConnectionError, ProtocolError):
                self.logout()
        self.close()

    def reconnect(self, attempts: int = 3, delay: float = 1.0) -> None:
        """Connect again and replay STARTTLS, USERNAME/PASSWORD and LOGIN.

        Tries up to ``attempts`` times, ``delay`` seconds apart; raises the
        last :class:`NutConnectionError`.
        """
        last: NutConnectionError | None = None
        for i in range(max(1, attempts)):
            if i:
                time.sleep(delay)
            try:
                self.connect()
                self._replay()
                return
            except NutConnectionError as exc:
                last = exc
        assert last is not None
        raise last

    def _replay(self) -> None:
        plan = self._plan
        self._plan = SessionPlan()
        if plan.tls is not None:
            context, name, pin = plan.tls
            self.starttls(context, name, pin=pin)
        if plan.user is not None and plan.secret is not None:
            self.authenticate(plan.user, plan.secret.reveal())
        if plan.login is not None:
            self.login(plan.login)
        if plan.primary is not None:
            self.primary(plan.primary)

    # -- the engine -------------------------------------------------------------
    def run(self, op: Op[T]) -> T:
        """Drive one sans-IO operation over the socket, within the timeout."""
        sock = self._sock
        if sock is None:
            op.close()
            raise NutConnectionError(Failure.DISCONNECTED, self.host, self.port, "not connected")
        deadline = time.monotonic() + self.timeout
        exchange = Exchange(self._conn, op)
        out = exchange.start()  # ValueError here: nothing sent, still usable
        try:
            while True:
                if out:
                    self._send(sock, out, deadline)
                if exchange.done:
                    return exchange.result
                out = exchange.receive(self._recv_reply(sock, deadline))
        except ServerError:
            raise
        except BaseException:
            self.close()
            raise

    def _send(self, sock: socket.socket, data: bytes, deadline: float) -> None:
        try:
            sock.settimeout(self._remaining(deadline))
            sock.sendall(data)
        except TimeoutError:
            raise self._timeout() from None
        except OSError as exc:
            raise NutConnectionError(Failure.WRITE, self.host, self.port, _reason(exc)) from None

    def _recv_reply(self, sock: socket.socket, deadline: float) -> Received:
        while (received := self._conn.next_reply()) is None:
            try:
                sock.settimeout(self._remaining(deadline))
                data = sock.recv(_RECV)
            except TimeoutError:
                raise self._timeout() from None
            except OSError as exc:
                raise NutConnectionError(Failure.READ, self.host, self.port, _reason(exc)) from None
            if not data:
                raise NutConnectionError(Failure.DISCONNECTED, self.host, self.port)
            self._conn.receive_data(data)
        return received

    def _timeout(self) -> NutTimeoutError:
        return NutTimeoutError(Failure.TIMEOUT, self.host, self.port, f"{self.timeout}s")

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    # -- session ------------------------------------------------------------------
    def starttls(self, context: ssl.SSLContext, server_hostname: str | None = None,
                 *, pin: str | None = None) -> None:
        """Send STARTTLS, expect ``OK STARTTLS``, then handshake on the socket.

        Raises :class:`FeatureNotAvailable` if the server has no TLS (the
        connection stays usable in clear text).  A failed handshake, or a
        certificate whose SHA-256 does not match ``pin``, closes the
        connection and raises :class:`NutConnectionError`.
        """
        self.run(self._conn.starttls())
        sock = self._sock
        assert sock is not None
        if self._conn.has_partial:
            self.close()
            raise ProtocolError("data after OK STARTTLS before the handshake")
        try:
            sock.settimeout(self.timeout)
            tls = context.wrap_socket(sock, server_hostname=server_hostname or self.host)
            self._sock = tls
            if pin is not None:
                check_pin(tls, pin)
        except (ssl.SSLError, OSError) as exc:
            self.close()
            raise NutConnectionError(Failure.TLS, self.host, self.port, _reason(exc)) from None
        self._conn.tls = True
        self._plan.tls = (context, server_hostname, pin)

    def secure(self, settings: TlsSettings) -> bool:
        """Apply a STARTTLS policy right after connecting; True if TLS is on.

        A server that refuses STARTTLS leaves the connection in clear text,
        unless the settings require TLS: then the connection is closed and
        :class:`NutConnectionError` (``SSL error: server refused STARTTLS``)
        raised.  A CA or certificate file that cannot be read raises
        OSError/ssl.SSLError before anything is sent.
        """
        if settings.mode is TlsMode.OFF or self._conn.tls:
            return self._conn.tls
        context = settings.context()
        try:
            self.starttls(context, settings.server_name, pin=settings.pin)
        except ProtocolError:
            # Not "OK STARTTLS" and not ERR: NUT's clients take any other
            # answer as "no TLS here".  The stream may be out of step, so
            # carry on in clear text on a fresh connection.
            if settings.required:
                raise
            self.connect()
            return False
        except ServerError as exc:
            if settings.required:
                self.close()
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

    def ver(self) -> str:
        """The server's banner, e.g. ``Network UPS Tools upsd 2.8.0 - ...``."""
        return self.run(self._conn.ver())

    def protver(self) -> str:
        """Protocol version (``1.3``); :meth:`netver` is the legacy spelling."""
        return self.run(self._conn.protver())

    def netver(self) -> str:
        return self.run(self._conn.protver("NETVER"))

    def help(self) -> str:
        return self.run(self._conn.help())

    def username(self, name: str) -> None:
        self.run(self._conn.username(name))

    def password(self, password: str) -> None:
        self.run(self._conn.password(password))

    def authenticate(self, user: str, password: str) -> None:
        """USERNAME then PASSWORD; upsd checks them on the first privileged command."""
        self.username(user)
        self.password(password)
        self._plan.user, self._plan.secret = user, Secret(password)

    def login(self, ups: str) -> None:
        """LOGIN (upsmon's registration; counted by ``num_logins``)."""
        self.run(self._conn.login(ups))
        self._plan.login = ups

    def attach(self, ups: str) -> None:
        """RFC 9271's name for LOGIN (NUT 2.8.0's upsd does not know it)."""
        self.run(self._conn.login(ups, "ATTACH"))
        self._plan.login = ups

    def logout(self) -> str:
        """Say goodbye; the server closes the connection after ``OK Goodbye``."""
        text = self.run(self._conn.logout())
        self._plan.login = None
        return text

    def detach(self) -> str:
        text = self.run(self._conn.logout("DETACH"))
        self._plan.login = None
        return text

    def primary(self, ups: str) -> str:
        """Claim the primary role for ``ups`` (answer text: ``PRIMARY-GRANTED``)."""
        text = self.run(self._conn.primary(ups))
        self._plan.primary = ups
        return text

    def master(self, ups: str) -> str:
        text = self.run(self._conn.primary(ups, "MASTER"))
        self._plan.primary = ups
        return text

    def fsd(self, ups: str) -> str:
        """Set the forced-shutdown flag on ``ups`` (needs the FSD right)."""
        return self.run(self._conn.fsd(ups))

    # -- GET ------------------------------------------------------------------------
    def get_var(self, ups: str, var: str) -> str:
        """One variable's value: ``c.get_var("ups", "ups.status") -> "OL"``."""
        return self.run(self._conn.get_var(ups, var))

    def get_type(self, ups: str, var: str) -> VarType:
        return self.run(self._conn.get_type(ups, var))

    def get_desc(self, ups: str, var: str) -> str:
        return self.run(self._conn.get_desc(ups, var))

    def get_cmddesc(self, ups: str, cmd: str) -> str:
        return self.run(self._conn.get_cmddesc(ups, cmd))

    def get_upsdesc(self, ups: str) -> str:
        return self.run(self._conn.get_upsdesc(ups))

    def num_logins(self, ups: str) -> int:
        return self.run(self._conn.num_logins(ups))

    def num_attach(self, ups: str) -> int:
        """RFC 9271's NUMATTACH (NUT 2.8.0's upsd answers only NUMLOGINS)."""
        return self.run(self._conn.num_logins(ups, "NUMATTACH"))

    # -- LIST -----------------------------------------------------------------------
    def list_ups(self) -> list[UpsEntry]:
        return self.run(self._conn.list_ups())

    def list_var(self, ups: str) -> dict[str, str]:
        """All variables, in the server's order: ``{"battery.charge": "100", ...}``."""
        return self.run(self._conn.list_var(ups))

    def list_rw(self, ups: str) -> dict[str, str]:
        return self.run(self._conn.list_rw(ups))

    def list_cmd(self, ups: str) -> list[str]:
        return self.run(self._conn.list_cmd(ups))

    def list_enum(self, ups: str, var: str) -> list[str]:
        return self.run(self._conn.list_enum(ups, var))

    def list_range(self, ups: str, var: str) -> list[Range]:
        return self.run(self._conn.list_range(ups, var))

    def list_client(self, ups: str) -> list[ClientEntry]:
        return self.run(self._conn.list_client(ups))

    def commands(self, ups: str) -> list[Command]:
        """Instant commands with descriptions (one timeout per command)."""
        return [Command(n, self.get_cmddesc(ups, n)) for n in self.list_cmd(ups)]

    def describe_var(self, ups: str, var: str) -> Variable:
        """Value, description, type, enum and range of one variable."""
        return self.run(self._conn.describe_var(ups, var))

    # -- SET / INSTCMD / TRACKING -----------------------------------------------------
    def set_var(self, ups: str, var: str, value: str) -> str | None:
        """SET VAR; returns the tracking id when tracking is on, else None."""
        return self.run(self._conn.set_var(ups, var, value))

    def instcmd(self, ups: str, cmd: str, param: str | None = None) -> str | None:
        """INSTCMD with optional parameter; returns the tracking id or None."""
        return self.run(self._conn.instcmd(ups, cmd, param))

    def set_tracking(self, on: bool = True) -> None:
        self.run(self._conn.set_tracking(on))

    @overload
    def get_tracking(self) -> bool: ...
    @overload
    def get_tracking(self, ident: str) -> TrackingStatus: ...
    def get_tracking(self, ident: str | None = None) -> bool | TrackingStatus:
        """Without id: is tracking on for this connection.  With id: its status."""
        if ident is None:
            return self.run(self._conn.get_tracking_mode())
        return self.run(self._conn.get_tracking_status(ident))

    def wait_tracking(
        self, ident: str, timeout: float = 10.0, interval: float = 0.5
    ) -> TrackingStatus:
        """Poll ``GET TRACKING id`` until it is no longer PENDING.

        Raises :class:`TrackingTimeout` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_tracking(ident)
            if status.done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                raise TrackingTimeout(f"tracking {ident} still PENDING after {timeout}s")
            time.sleep(min(interval, left))


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
