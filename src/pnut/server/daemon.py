"""The upsd process: configuration, listeners, client connections, drivers.

How this works
--------------
:class:`Upsd` loads upsd.conf, ups.conf and upsd.users into one
:class:`Config`, binds the LISTEN addresses, and keeps one
:class:`~pnut.server.driverlink.DriverLink` per UPS.  A one-second tick
drives reconnects and staleness, drops idle clients and purges old
TRACKING entries.  SIGHUP builds a new :class:`Config`; only if that
succeeds is it applied (drivers whose socket changed are reconnected,
removed UPSes dropped with their logins), so a bad edit never takes a
running upsd down.

Each client connection is a :class:`ClientProtocol`: bytes go through the
bounded :class:`~pnut.protocol.tokens.Tokenizer`, each line through the
sans-IO :class:`~pnut.server.session.Session`, and the replies of one read
are written with one ``write``.  All defences live here, in one place:
MAXCONN and MAXCONN_PER_ADDRESS (extra connections are closed at once),
the idle timeout, the line timeout (a request must be complete within
LINE_TIMEOUT of its first byte, so a client trickling bytes holds nothing
for long), the TLS handshake timeout, and a cap on unsent reply bytes (a
client that never reads is dropped, as NUT drops a client whose write
fails).  The tokenizer bounds what one unfinished line can hold.  Failed
logins are counted per address by the session's
:class:`~pnut.server.guard.AddressGuard`.

STARTTLS: after ``OK STARTTLS`` the plain-text tokenizer is discarded, and
a client that sent anything after STARTTLS before the handshake is dropped
(bytes injected in clear text must never be read as if they came over TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import signal
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from pnut.config.parser import ConfigError
from pnut.config.ups_conf import UpsConf, load_ups_conf
from pnut.config.upsd_conf import UpsdConf, load_upsd_conf
from pnut.config.users import Users, load_users
from pnut.protocol.tokens import Line, Tokenizer
from pnut.server.descriptions import Descriptions
from pnut.server.driverlink import DriverLink
from pnut.server.mdns import Announcer
from pnut.server.replycache import ReplyCache
from pnut.server.session import Context, Session
from pnut.server.store import UpsEntry
from pnut.tls.contexts import server_context

log = logging.getLogger("pnut.upsd")

#: Unsent reply bytes one client may have queued before it is dropped.
MAX_CLIENT_BACKLOG = 1024 * 1024
#: Reply bytes gathered from one read before they are handed to the socket.
_FLUSH_AT = 64 * 1024
#: Bytes of one read, and requests, handled per loop pass (the rest waits its turn).
_SLICE = 16 * 1024
_LINES_PER_PASS = 64
#: Seconds between housekeeping passes.
TICK = 1.0
#: Overrides upsd.conf IDLE_TIMEOUT (older tests set it).
_IDLE_ENV = "PNUT_UPSD_IDLE_TIMEOUT"
_monotonic = time.monotonic
#: A certificate expiring sooner than this is worth a warning at start-up.
_EXPIRY_WARNING = 30 * 86400
#: listen() backlog (NUT uses 16; a deep queue rides out connect bursts that
#: would otherwise cost clients a 1-second SYN retry).
LISTEN_BACKLOG = 1024


class StartupError(Exception):
    """A reason upsd cannot start, worded for one line on stderr."""


@dataclass
class UpsDef:
    name: str
    socket: str
    desc: str | None


@dataclass
class Config:
    upsd: UpsdConf
    upses: list[UpsDef]
    users: Users
    statepath: Path
    descriptions: Descriptions
    #: Server TLS context when CERTFILE is set (STARTTLS is refused without).
    tls: ssl.SSLContext | None = None


def _tls_context(conf: UpsdConf) -> ssl.SSLContext | None:
    certfile = conf.certfile
    if certfile is None:
        if conf.certpath is not None or conf.certident is not None:
            log.warning("%s: CERTPATH/CERTIDENT are settings of NUT's NSS builds; pnut needs "
                        "CERTFILE (one PEM file with certificate chain and key)", conf.path)
        if not conf.wants_own_certificate:
            return None
        certfile = _own_certificate(conf)
    try:
        context = server_context(certfile, allow_tls12=conf.tls_min_version == "1.2")
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(conf.path, None,
                          f"CERTFILE {certfile}: cannot load certificate and key: "
                          f"{reason}") from None
    if conf.certrequest and conf.clientcafile is not None:
        try:
            trust = Path(conf.clientcafile)
            if trust.is_dir():
                context.load_verify_locations(capath=str(trust))
            else:
                context.load_verify_locations(cafile=str(trust))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(conf.path, None, f"CLIENTCAFILE {conf.clientcafile}: cannot "
                              f"load: {reason}") from None
        context.verify_mode = ssl.CERT_REQUIRED if conf.certrequest == 2 else ssl.CERT_OPTIONAL
    elif conf.clientcafile is not None:
        log.warning("%s: CLIENTCAFILE is set but CERTREQUEST is not: client certificates "
                    "are not asked for", conf.path)
    _warn_expiry(certfile)
    return context


def _own_certificate(conf: UpsdConf) -> str:
    """upsd's kept self-signed certificate (pnut.tls.autocert); logged once per process."""
    from pnut.tls import autocert

    hosts = [item.host for item in conf.listen]
    try:
        path, pin, made = autocert.ensure(hosts)
    except OSError as exc:
        raise ConfigError(conf.path, None,
                          f"cannot keep upsd's own certificate in {autocert.state_dir()}: "
                          f"{exc.strerror or exc} - set CERTFILE, or make that directory "
                          "writable") from None
    if not _ANNOUNCED:
        _ANNOUNCED.append(pin)
        remote = conf.remote_listen()
        why = (f"LISTEN {remote.host} ({conf.path}:{remote.lineno}) reaches other hosts"
               if remote is not None else f"REQUIRE_TLS is on ({conf.path})")
        tail = ("clients must use STARTTLS" if conf.tls_required else
                "clients that do not use STARTTLS send passwords in clear text - add "
                "'REQUIRE_TLS yes' to upsd.conf to refuse them (docs/security.md)")
        log.warning("%s and there is no CERTFILE: STARTTLS is offered with upsd's own "
                    "certificate %s%s (sha256 pin %s); %s", why, path,
                    " (new)" if made else "", pin, tail)
    return str(path)


#: The pin of the certificate announced by _own_certificate (once per process).
_ANNOUNCED: list[str] = []


def _warn_expiry(certfile: str) -> None:
    """A certificate that expired (or soon will) makes every handshake fail: say so."""
    from pnut.tls.certs import load_first_cert  # cryptography: only with a CERTFILE

    try:
        cert = load_first_cert(Path(certfile))
    except (OSError, ValueError):
        return
    left = cert.not_valid_after_utc.timestamp() - time.time()
    if left <= 0:
        log.warning("CERTFILE %s expired on %s: clients that check it will refuse it",
                    certfile, f"{cert.not_valid_after_utc:%Y-%m-%d}")
    elif left < _EXPIRY_WARNING:
        log.warning("CERTFILE %s expires on %s", certfile,
                    f"{cert.not_valid_after_utc:%Y-%m-%d}")


def load_config(confdir: Path, statepath: str | None = None) -> Config:
    """Read every file upsd needs; raise ConfigError naming file:line."""
    upsd = load_upsd_conf(confdir)
    ups_conf: UpsConf = load_ups_conf(confdir)
    upses: list[UpsDef] = []
    for sec in ups_conf.upses:
        if sec.driver is None or sec.port is None:
            log.warning("Warning: ignoring incomplete configuration for UPS [%s] "
                        "(%s:%d: needs driver and port)", sec.name, ups_conf.path, sec.lineno)
            continue
        upses.append(UpsDef(sec.name, f"{sec.driver}-{sec.name}", sec.desc))
    if not (confdir / "upsd.users").exists():
        log.warning("%s not found - no user may log in or change anything",
                    confdir / "upsd.users")
        users = Users(str(confdir / "upsd.users"))
    else:
        users = load_users(confdir)
    from pnut.config.check import Problem, upsd_conf_problems, users_problems

    # The checks of 'pnut check-config': logged, never fatal (NUT starts with them).
    for problem in (*upsd_conf_problems(upsd), *map(Problem.from_warning, ups_conf.warnings),
                    *users_problems(users)):
        log.warning("%s", problem)
    return Config(
        upsd=upsd,
        upses=upses,
        users=users,
        statepath=ups_conf.statepath(statepath or upsd.statepath),
        descriptions=Descriptions.load(upsd.datapath),
        tls=_tls_context(upsd),
    )


def _allow_no_device(conf: UpsdConf) -> bool:
    env = os.environ.get("ALLOW_NO_DEVICE")
    if env:
        low = env.lower()
        if low.startswith(("true", "yes", "on", "1")):
            return True
        if low.startswith(("false", "no", "off", "0")):
            return False
    return conf.allow_no_device


class ClientProtocol(asyncio.Protocol):
    """One network client: tokenizer in, session replies out."""

    __slots__ = ("backlog", "daemon", "eof", "last_heard", "line_started", "paused", "pending",
                 "pipelined", "session", "tokenizer", "transport", "upgrading")

    def __init__(self, daemon: Upsd) -> None:
        self.daemon = daemon
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.tokenizer = Tokenizer()
        self.last_heard = _monotonic()
        #: When the first byte of the unfinished request arrived (None: none).
        self.line_started: float | None = None
        #: Requests followed STARTTLS/LOGOUT in the same read.
        self.pipelined = False
        #: Bytes of a big read, and requests, still to be handled (see _schedule).
        self.backlog: memoryview | None = None
        self.pending: list[Line] | None = None
        self.paused = False
        #: The client half-closed while work was queued: close once it is done.
        self.eof = False
        #: During the TLS handshake: decrypted bytes that came before the new transport.
        self.upgrading: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        daemon = self.daemon
        if len(daemon.clients) >= daemon.maxconn:
            daemon.refused += 1
            if daemon.refused == 1 or daemon.refused % 1000 == 0:
                log.warning("MAXCONN (%d) reached: refusing new connections (%d so far)",
                            daemon.maxconn, daemon.refused)
            transport.abort()
            return
        peer = transport.get_extra_info("peername")
        addr = str(peer[0]) if peer else "unknown"
        if not daemon.ctx.guard.connect(addr):
            daemon.refuse_address(addr)
            transport.abort()
            return
        self.transport = transport
        self.session = Session(daemon.ctx, addr)
        daemon.ctx.sessions[self.session] = None
        daemon.clients.add(self)
        log.debug("Connect from %s", addr)

    def data_received(self, data: bytes) -> None:
        if self.upgrading is not None or self.backlog is not None or self.pending \
                or len(data) > _SLICE:
            self._queue(data)
            return
        session = self.session
        if session is not None and session.unrestricted and not self.tokenizer.partial:
            reply = self.daemon.replies.get(data)  # a repeated GET VAR, UPS unchanged
            if reply is not None and self.transport is not None:
                self.last_heard = _monotonic()
                self.transport.write(reply)
                return
        try:  # the common case, kept lean: a small read, nothing queued
            self._received(data)
        except Exception as exc:
            self._internal_error(exc)
        if self.pending:
            self._schedule()

    def _queue(self, data: bytes) -> None:
        if self.upgrading is not None:
            # TLS data can arrive before start_tls() has handed us the new
            # transport: keep it until then (a reply now would go out in clear).
            self.upgrading += data
            return
        if self.backlog is not None or self.pending:
            # A transport that delivers while paused: queue it, keep the order.
            self.backlog = memoryview(bytes(self.backlog or b"") + data)
            return
        self.backlog = memoryview(data)[_SLICE:]
        self._guarded(data[:_SLICE], None)
        self._schedule()

    def _schedule(self) -> None:
        """Fairness: work left over from one read waits for the next loop pass.

        A read is handled in slices of ``_SLICE`` bytes and at most
        ``_LINES_PER_PASS`` requests at a time; meanwhile this client is not
        read from, so a client that floods cannot hold the loop while
        others wait, and its socket buffers push back on it.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            self.backlog = self.pending = None
            return
        if self.backlog is None and not self.pending:
            if self.eof:
                transport.close()
            elif self.paused:
                self.paused = False
                transport.resume_reading()
            return
        if not self.paused:
            self.paused = True
            transport.pause_reading()
        asyncio.get_running_loop().call_soon(self._next_pass)

    def _next_pass(self) -> None:
        if self.transport is None or self.transport.is_closing():
            self.backlog = self.pending = None
            return
        if self.pending:
            lines, self.pending = self.pending, None
            self._guarded(None, lines)
        elif self.backlog is not None:
            rest = self.backlog
            self.backlog = rest[_SLICE:] if len(rest) > _SLICE else None
            self._guarded(bytes(rest[:_SLICE]), None)
        self._schedule()

    def _guarded(self, data: bytes | None, lines: list[Line] | None) -> None:
        try:
            if data is not None:
                self._received(data)
            elif lines is not None:
                self._answer(lines)
        except Exception as exc:
            self._internal_error(exc)

    def _internal_error(self, exc: Exception) -> None:
        """A bug must cost one connection, not the daemon."""
        addr = self.session.addr if self.session else "?"
        log.error("internal error serving %s (connection dropped): %r", addr, exc)
        log.debug("details", exc_info=True)
        if self.transport is not None:
            self.transport.abort()

    def _received(self, data: bytes) -> None:
        tokenizer = self.tokenizer
        whole = not tokenizer.partial  # data starts a fresh line
        lines = tokenizer.feed(data)
        if tokenizer.partial:
            if self.line_started is None or lines:
                self.line_started = _monotonic()
        elif self.line_started is not None:
            self.line_started = None
        if not lines:
            return
        self.last_heard = _monotonic()
        if len(lines) == 1 and lines[0].error is None and not self.pending:
            # The common case, kept lean: one request, one reply, one write.
            session = self.session
            transport = self.transport
            if session is not None and transport is not None:
                words = lines[0].words
                row, text = session.respond(words)
                reply = text.encode()
                transport.write(reply)
                if row is not None and row.cacheable and whole and session.unrestricted \
                        and not tokenizer.partial and data.find(b"\n") == len(data) - 1:
                    self.daemon.replies.put(data, words[2], words[3], reply)
                if session.closing or session.start_tls \
                        or transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
                    self._after(session, transport)
            return
        self._answer(lines)

    def _answer(self, lines: list[Line]) -> None:
        session = self.session
        transport = self.transport
        if session is None or transport is None:
            return
        if len(lines) > _LINES_PER_PASS:
            self.pending = lines[_LINES_PER_PASS:]
            lines = lines[:_LINES_PER_PASS]
        if not self._many(session, transport, lines):
            return
        self._after(session, transport)

    def _after(self, session: Session, transport: asyncio.Transport) -> None:
        """After replies were written: LOGOUT, a client not reading, STARTTLS."""
        if session.closing:
            self.pending = None
            transport.close()
        elif transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
            self._drop("not reading its replies")
        elif session.start_tls:
            session.start_tls = False
            if self.tokenizer.partial or self.pipelined or self.backlog is not None \
                    or self.pending:
                self._drop("sent data after STARTTLS before the TLS handshake")
                return
            self.tokenizer = Tokenizer()
            self.daemon.start_tls(self)

    def _many(self, session: Session, transport: asyncio.Transport, lines: list[Line]) -> bool:
        """Answer several lines from one read; False if the client was dropped."""
        out: list[str] = []
        size = 0
        self.pipelined = False
        for i, line in enumerate(lines):
            if line.error is not None:
                log.info("Parse error on sock: %s", line.error)
                continue
            reply = session.handle(line.words)
            out.append(reply)
            size += len(reply)
            if session.closing or session.start_tls:
                self.pipelined = i + 1 < len(lines)
                break
            if size > _FLUSH_AT:
                transport.write("".join(out).encode())
                out.clear()
                size = 0
                if transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
                    self._drop("not reading its replies")
                    return False
        if out:
            transport.write("".join(out).encode())
        return True

    def _drop(self, why: str) -> None:
        if self.session is not None:
            log.info("Dropping client %s: %s", self.session.addr, why)
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool | None:
        if self.backlog is not None or self.pending:
            self.eof = True  # answer what was read first; _schedule closes after
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        session = self.session
        if session is None:
            return
        self.session = None
        session.close()
        daemon = self.daemon
        daemon.ctx.sessions.pop(session, None)
        daemon.ctx.guard.disconnect(session.addr)
        daemon.clients.discard(self)
        log.debug("Disconnect from %s", session.addr)


class Upsd:
    def __init__(self, confdir: Path, statepath: str | None = None,
                 families: tuple[int, ...] = ()) -> None:
        self.confdir = confdir
        self.statepath_flag = statepath
        self.families = families
        self.config = load_config(confdir, statepath)
        self.ctx = Context()
        self.replies = ReplyCache(self.ctx)
        self.links: dict[str, DriverLink] = {}
        self.clients: set[ClientProtocol] = set()
        self.servers: list[asyncio.Server] = []
        self.maxconn = 0
        self.refused = 0
        self.refused_per_address = 0
        self.idle_timeout = 60.0
        self.line_timeout = 10.0
        self.handshake_timeout = 10.0
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tick_handle: asyncio.TimerHandle | None = None
        self._announcer = Announcer(self.config.upsd)
        self._check_devices(self.config)

    # -- configuration ----------------------------------------------------------
    def _check_devices(self, config: Config) -> None:
        if config.upses:
            return
        if _allow_no_device(config.upsd):
            log.warning("Normally at least one UPS must be defined in ups.conf, currently "
                        "there are none (please configure the file and reload the service)")
            return
        raise StartupError(f"{self.confdir / 'ups.conf'}: at least one UPS must be defined "
                           "(with driver and port), or set ALLOW_NO_DEVICE in upsd.conf")

    def _apply(self, config: Config) -> None:
        """Make ``config`` the running configuration (startup and reload)."""
        old_statepath = self.config.statepath if self.links else None
        self.config = config
        ctx = self.ctx
        ctx.users = config.users
        ctx.descriptions = config.descriptions
        ctx.tracker.delay = float(config.upsd.trackingdelay)
        ctx.tls_ready = config.tls is not None
        conf = config.upsd
        ctx.require_tls = conf.tls_required and config.tls is not None
        ctx.guard.configure(conf.maxconn_per_address, conf.max_login_failures,
                            conf.limit_loopback)
        self.idle_timeout = float(os.environ.get(_IDLE_ENV) or conf.idle_timeout)
        self.line_timeout = conf.line_timeout
        self.handshake_timeout = conf.tls_handshake_timeout
        self.maxconn = conf.maxconn or _open_files_limit()
        wanted = {u.name.lower(): u for u in config.upses}
        for key in [e.name.lower() for e in ctx.store]:
            if key not in wanted:
                self._remove_ups(key)
        for udef in config.upses:
            entry = ctx.store.get(udef.name)
            if entry is not None and (entry.socket != udef.socket
                                      or old_statepath != config.statepath):
                log.info("Redefined UPS [%s]", udef.name)
                self.links.pop(entry.name.lower()).close()
                entry.socket = udef.socket
                entry.name = udef.name
                self._add_link(entry)
            elif entry is None:
                entry = UpsEntry(udef.name, udef.socket, udef.desc)
                ctx.store.add(entry)
                self._add_link(entry)
            entry.desc = udef.desc
            self.links[entry.name.lower()].maxage = config.upsd.maxage
        ctx.store.reorder([u.name for u in config.upses])

    def _add_link(self, entry: UpsEntry) -> None:
        link = DriverLink(entry, self.config.statepath, self.config.upsd.maxage, self.ctx.tracker)
        self.links[entry.name.lower()] = link
        if self._stop is not None:
            link.tick()

    def _remove_ups(self, key: str) -> None:
        entry = self.ctx.store.remove(key)
        if entry is None:
            return
        log.info("Deleting UPS [%s]", entry.name)
        link = self.links.pop(key, None)
        if link is not None:
            link.close()
        for client in list(self.clients):
            session = client.session
            if session is not None and session.loginups is not None \
                    and session.loginups.lower() == key:
                log.info("Kicking client %s (was on UPS [%s])", session.addr, entry.name)
                session.loginups = None
                if client.transport is not None:
                    client.transport.abort()

    def refuse_address(self, addr: str) -> None:
        """Log a connection refused by MAXCONN_PER_ADDRESS, without flooding the log."""
        self.refused_per_address += 1
        if self.ctx.guard.open.get(addr, 0) and (
                self.refused_per_address == 1 or self.refused_per_address % 1000 == 0):
            log.warning("MAXCONN_PER_ADDRESS (%d) reached for %s: refusing its new "
                        "connections (%d refused so far)", self.ctx.guard.max_per_address,
                        addr, self.refused_per_address)

    def reload(self) -> None:
        log.info("SIGHUP: reloading configuration")
        try:
            config = load_config(self.confdir, self.statepath_flag)
            self._check_devices(config)
        except (ConfigError, StartupError) as exc:
            log.error("Reload failed, keeping the running configuration: %s", exc)
            return
        if config.upsd.addresses() != self.config.upsd.addresses():
            log.warning("LISTEN changes take effect only when upsd is restarted")
        self._apply(config)
        log.info("Configuration reloaded: %d UPS, %d users", len(self.ctx.store),
                 len(config.users.users))

    # -- listeners ------------------------------------------------------------------
    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        conf = self.config.upsd
        explicit = bool(conf.listen)
        failures: list[str] = []
        for host, port in conf.addresses():
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            if self.families and family not in self.families and not host[:1].isalpha():
                continue
            try:
                server = await loop.create_server(
                    lambda: ClientProtocol(self), host, port, backlog=LISTEN_BACKLOG,
                    reuse_address=True,
                )
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(
                        f"cannot listen on {host} port {port}: address already in use - is "
                        "another upsd running? Stop it, or choose another port with "
                        "'LISTEN <address> <port>' in upsd.conf"
                    ) from None
                reason = exc.strerror or str(exc)
                msg = f"cannot listen on {host} port {port}: {reason}"
                if explicit and not conf.allow_not_all_listeners:
                    raise StartupError(msg) from None
                log.warning("not listening on %s port %s: %s", host, port, reason)
                failures.append(msg)
                continue
            self.servers.append(server)
            log.info("listening on %s port %s", host, port)
        if not self.servers:
            raise StartupError("no listening interface available"
                               + (f" ({failures[0]})" if failures else ""))

    def start_tls(self, client: ClientProtocol) -> None:
        """Upgrade ``client`` to TLS once ``OK STARTTLS`` is on its way."""
        context = self.config.tls
        transport = client.transport
        if context is None or transport is None:
            client._drop("STARTTLS without a certificate")
            return
        client.upgrading = b""
        task = asyncio.get_running_loop().create_task(self._handshake(client, transport, context))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handshake(self, client: ClientProtocol, transport: asyncio.Transport,
                         context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(transport, client, context, server_side=True,
                                       ssl_handshake_timeout=self.handshake_timeout)
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError) as exc:
            addr = client.session.addr if client.session else "?"
            log.info("TLS handshake with %s failed: %s", addr, exc)
            transport.abort()
            return
        if tls is None or client.session is None:
            transport.abort()
            return
        client.transport = tls
        client.session.tls = True
        client.last_heard = _monotonic()
        early, client.upgrading = client.upgrading, None
        if early:
            client.data_received(early)
        if log.isEnabledFor(logging.DEBUG):
            sslobj = tls.get_extra_info("ssl_object")
            peer = sslobj.getpeercert() if sslobj is not None else None
            subject = dict(x[0] for x in peer.get("subject", ())) if peer else {}
            log.debug("TLS established with %s (%s%s)", client.session.addr,
                      sslobj.version() if sslobj is not None else "?",
                      f", client certificate {subject.get('commonName', '?')}" if peer else "")

    # -- housekeeping ---------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        try:
            for link in list(self.links.values()):
                link.tick(now)
            idle = now - self.idle_timeout
            slow = now - self.line_timeout
            for client in list(self.clients):
                if client.last_heard < idle:
                    client._drop(f"idle for more than {self.idle_timeout:g} seconds")
                elif client.line_started is not None and client.line_started < slow:
                    client._drop(f"a request line took more than {self.line_timeout:g} seconds")
            self.ctx.tracker.purge()
            self.ctx.guard.purge()
        except Exception:  # housekeeping must go on
            log.exception("internal error during housekeeping")
        loop = asyncio.get_running_loop()
        self._tick_handle = loop.call_later(TICK, self._tick)

    # -- run --------------------------------------------------------------------------
    async def serve(self, ready: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._apply(self.config)
        await self._listen()
        for link in self.links.values():
            link.tick()
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self._stop.set)
        self._tick_handle = loop.call_later(TICK, self._tick)
        self._announcer.start()
        if ready is not None:
            ready.set()
        try:
            await self._stop.wait()
        finally:
            log.info("Signal received: exiting")
            await self.shutdown()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def shutdown(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        await self._announcer.stop()
        for server in self.servers:
            server.close()
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.abort()
        for link in self.links.values():
            link.close()
        for server in self.servers:
            await server.wait_closed()


def _open_files_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def raise_open_files_limit() -> None:
    """Let upsd hold as many connections as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
