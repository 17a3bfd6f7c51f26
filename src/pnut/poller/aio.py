"""asyncio face of the poller: one kept connection per server, changes to subscribers.

How this works
--------------
:class:`Poller` runs one task per server.  Each task connects (STARTTLS as
the ``PNUT_TLS*`` settings say, USERNAME/PASSWORD when the server URL has a
user), runs :func:`~pnut.poller.core.poll_server` every ``interval``
seconds within ``timeout``, and feeds the answer - or the failure - to the
sans-IO :class:`~pnut.poller.core.Fleet`.

How fast a dead server shows: polls start on a fixed schedule (every
``interval`` from the start, not ``interval`` after the previous poll
ended), and within a poll each reply must come within ``reply_timeout``
(default: half the interval, at least 0.25 s, at most ``timeout``), so a
server that falls silent - a host that lost power sends no reset - is down
at most ``interval + reply_timeout`` after its last answer: within two
intervals.  A failed connection is aborted, not closed gracefully (no
waiting for a peer that is gone).  :meth:`Poller.probe` asks a server for
a sign of life now, within a budget (``pnut web``'s ``/metrics`` does that
for each scrape, so Prometheus sees a dead server in the scrape after its
death, not one poll later).

The changes go to every
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
#: The shortest default reply timeout, seconds (a busy machine can take that
#: long to answer; below half a second of interval, detection then takes a
#: little more than two intervals).
MIN_REPLY_TIMEOUT: Final = 0.25


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
                 clock: Callable[[], float] = time.time,
                 reply_timeout: float | None = None) -> None:
        specs = list(servers)
        self.specs = {s.label: s for s in specs}
        self.fleet = Fleet(specs)
        self.interval = interval
        self.timeout = timeout
        self.reply_timeout = (min(timeout, max(interval / 2, MIN_REPLY_TIMEOUT))
                              if reply_timeout is None else reply_timeout)
        self.tls = tls
        #: time.monotonic() of each server's last reply (to a poll, a probe, a query).
        self.answered: dict[str, float] = {}
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
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
            client.reply_timeout = self.reply_timeout
            client.on_reply = lambda: self._heard(label)
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
                self._abort(label)
                changes = self.fleet.apply_failure(label, _reason(exc), self.clock())
            else:
                changes = self.fleet.apply_poll(label, polls, self.clock(),
                                                time.monotonic() - started)
        self._wake(label)
        self.publish(changes)
        return changes

    def _heard(self, label: str) -> None:
        self.answered[label] = time.monotonic()
        self._wake(label)

    def _wake(self, label: str) -> None:
        for waiter in self._waiters.pop(label, []):
            if not waiter.done():
                waiter.set_result(None)

    async def _activity(self, label: str) -> None:
        """Until ``label``'s next reply or the end of its poll under way."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(label, []).append(waiter)
        await waiter

    async def probe(self, label: str, budget: float) -> None:
        """Make sure ``label`` answered since now, within ``budget`` seconds.

        Any reply after now counts (the next one of a poll under way);
        otherwise one short request (``VER``) on the kept connection.  No
        answer in time: the server is marked down now (as a failed poll
        would, a moment later).  A server already down is left to the polls.
        Concurrent probes of one server share the request.
        """
        if not self.fleet.servers[label].up:
            return
        task = self._probes.get(label)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._probe(label, budget))
            self._probes[label] = task
            task.add_done_callback(lambda _t: self._probes.pop(label, None))
        await asyncio.shield(task)

    async def _probe(self, label: str, budget: float) -> None:
        asked = time.monotonic()
        lock = self._locks.setdefault(label, asyncio.Lock())
        try:
            async with asyncio.timeout(budget):
                while self.answered.get(label, 0.0) < asked:
                    if not self.fleet.servers[label].up:
                        return  # a poll under way failed: already down
                    if lock.locked():  # a poll is under way: its next reply will do
                        await self._activity(label)
                        continue
                    async with lock:
                        client = await self._client(label)
                        await client.ver()
                return
        except TimeoutError:
            reason = f"{label}: no answer within {budget:g}s"
        except (ClientError, OSError, ValueError) as exc:
            reason = _reason(exc)
        if not lock.locked():
            self._abort(label)  # else the poll holding it fails on its own
        self.publish(self.fleet.apply_failure(label, reason, self.clock()))

    async def probe_all(self, budget: float) -> None:
        """:meth:`probe` every server at once."""
        await asyncio.gather(*(self.probe(label, budget) for label in self.specs))

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
        tick = time.monotonic()
        while True:
            try:
                await self.poll(label)
            except Exception:  # a bug must not stop following this server (or the others)
                log.exception("internal error while polling %s", label)
            event.clear()
            # A fixed schedule: a slow or failed poll does not push the next one back.
            now = time.monotonic()
            tick += self.interval
            if tick <= now:
                tick += (now - tick) // self.interval * self.interval + self.interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick - now):
                    await event.wait()

    async def run(self) -> None:
        """Follow every server until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                for label in self.specs:
                    group.create_task(self._follow(label))
        finally:
            await self.close()

    def _abort(self, label: str) -> None:
        client = self._clients.pop(label, None)
        if client is not None:
            client.abort()

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
