"""pnut web inside upsd (``HTTP_LISTEN``): the same endpoints from upsd's own state.

How this works
--------------
:class:`StoreBackend` reads upsd's in-process store - no network, no extra
process - and turns it into the same :class:`~pnut.poller.Fleet` that
``pnut web`` builds from polls: a UPS whose driver is not connected is
down with ``DRIVER-NOT-CONNECTED``, one with stale data with ``DATA-STALE``,
as upsd answers its clients; FSD shows in ``ups.status`` as upsd reports it.
:meth:`StoreBackend.sync` runs after every change upsd signals (and every
``interval`` seconds as a safety net), skipping UPSes whose state
``version`` did not move, so it costs next to nothing when nothing changes.

Describing a UPS (writable variables, commands, clients) and running
commands go through a loopback connection to upsd itself, with the
caller's credentials: the same access control, TRACKING and logging as any
client, and no second implementation of them here.

:func:`start` binds the HTTP listeners (HTTPS with upsd's CERTFILE when it
has one) and returns an :class:`Embedded` to stop them.  A reload's new
certificate is taken up by :meth:`Embedded.use_context`: HTTPS listeners stay
bound and hand each new handshake the newest; HTTP ones are bound again as
HTTPS once a CERTFILE loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from pnut.client.tls import TlsMode, TlsSettings
from pnut.config.upsd_conf import is_loopback_host
from pnut.poller.aio import Poller
from pnut.poller.core import ServerSpec, UpsPoll
from pnut.web.app import PollerBackend, make_app
from pnut.web.history import History

log = logging.getLogger("pnut.upsd")

#: Seconds between syncs when upsd signals nothing (a safety net).
SYNC_INTERVAL: Final = 1.0
#: Seconds changes are gathered before the next sync (a DUMPALL is one sync).
COALESCE: Final = 0.02


class _State(Protocol):
    version: int

    def variables(self) -> Sequence[_Var]: ...


class _Var(Protocol):
    name: str
    value: str


class Entry(Protocol):
    """What the embedded server reads of one UPS in upsd's store."""

    name: str
    desc: str | None
    connected: bool
    stale: bool
    fsd: bool
    state: _State


class StoreBackend(PollerBackend):
    """upsd's store as a web backend (see the module docstring)."""

    def __init__(self, entries: Callable[[], Iterable[Entry]], own: ServerSpec,
                 tls: TlsSettings | None) -> None:
        super().__init__(Poller([own], timeout=10.0, tls=tls))
        self.label = own.label
        self._entries = entries
        self._seen: dict[str, tuple[int, bool, bool, bool, str | None]] = {}
        self._polls: dict[str, UpsPoll] = {}
        self._wake = asyncio.Event()

    async def refresh(self, budget: float | None) -> None:
        """upsd's own state is current: nothing to probe."""

    def notify(self) -> None:
        """Something in the store changed: sync soon (call from upsd's loop)."""
        self._wake.set()

    def sync(self, now: float | None = None) -> int:
        """Bring the fleet up to date with the store; the number of changes."""
        polls = []
        dirty = False
        names = set()
        for entry in self._entries():
            names.add(entry.name)
            key = (entry.state.version, entry.connected, entry.stale, entry.fsd, entry.desc)
            poll = self._polls.get(entry.name)
            if poll is None or self._seen.get(entry.name) != key:
                poll = self._polls[entry.name] = _poll(entry)
                self._seen[entry.name] = key
                dirty = True
            polls.append(poll)
        for gone in [n for n in self._polls if n not in names]:
            del self._polls[gone], self._seen[gone]
            dirty = True
        if not dirty and self.fleet.servers[self.label].polls:
            return 0
        changes = self.fleet.apply_poll(self.label, polls, time.time() if now is None else now)
        self.poller.publish(changes)
        return len(changes)

    async def follow(self) -> None:
        """Sync on every notification (at most every COALESCE) and every SYNC_INTERVAL."""
        while True:
            try:
                self.sync()
            except Exception:  # the web view must never take upsd down
                log.exception("internal error in the embedded web server")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SYNC_INTERVAL):
                    await self._wake.wait()
            await asyncio.sleep(COALESCE)


def _poll(entry: Entry) -> UpsPoll:
    desc = entry.desc if entry.desc is not None else "Description unavailable"
    if not entry.connected:
        return UpsPoll(entry.name, desc, None, "DRIVER-NOT-CONNECTED")
    if entry.stale:
        return UpsPoll(entry.name, desc, None, "DATA-STALE")
    variables = {v.name: v.value for v in entry.state.variables()}
    if entry.fsd and "ups.status" in variables:
        variables["ups.status"] = "FSD " + variables["ups.status"]
    return UpsPoll(entry.name, desc, variables)


@dataclass
class Embedded:
    """The running embedded web server."""

    backend: StoreBackend
    runner: object
    task: asyncio.Task[None]
    urls: list[str]
    #: The addresses served, and upsd's TLS context they serve HTTPS with (None: HTTP).
    listen: Sequence[tuple[str, int]] = ()
    context: ssl.SSLContext | None = None
    #: The context the listeners were bound with: its handshakes switch to
    #: ``context`` when a reload brings a new one (see use_context).
    bound: ssl.SSLContext | None = None

    async def use_context(self, context: ssl.SSLContext | None) -> None:
        """A reload changed upsd's context: serve with it.

        From HTTPS to HTTPS (every reload makes a new context, the same or a
        renewed certificate) the listeners stay: each handshake on them
        switches to the newest context as the client's hello arrives, so no
        connection is refused during a reload.  From HTTP to HTTPS, once a
        certificate loads, the listeners are bound again (requests in flight
        finish)."""
        from aiohttp import web

        if context is self.context:
            return
        bound = self.bound
        if bound is not None and context is not None:
            self.context = context
            bound.sni_callback = self._newest
            self.backend.poller.tls = _own_tls(context)
            return
        runner = self.runner
        assert isinstance(runner, web.AppRunner)
        for site in list(runner.sites):
            await site.stop()
        self.context = self.bound = context
        self.backend.poller.tls = _own_tls(context)
        try:
            for addr, port in self.listen:
                await web.TCPSite(runner, addr, port, ssl_context=context,
                                  reuse_address=True).start()
        except OSError as exc:
            log.error("HTTP_LISTEN: cannot listen again on %s port %s with the new "
                      "certificate: %s", addr, port, exc.strerror or exc)
        self.urls = _urls(runner, context)
        for url in self.urls:
            log.info("serving pnut web on %s", url)

    def _newest(self, conn: ssl.SSLObject | ssl.SSLSocket, _name: str | None,
                _context: ssl.SSLContext) -> None:
        """OpenSSL's server-name callback on the bound context (called with or
        without SNI): this handshake goes on with the newest certificate."""
        newest = self.context
        if newest is not None and conn.context is not newest:
            conn.context = newest

    async def stop(self) -> None:
        from aiohttp import web

        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.backend.poller.close()
        assert isinstance(self.runner, web.AppRunner)
        await self.runner.cleanup()


async def start(entries: Callable[[], Iterable[Entry]], listen: Sequence[tuple[str, int]],
                upsd_address: tuple[str, int], context: ssl.SSLContext | None) -> Embedded:
    """Serve pnut web's endpoints for upsd's store on ``listen``.

    ``upsd_address`` is where upsd itself listens (for the loopback client);
    ``context`` is upsd's TLS server context (HTTPS when given).  Raises
    OSError when an address cannot be bound, ImportError without aiohttp.
    """
    from aiohttp import web

    host, port = upsd_address
    if host in ("0.0.0.0", "::", "*"):
        host = "127.0.0.1" if host != "::" else "::1"
    own = ServerSpec(host, port)
    backend = StoreBackend(entries, own, _own_tls(context))
    backend.sync()
    runner = web.AppRunner(make_app(backend, History()), access_log=None,
                           handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        for addr, p in listen:
            await web.TCPSite(runner, addr, p, ssl_context=context,
                              reuse_address=True).start()
    except BaseException:
        await runner.cleanup()
        raise
    task = asyncio.create_task(backend.follow())
    return Embedded(backend, runner, task, _urls(runner, context), listen, context, context)


def _own_tls(context: ssl.SSLContext | None) -> TlsSettings | None:
    """To upsd itself: STARTTLS when it offers it, no certificate check (same process)."""
    return TlsSettings(mode=TlsMode.TRY) if context is not None else None


def _urls(runner: Any, context: ssl.SSLContext | None) -> list[str]:
    scheme = "https" if context is not None else "http"
    return [f"{scheme}://[{a[0]}]:{a[1]}/" if ":" in a[0] else f"{scheme}://{a[0]}:{a[1]}/"
            for a in runner.addresses]


async def start_for(upsd: Any, no_https: Callable[[], str]) -> Embedded:
    """Start the HTTP_LISTEN listeners of a running :class:`pnut.server.daemon.Upsd`.

    Reads ``upsd.store`` and follows ``upsd.watch``; the loopback client
    uses upsd's first bound address; ``no_https()`` says why there is no TLS
    and what to do (upsd's ``why_no_https``), asked only for a clear-text
    warning.
    Raises ValueError with a one-line reason when the web extra is missing
    or an address cannot be bound.
    """
    conf = upsd.config.upsd
    sockets = [sock for server in upsd.servers for sock in server.sockets]
    if not sockets:
        raise ValueError("HTTP_LISTEN: upsd listens nowhere")
    own = sockets[0].getsockname()
    listen: list[tuple[str, int]] = []
    for item in conf.http_listen:
        hosts = ("0.0.0.0", "::") if item.host == "*" else (item.host,)
        listen.extend((h, item.port) for h in hosts)
        if upsd.config.tls is None and not is_loopback_host(item.host):
            log.warning("%s:%d: HTTP_LISTEN %s is reachable from other hosts without TLS: "
                        "passwords for commands would cross the network in clear text (%s)",
                        conf.path, item.lineno, item.host, no_https())
    try:
        embedded = await start(lambda: upsd.store, listen, (str(own[0]), int(own[1])),
                               upsd.config.tls)
    except ImportError as exc:
        raise ValueError(f"HTTP_LISTEN needs the web extra ({exc.name} is missing): "
                         "pip install 'pnut[web]'") from None
    except OSError as exc:
        raise ValueError(f"HTTP_LISTEN: cannot listen on "
                         f"{', '.join(f'{h} port {p}' for h, p in listen)}: "
                         f"{exc.strerror or exc}") from None
    upsd.watch(lambda _entry, _update: embedded.backend.notify())
    for url in embedded.urls:
        log.info("serving pnut web on %s", url)
    return embedded
