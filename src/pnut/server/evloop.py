"""upsd's own event loop: epoll, timers and signals, without asyncio.

Why
---
upsd needs a handful of things from an event loop: call a function when a
socket is readable or writable, call one soon or later, and turn signals
into calls.  asyncio (with uvloop) does that and far more, and its import
alone keeps ~10 MB resident (concurrent.futures, logging's friends, the
ssl module, coroutine machinery) - half of an idle upsd.  This loop is the
subset upsd uses, with the same method names and meanings as asyncio's
loop (``call_soon``, ``call_later``, ``add_reader``, ``add_writer``,
``add_signal_handler``, ``time``), so :mod:`pnut.server` runs unchanged on
either: this one by default, asyncio's (or uvloop) when upsd embeds
asyncio code (HTTP_LISTEN's web server, the zeroconf announcement).

One pass of :meth:`EpollLoop.run_forever`: wait in ``epoll_wait`` (no
longer than the next timer), call the readers and writers of the ready
descriptors - those marked with :meth:`EpollLoop.read_first` (the driver
sockets) before all others, so a client read in the same pass as a
driver's update is answered with the new value, as NUT's upsd reads its
drivers first - then the timers that are due, then the callbacks queued
with ``call_soon`` before this pass (those queued during it wait for the
next, so no callback chain can hold the loop).

A callback that raises is logged and the loop goes on: one bug costs one
connection, never the daemon.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import logging
import select
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, Final

log = logging.getLogger("pnut.upsd")

_IN: Final = select.EPOLLIN
_OUT: Final = select.EPOLLOUT
#: Errors and hang-ups wake both the reader and the writer: they find out.
_READ_EVENTS: Final = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP
_WRITE_EVENTS: Final = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP
#: Longest single wait (seconds): the loop wakes at least this often.
_MAX_WAIT: Final = 3600.0
#: Cancelled timers in the heap before it is swept (when they are half of it).
_SWEEP_AT: Final = 256


class Handle:
    """A queued call; :meth:`cancel` keeps it from running."""

    __slots__ = ("_args", "_callback", "cancelled")

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._callback = callback
        self._args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self._callback = _nothing  # let go of what it refers to (a TLS handshake's
        self._args = ()  # timer otherwise pins the connection until it is due)

    def _run(self) -> None:
        self._callback(*self._args)


class TimerHandle(Handle):
    """A call at a time of :meth:`EpollLoop.time`."""

    __slots__ = ("_loop", "when")

    def __init__(self, when: float, callback: Callable[..., object],
                 args: tuple[Any, ...], loop: EpollLoop) -> None:
        super().__init__(callback, args)
        self.when = when
        #: The loop while this timer is in its heap, None once taken out.
        self._loop: EpollLoop | None = loop

    def cancel(self) -> None:
        if not self.cancelled and self._loop is not None:
            self._loop._cancelled_timers += 1
        super().cancel()

    def __lt__(self, other: TimerHandle) -> bool:
        return self.when < other.when


class EpollLoop:
    """The loop (see the module doc).  Not thread-safe: use it from one thread."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._readers: dict[int, Callable[[], object]] = {}
        self._writers: dict[int, Callable[[], object]] = {}
        self._masks: dict[int, int] = {}
        #: Readers called first: their descriptors wait in an epoll of their own,
        #: itself waited for in the main one (see _run_once).
        self._first: set[int] = set()
        self._first_epoll: select.epoll | None = None
        self._first_masks: dict[int, int] = {}
        self._first_event: tuple[int, int] | None = None
        self._ready: collections.deque[Handle] = collections.deque()
        self._timers: list[TimerHandle] = []
        #: Cancelled timers still in the heap (swept when they are most of it).
        self._cancelled_timers = 0
        self._stopping = False
        self._signal_handlers: dict[int, Handle] = {}
        self._signals_caught: list[int] = []
        self._wake: tuple[socket.socket, socket.socket] | None = None

    # -- time and calls ------------------------------------------------------------
    @staticmethod
    def time() -> float:
        return time.monotonic()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Handle:
        handle = Handle(callback, args)
        self._ready.append(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: Any) -> TimerHandle:
        handle = TimerHandle(time.monotonic() + delay, callback, args, self)
        heapq.heappush(self._timers, handle)
        return handle

    # -- descriptors -----------------------------------------------------------------
    def add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        self._readers[fd] = _bind(callback, args)
        if fd in self._first:
            self._update(fd)
        else:  # what _update does for a reader that is not read first (every client)
            _apply(self._epoll, self._masks, fd, _IN | (_OUT if fd in self._writers else 0))

    def remove_reader(self, fd: int) -> bool:
        if self._readers.pop(fd, None) is None:
            return False
        if fd in self._first:
            self._first.discard(fd)
            self._update(fd)
        else:
            _apply(self._epoll, self._masks, fd, _OUT if fd in self._writers else 0)
        return True

    def add_writer(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        self._writers[fd] = _bind(callback, args)
        self._update(fd)

    def remove_writer(self, fd: int) -> bool:
        if self._writers.pop(fd, None) is None:
            return False
        self._update(fd)
        return True

    def read_first(self, fd: int) -> None:
        """Call ``fd``'s reader before the others in each pass (driver sockets)."""
        if fd not in self._readers:
            return
        if self._first_epoll is None:
            self._first_epoll = select.epoll()
            inner = self._first_epoll.fileno()
            self._first_event = (inner, _IN)
            self.add_reader(inner, self._read_firsts)
        self._first.add(fd)
        self._update(fd)

    def _read_firsts(self) -> None:
        assert self._first_epoll is not None
        self._dispatch(self._first_epoll.poll(0))

    def _update(self, fd: int) -> None:
        reading = fd in self._readers
        first = reading and fd in self._first
        mask = (_IN if reading and not first else 0) | (_OUT if fd in self._writers else 0)
        _apply(self._epoll, self._masks, fd, mask)
        if (first or fd in self._first_masks) and self._first_epoll is not None:
            _apply(self._first_epoll, self._first_masks, fd, _IN if first else 0)

    # -- signals ---------------------------------------------------------------------
    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        """Call ``callback`` from the loop (never from inside the signal) on ``sig``."""
        if self._wake is None:
            self._wake = socket.socketpair()
            for end in self._wake:
                end.setblocking(False)
            signal.set_wakeup_fd(self._wake[1].fileno(), warn_on_full_buffer=False)
            self.add_reader(self._wake[0].fileno(), self._signalled)
        self._signal_handlers[sig] = Handle(callback, args)
        signal.signal(sig, self._caught)

    def remove_signal_handler(self, sig: int) -> bool:
        if self._signal_handlers.pop(sig, None) is None:
            return False
        signal.signal(sig, signal.SIG_DFL)
        return True

    def _caught(self, signum: int, _frame: object) -> None:
        self._signals_caught.append(signum)  # the wakeup fd ends the wait

    def _signalled(self) -> None:
        assert self._wake is not None
        with contextlib.suppress(OSError):
            while self._wake[0].recv(4096):
                pass
        self._queue_signals()

    def _queue_signals(self) -> None:
        caught, self._signals_caught = self._signals_caught, []
        for signum in caught:
            handle = self._signal_handlers.get(signum)
            if handle is not None:
                self._ready.append(handle)

    # -- running -----------------------------------------------------------------------
    def stop(self) -> None:
        """Return from :meth:`run_forever` after the current pass."""
        self._stopping = True

    def run_forever(self) -> None:
        self._run(-1)

    def _run_once(self) -> None:
        """One pass (tests)."""
        self._run(1)

    def _run(self, passes: int) -> None:
        """The loop: ``passes`` passes, or until stopped when negative.

        One method with its names bound locally: per pass it costs a few
        hundred nanoseconds of Python, which a busy upsd pays per request.
        The clock is read once a pass, after the descriptors' calls: the next
        wait is reckoned from that reading, so a timer may be late by as long
        as the callbacks of the pass before it took (never early)."""
        self._stopping = False
        ready, timers = self._ready, self._timers
        poll, dispatch, monotonic, popleft, heappop = (
            self._epoll.poll, self._dispatch, time.monotonic, ready.popleft, heapq.heappop)
        now = monotonic()
        while passes and not self._stopping:
            passes -= 1
            if ready:
                timeout = 0.0
            elif timers:
                timeout = timers[0].when - now
                if timeout > _MAX_WAIT:
                    timeout = _MAX_WAIT
                elif timeout < 0.0:
                    timeout = 0.0
            else:
                timeout = _MAX_WAIT
            try:
                events = poll(timeout)
            except InterruptedError:
                events = []
            if events:
                first = self._first_event
                if first is not None and len(events) > 1 and first in events:
                    events.remove(first)  # the drivers' updates before the clients' requests
                    self._read_firsts()
                dispatch(events)
            if self._signals_caught:  # a handler that ran after its wake-up byte was read
                self._queue_signals()
            now = monotonic()
            if timers:
                if self._cancelled_timers > _SWEEP_AT \
                        and self._cancelled_timers * 2 > len(timers):
                    self._sweep_timers()
                while timers and timers[0].when <= now:
                    timer = heappop(timers)
                    timer._loop = None
                    if timer.cancelled:
                        self._cancelled_timers -= 1
                    else:
                        ready.append(timer)
            if not ready:
                continue
            for _ in range(len(ready)):
                handle = popleft()
                if handle.cancelled:
                    continue
                try:
                    handle._run()
                except Exception:
                    log.exception("internal error in %r", handle._callback)

    def _sweep_timers(self) -> None:
        for timer in self._timers:
            if timer.cancelled:
                timer._loop = None
        self._timers[:] = [t for t in self._timers if not t.cancelled]
        heapq.heapify(self._timers)
        self._cancelled_timers = 0

    def _dispatch(self, events: list[tuple[int, int]]) -> None:
        readers, writers = self._readers, self._writers
        for fd, mask in events:
            try:
                if mask & _READ_EVENTS:
                    reader = readers.get(fd)
                    if reader is not None:
                        reader()
                if mask & _WRITE_EVENTS:
                    writer = writers.get(fd)
                    if writer is not None:
                        writer()
            except Exception:
                log.exception("internal error serving descriptor %d", fd)

    def close(self) -> None:
        """Forget every descriptor and signal handler (the sockets are their owners')."""
        for sig in list(self._signal_handlers):
            self.remove_signal_handler(sig)
        if self._wake is not None:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(-1)
            for end in self._wake:
                end.close()
            self._wake = None
        self._readers.clear()
        self._writers.clear()
        self._masks.clear()
        self._first.clear()
        self._first_masks.clear()
        if self._first_epoll is not None:
            self._first_epoll.close()
            self._first_epoll = None
            self._first_event = None
        self._epoll.close()


def _apply(epoll: select.epoll, masks: dict[int, int], fd: int, mask: int) -> None:
    """Make ``epoll`` wait for ``mask`` on ``fd`` (0: not at all); ``masks`` is its record."""
    old = masks.get(fd, 0)
    if mask == old:
        return
    if not mask:
        del masks[fd]
        try:  # noqa: SIM105 (no suppress() object per closed connection)
            epoll.unregister(fd)
        except OSError:  # already closed: epoll forgot it
            pass
        return
    masks[fd] = mask
    if old:
        try:
            epoll.modify(fd, mask)
        except FileNotFoundError:  # closed and reused behind our back
            epoll.register(fd, mask)
    else:
        try:
            epoll.register(fd, mask)
        except FileExistsError:
            epoll.modify(fd, mask)

def _nothing() -> None:
    pass


def _bind(callback: Callable[..., object], args: tuple[Any, ...]) -> Callable[[], object]:
    if not args:
        return callback
    return lambda: callback(*args)
