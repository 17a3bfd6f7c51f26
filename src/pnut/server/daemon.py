"""The upsd process: listeners, driver links, housekeeping, reloads.

How this works
--------------
:class:`Upsd` loads the configuration (:mod:`pnut.server.config`), binds
the LISTEN addresses and keeps one
:class:`~pnut.server.driverlink.DriverLink` per UPS.  A one-second tick
drives reconnects and staleness, drops idle clients and purges old
TRACKING entries.  SIGHUP builds a new :class:`Config`; only if that
succeeds is it applied (drivers whose socket changed are reconnected,
removed UPSes dropped with their logins), so a bad edit never takes a
running upsd down.

Each client is a sans-IO :class:`~pnut.server.connection.Connection` in a
thin :class:`~pnut.server.listener.ClientProtocol` over a
:class:`~pnut.server.transport.SocketTransport`.  The loop is upsd's own
:class:`~pnut.server.evloop.EpollLoop` (:meth:`Upsd.run`: no asyncio in the
process, ~10 MB less resident) unless upsd embeds asyncio code - the
HTTP_LISTEN web server or the zeroconf announcement - when it runs on
asyncio's loop or uvloop (:meth:`Upsd.serve`); :meth:`Upsd.needs_asyncio`
says which.  The daemon
admits or refuses new connections (MAXCONN, MAXCONN_PER_ADDRESS), runs the
TLS handshake after ``OK STARTTLS`` and logs dropped connections through a
rate limit.

Embedding (``pnut web`` inside upsd): :attr:`Upsd.store` is the UPS state
(read it from the event loop's thread) and :meth:`Upsd.watch` calls back on
every change a driver reports; see :class:`~pnut.server.store.Store`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pnut.config.parser import ConfigError
from pnut.server.config import (
    Config,
    StartupError,
    UpsDef,
    allow_no_device,
    load_config,
    why_no_https,
)
from pnut.server.connection import Connection, Drop
from pnut.server.driverlink import DriverLink
from pnut.server.guard import LogLimiter
from pnut.server.listener import ClientProtocol
from pnut.server.mdns import Announcer
from pnut.server.replycache import ReplyCache
from pnut.server.session import Context
from pnut.server.store import Store, UpsEntry, Watcher
from pnut.server.transport import Cancellable, Listener, Loop, SocketTransport, Transport

if TYPE_CHECKING:  # aiohttp is an extra: imported only when HTTP_LISTEN is set
    import asyncio

    from pnut.server.tlslayer import TLSLayer, WriteBatch
    from pnut.web.embedded import Embedded

__all__ = ["Config", "StartupError", "UpsDef", "Upsd", "load_config",
           "raise_open_files_limit"]

log = logging.getLogger("pnut.upsd")

#: Seconds between housekeeping passes.
TICK = 1.0
#: Overrides upsd.conf IDLE_TIMEOUT (older tests set it).
_IDLE_ENV = "PNUT_UPSD_IDLE_TIMEOUT"
#: listen() backlog (NUT uses 16; a deep queue rides out connect bursts that
#: would otherwise cost clients a 1-second SYN retry).
LISTEN_BACKLOG = 1024


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
        #: One log line per dropped connection at most, at a bounded rate: one
        #: limit for connections dropped for invalid input, one for failed TLS
        #: handshakes, one for the rest, so no flood hides another reason.
        self.drop_log = LogLimiter()
        self.flood_log = LogLimiter()
        self.tls_log = LogLimiter()
        self.servers: list[Listener] = []
        #: The event loop (set by run() or serve()).
        self.loop: Loop = cast(Loop, None)
        #: TLS records answered in one pass of the loop, written at its end.
        self._tls_writes: WriteBatch | None = None
        self.maxconn = 0
        self.refused = 0
        self.refused_per_address = 0
        self.idle_timeout = 60.0
        self.line_timeout = 10.0
        self.handshake_timeout = 10.0
        self._running = False
        self._stop: asyncio.Event | None = None
        self._tick_handle: Cancellable | None = None
        #: The HTTP_LISTEN server (pnut.web.embedded), when upsd.conf asks for one.
        self.web: Embedded | None = None
        self._web_tls: asyncio.Future[None] | None = None
        self._announcer = Announcer(self.config.upsd)
        self._check_devices(self.config)

    # -- configuration ----------------------------------------------------------
    def _check_devices(self, config: Config) -> None:
        if config.upses:
            return
        if allow_no_device(config.upsd):
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
        # Without a certificate too: the session then still refuses logins in clear text.
        ctx.require_tls = conf.tls_required
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
        link = DriverLink(entry, self.config.statepath, self.config.upsd.maxage, self.ctx.tracker,
                          self.ctx.store, loop=self.loop)
        self.links[entry.name.lower()] = link
        if self._running:
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
            session = client.conn.session if client.conn is not None else None
            if session is not None and session.loginups is not None \
                    and session.loginups.lower() == key:
                log.info("Kicking client %s (was on UPS [%s])", session.addr, entry.name)
                session.loginups = None
                client.drop(f"UPS [{entry.name}] removed")

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
            config = load_config(self.confdir, self.statepath_flag, self.config.tls)
            self._check_devices(config)
        except (ConfigError, StartupError) as exc:
            log.error("Reload failed, keeping the running configuration: %s", exc)
            return
        if config.upsd.addresses() != self.config.upsd.addresses():
            log.warning("LISTEN changes take effect only when upsd is restarted")
        if [(h.host, h.port) for h in config.upsd.http_listen] != \
                [(h.host, h.port) for h in self.config.upsd.http_listen]:
            log.warning("HTTP_LISTEN changes take effect only when upsd is restarted")
        self._apply(config)
        if self.web is not None and self.web.context is not config.tls:
            import asyncio  # HTTP_LISTEN runs upsd on asyncio

            # A certificate that loads now (or a new one): HTTPS with it.
            self._web_tls = asyncio.ensure_future(self.web.use_context(config.tls))
        log.info("Configuration reloaded: %d UPS, %d users", len(self.ctx.store),
                 len(config.users.users))

    # -- listeners ------------------------------------------------------------------
    def _listen(self) -> None:
        """Bind every LISTEN address that can be bound; refuse to start only with none.

        NUT 2.8.0 starts with some of its LISTEN lines unbindable, but exits
        when its last one is (a bug: the outcome depends on line order); a
        upsd that does not start protects nobody, so pnut serves on what it
        could bind and logs each address it could not."""
        loop = self.loop
        conf = self.config.upsd
        failures: list[str] = []
        for host, port in conf.addresses():
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            if self.families and family not in self.families and not host[:1].isalpha():
                continue
            try:
                socks = _listening_sockets(host, port)
            except OSError as exc:
                in_use = exc.errno == errno.EADDRINUSE
                reason = "address already in use" if in_use else exc.strerror or str(exc)
                failures.append(f"cannot listen on {host} port {port}: {reason}" + (
                    " - is another upsd running? Stop it, or choose another port with "
                    "'LISTEN <address> <port>' in upsd.conf" if in_use else ""))
                log.warning("not listening on %s port %s: %s", host, port, reason)
                continue
            for sock in socks:
                self.servers.append(Listener(loop, sock, lambda: ClientProtocol(self)))
            log.info("listening on %s port %s", host, port)
        if not self.servers:
            if len(failures) == 1:
                raise StartupError(failures[0])
            raise StartupError("no listening interface available"
                               + (f" ({failures[0]})" if failures else ""))

    # -- clients ----------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """Every UPS and its state (embedders: read it in the event loop's thread)."""
        return self.ctx.store

    def watch(self, watcher: Watcher) -> None:
        """Call ``watcher(entry, update)`` after every change of a UPS (see Store.watch)."""
        self.ctx.store.watch(watcher)

    def admit(self, transport: Transport) -> Connection | None:
        """A Connection for a new client, or None to refuse it (MAXCONN, per address)."""
        if len(self.clients) >= self.maxconn:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("MAXCONN (%d) reached: refusing new connections (%d so far)",
                            self.maxconn, self.refused)
            return None
        peer = transport.get_extra_info("peername")
        addr = str(peer[0]) if peer else "unknown"
        if not self.ctx.guard.connect(addr):
            self.refuse_address(addr)
            return None
        conn = Connection(self.ctx, addr, self.replies)
        self.ctx.sessions[conn.session] = None
        if log.isEnabledFor(logging.DEBUG):  # per connection: spare the call when off
            log.debug("Connect from %s", addr)
        return conn

    def forget(self, client: ClientProtocol, conn: Connection) -> None:
        """The client's connection is gone: give back its login and its slot."""
        session = conn.session
        session.close()
        self.ctx.sessions.pop(session, None)
        self.ctx.guard.disconnect(session.addr)
        self.clients.discard(client)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("Disconnect from %s", session.addr)

    def log_drop(self, conn: Connection, event: Drop) -> None:
        """One line per dropped connection, at a bounded rate."""
        told = (self.flood_log if event.invalid else self.drop_log).allow()
        if told is None:
            return
        extra = f" ({conn.rejected} invalid lines)" if conn.rejected and not event.invalid else ""
        more = f" ({told} similar lines suppressed)" if told else ""
        log.info("Dropping client %s: %s%s%s", conn.session.addr, event.reason, extra, more)

    def start_tls(self, client: ClientProtocol) -> None:
        """Upgrade ``client`` to TLS once ``OK STARTTLS`` is on its way."""
        from pnut.server.tlslayer import TLSLayer, WriteBatch

        context = self.config.tls
        transport = client.transport
        if context is None or not isinstance(transport, SocketTransport):
            client.drop("STARTTLS without a certificate")
            return
        if self._tls_writes is None:
            self._tls_writes = WriteBatch(self.loop)
        TLSLayer(transport, client, context, self.handshake_timeout, self._tls_ready,
                 self._tls_failed, self._tls_writes)

    def _tls_ready(self, layer: TLSLayer) -> None:
        client = cast(ClientProtocol, layer.app)
        conn = client.conn
        if conn is None:
            layer.abort()
            return
        client.transport = layer
        conn.tls_established()
        client._flush(conn)
        if log.isEnabledFor(logging.DEBUG):
            sslobj = layer.records.ssl_object
            peer: dict[str, Any] | None = sslobj.getpeercert()
            subject = dict(x[0] for x in peer.get("subject", ())) if peer else {}
            log.debug("TLS established with %s (%s%s)", conn.session.addr, sslobj.version(),
                      f", client certificate {subject.get('commonName', '?')}" if peer else "")

    def _tls_failed(self, layer: TLSLayer, exc: Exception) -> None:
        conn = cast(ClientProtocol, layer.app).conn
        if conn is None:
            return
        told = self.tls_log.allow()
        if told is not None:
            more = f" ({told} similar lines suppressed)" if told else ""
            log.info("TLS handshake with %s failed: %s%s", conn.session.addr, exc, more)

    # -- housekeeping ---------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        try:
            for link in list(self.links.values()):
                link.tick(now)
            for client in list(self.clients):
                conn = client.conn
                if conn is not None and conn.expired(now, self.idle_timeout, self.line_timeout) \
                        and client.transport is not None:
                    client._events(conn, client.transport)
            self.ctx.tracker.purge()
            self.ctx.guard.purge()
        except Exception:  # housekeeping must go on
            log.exception("internal error during housekeeping")
        self._tick_handle = self.loop.call_later(TICK, self._tick)

    # -- run --------------------------------------------------------------------------
    def needs_asyncio(self) -> bool:
        """True when upsd embeds asyncio code (HTTP_LISTEN, zeroconf): serve() then."""
        return bool(self.config.upsd.http_listen) or self._announcer.wanted

    def _start(self, loop: Loop) -> None:
        """Listen and take the signals: the part both loops share.  The drivers are
        connected by :meth:`_connect_drivers`, after ``on_ready`` has given up root
        (as NUT's upsd connects them after becoming its user: a socket the run-as
        user cannot open fails now, not at the driver's first restart)."""
        self.loop = loop
        self._apply(self.config)
        self._listen()
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.stop)
        self._tick_handle = loop.call_later(TICK, self._tick)

    def _connect_drivers(self) -> None:
        self._running = True
        for link in self.links.values():
            link.tick()

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve on upsd's own loop until a signal or :meth:`stop` (no asyncio)."""
        from pnut.server.evloop import EpollLoop

        loop = EpollLoop()
        try:
            self._start(loop)
            if on_ready is not None:
                on_ready()
            self._connect_drivers()
            loop.run_forever()
            log.info("Signal received: exiting")
        finally:
            self._close()
            loop.close()

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve on the running asyncio loop (HTTP_LISTEN, zeroconf, embedding)."""
        import asyncio

        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self._start(cast(Loop, loop))
            if self.config.upsd.http_listen:
                await self._start_web()
            self._announcer.start()
            if on_ready is not None:
                on_ready()
            self._connect_drivers()
            await self._stop.wait()
            log.info("Signal received: exiting")
        finally:
            await self.shutdown()

    async def _start_web(self) -> None:
        """HTTP_LISTEN: pnut web's endpoints from this upsd's own state (pnut.web.embedded)."""
        from pnut.web.embedded import start_for

        upsd_conf = self.config.upsd
        try:  # why no HTTPS (a CERTFILE loaded once more) only for a clear-text warning
            self.web = await start_for(self, lambda: why_no_https(upsd_conf))
        except ValueError as exc:
            raise StartupError(str(exc)) from None

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        elif self._running:
            cast(Any, self.loop).stop()

    async def shutdown(self) -> None:
        if self.web is not None:
            await self.web.stop()
            self.web = None
        await self._announcer.stop()
        self._close()

    def _close(self) -> None:
        """Stop listening, drop every client, let go of the drivers."""
        self._running = False
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        for server in self.servers:
            server.close()
        self.servers.clear()
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.abort()
        for link in self.links.values():
            link.close()


def _listening_sockets(host: str, port: int) -> list[socket.socket]:
    """The bound, listening sockets for one LISTEN address (one per address
    the name resolves to), as ``loop.create_server(host, port)`` makes them.

    Made here because uvloop resolves the name on libuv's thread pool, whose
    four threads then stay for good (~0.5 MB of an idle upsd); a numeric
    address needs no resolver at all, a name is resolved once at startup.
    """
    # bytes: a str goes through the idna codec (and unicodedata, ~0.4 MB resident)
    name: str | bytes = host.encode() if host.isascii() else host
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _name, addr in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


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
