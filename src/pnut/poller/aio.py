"""asyncio face of the poller: one kept connection per server, changes to subscribers.

How this works
--------------
:class:`Poller` runs one task per server.  Each task connects (STARTTLS as
the ``PNUT_TLS*`` settings say, USERNAME/PASSWORD when the server URL has a
user), runs :func:`~pnut.poller.core.poll_server` every ``interval``
seconds within ``timeout``, and feeds the answer - or the failure - to the
sans-IO :class:`~pnut.poller.core.Fleet`.  The changes go to every
:class:`Subscription` (a bounded queue: a subscriber that falls more than
``maxsize`` changes behind is dropped with :class:`SubscriptionLost` and
must resynchronise from :attr:`Poller.fleet`).  A failed connection is
closed and reopened on the next round, so a server coming back is picked
up within one interval.  :meth:`Poller.poke` polls a server at once (after
a command, so its effect shows without waiting).

Commands and SETs open a fresh connection with the caller's credentials
(:func:`run_action`): upsd checks them per connection, and the poller's
own connection must never carry a browser user's rights.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from pnut.client.aio import AsyncClient
from pnut.client.errors import ClientError, ServerError, TrackingTimeout
from pnut.client.models import TrackingStatus
from pnut.client.tls import TlsSettings
from pnut.poller.core import Change, Fleet, ServerSpec, poll_server

log = logging.getLogger("pnut.poller")

#: Changes a subscriber may have pending before it is dropped.
DEFAULT_QUEUE: Final = 10_000


class SubscriptionLost(Exception):
    """The subscriber fell too far behind; resynchronise from the fleet."""


class Subscription:
    """A bounded stream of :class:`Change`; iterate with ``async for``."""

    def __init__(self, owner: set[Subscription], maxsize: int) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue(maxsize + 1)
        self._maxsize = maxsize
        self.lost = False
        owner.add(self)

    def push(self, changes: Iterable[Change]) -> None:
        if self.lost:
            return
        for change in changes:
            if self._queue.qsize() >= self._maxsize:
                self.lost = True
                while not self._queue.empty():
                    self._queue.get_nowait()
                self._queue.put_nowait(None)  # wakes the reader, who then raises
                self.close()
                return
            self._queue.put_nowait(change)

    async def get(self) -> Change:
        change = await self._queue.get()
        if change is None:
            raise SubscriptionLost("subscriber fell behind")
        return change

    def pending(self) -> list[Change]:
        """Changes already queued, without waiting (to batch them)."""
        out = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._queue.put_nowait(None)
                break
            out.append(item)
        return out

    def close(self) -> None:
        self._owner.discard(self)

    def __aiter__(self) -> AsyncIterator[Change]:
        return self

    async def __anext__(self) -> Change:
        return await self.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Poller:
    """Follows several upsd servers; see the module docstring."""

    def __init__(self, servers: Iterable[ServerSpec], *, interval: float = 2.0,
                 timeout: float = 5.0, tls: TlsSettings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        specs = list(servers)
        self.specs = {s.label: s for s in specs}
        self.fleet = Fleet(specs)
        self.interval = interval
        self.timeout = timeout
        self.tls = tls
        self.clock = clock
        self._clients: dict[str, AsyncClient] = {}
        self._subscribers: set[Subscription] = set()
        self._poke: dict[str, asyncio.Event] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._listeners: list[Callable[[list[Change]], None]] = []

    # -- subscribers --------------------------------------------------------------
    def subscribe(self, maxsize: int = DEFAULT_QUEUE) -> Subscription:
        return Subscription(self._subscribers, maxsize)

    def add_listener(self, callback: Callable[[list[Change]], None]) -> None:
        """Call ``callback(changes)`` synchronously after each poll (history, metrics)."""
        self._listeners.append(callback)

    def publish(self, changes: list[Change]) -> None:
        """Hand changes to listeners and subscribers (also for a fleet fed in-process)."""
        if not changes:
            return
        for listener in self._listeners:
            listener(changes)
        for sub in list(self._subscribers):
            sub.push(changes)

    # -- connections ----------------------------------------------------------------
    async def connect(self, spec: ServerSpec, user: str | None = None,
                      password: str | None = None) -> AsyncClient:
        """A fresh connection to ``spec``: TLS as configured, then the credentials."""
        client = await AsyncClient.connect(spec.host, spec.port, timeout=self.timeout)
        try:
            if self.tls is not None:
                await client.secure(self.tls)
            if user is not None and password is not None:
                await client.authenticate(user, password)
        except BaseException:
            await client.close()
            raise
        return client

    async def _client(self, label: str) -> AsyncClient:
        client = self._clients.get(label)
        if client is None or not client.connected:
            spec = self.specs[label]
            client = await self.connect(
                spec, spec.user, spec.password.reveal() if spec.password else None)
            self._clients[label] = client
        return client

    async def query(self, label: str) -> AsyncClient:
        """The poller's own connection to ``label`` for read-only requests."""
        return await self._client(label)

    # -- polling ------------------------------------------------------------------------
    async def poll(self, label: str) -> list[Change]:
        """Poll one server now and publish what changed."""
        lock = self._locks.setdefault(label, asyncio.Lock())
        async with lock:
            started = time.monotonic()
            try:
                client = await self._client(label)
                polls = await client.run(poll_server(client.engine))
            except (ClientError, OSError, ValueError) as exc:
                await self._drop(label)
                changes = self.fleet.apply_failure(label, _reason(exc), self.clock())
            else:
                changes = self.fleet.apply_poll(label, polls, self.clock(),
                                                time.monotonic() - started)
        self.publish(changes)
        return changes

    async def poll_all(self) -> list[Change]:
        results = await asyncio.gather(*(self.poll(label) for label in self.specs))
        return [c for changes in results for c in changes]

    def poke(self, label: str) -> None:
        """Poll ``label`` as soon as possible (e.g. after a command)."""
        event = self._poke.get(label)
        if event is not None:
            event.set()

    async def _follow(self, label: str) -> None:
        event = self._poke.setdefault(label, asyncio.Event())
        while True:
            try:
                await self.poll(label)
            except Exception:  # a bug must not stop following this server (or the others)
                log.exception("internal error while polling %s", label)
            event.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await event.wait()

    async def run(self) -> None:
        """Follow every server until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                for label in self.specs:
                    group.create_task(self._follow(label))
        finally:
            await self.close()

    async def _drop(self, label: str) -> None:
        client = self._clients.pop(label, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        for label in list(self._clients):
            await self._drop(label)


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What upsd answered to a command or SET: tracking id and final result."""

    tracking: str | None
    #: SUCCESS, FAILED, UNKNOWN, INVALID-ARGUMENT, PENDING (gave up waiting),
    #: or OK when upsd does not track.
    result: str


async def run_action(poller: Poller, label: str, user: str, password: str, ups: str, *,
                     command: str | None = None, param: str | None = None,
                     var: str | None = None, value: str | None = None,
                     wait: float = 10.0) -> ActionResult:
    """INSTCMD (``command``) or SET VAR (``var``/``value``) with the caller's credentials.

    Turns TRACKING on and waits up to ``wait`` seconds for the driver's
    answer.  ServerError (ACCESS-DENIED, CMD-NOT-SUPPORTED...) propagates.
    """
    client = await poller.connect(poller.specs[label], user, password)
    try:
        tracking = True
        try:
            await client.set_tracking(True)
        except ServerError:  # an upsd older than 2.8: no TRACKING
            tracking = False
        if command is not None:
            ident = await client.instcmd(ups, command, param)
        else:
            assert var is not None and value is not None
            ident = await client.set_var(ups, var, value)
        if not tracking or ident is None:
            return ActionResult(None, "OK")
        try:
            status = await client.wait_tracking(ident, timeout=wait, interval=0.2)
        except TrackingTimeout:
            status = TrackingStatus.PENDING
        return ActionResult(ident, status.value)
    finally:
        await client.close()
        poller.poke(label)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "nut_text", None)
    detail = str(exc)
    return detail or text or type(exc).__name__
