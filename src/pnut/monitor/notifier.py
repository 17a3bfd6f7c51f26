"""Delivering upsmon notifications: SYSLOG, WALL and EXEC (NOTIFYCMD).

SYSLOG is written at once; WALL and EXEC run as child processes that the
state machine never waits for (NUT forks a child per notification for the
same reason).  Unlike NUT, every child is bounded: it runs in its own
process group, is killed (TERM, then KILL) after ``exec_timeout`` seconds,
is reaped by the event loop, and at most ``max_running`` run at once —
beyond that a notification's WALL/EXEC is skipped with an error, so a
NOTIFYCMD that hangs cannot exhaust the machine.

NOTIFYURL (pnut) targets get every event they ask for, whatever its
NOTIFYFLAG, through :class:`~pnut.monitor.notifyurl.Dispatcher` (queued,
never waited for).  Threshold events (:mod:`pnut.monitor.thresholds`) go
to syslog, NOTIFYCMD (with ``NOTIFYTYPE=LOADHIGH`` ...) and NOTIFYURL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from collections.abc import Callable

from pnut.config.notify import NotifyFlag, NotifyType
from pnut.config.upsmon_conf import UpsmonConf
from pnut.monitor.events import Notification, format_message
from pnut.monitor.log import NOTICE
from pnut.monitor.notifyurl import Dispatcher, Event
from pnut.monitor.thresholds import ThresholdEvent

#: Seconds a NOTIFYCMD (or wall) may run before it is killed.
NOTIFY_TIMEOUT = 60.0
#: Notification children alive at once.
MAX_RUNNING = 32
#: Grace between SIGTERM and SIGKILL for a child past its timeout.
KILL_GRACE = 2.0


class Notifier:
    """Turns (event, UPS) into a message and delivers it as flagged."""

    def __init__(
        self,
        conf: UpsmonConf,
        logger: logging.Logger,
        *,
        exec_timeout: float = NOTIFY_TIMEOUT,
        max_running: int = MAX_RUNNING,
        wall: bool = True,
        on_event: Callable[[Notification], None] | None = None,
    ) -> None:
        self.log = logger
        self._tasks: set[asyncio.Task[None]] = set()
        self.urls = Dispatcher([], logger)
        self.conf = conf
        self.exec_timeout = exec_timeout
        self.max_running = max_running
        self.wall_enabled = wall
        self.on_event = on_event
        self._procs: set[asyncio.subprocess.Process] = set()

    @property
    def conf(self) -> UpsmonConf:
        return self._conf

    @conf.setter
    def conf(self, conf: UpsmonConf) -> None:
        old = [(t.url, t.events) for t in self.urls.targets]
        self._conf = conf
        new = [(u.url, u.events) for u in conf.notifyurls]
        if new != old:  # a reload changed NOTIFYURL: the old targets finish their queue
            retired, self.urls = self.urls, Dispatcher(new, self.log)
            if retired.targets:
                task = asyncio.get_running_loop().create_task(retired.retire(30.0))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @property
    def running(self) -> int:
        return len(self._tasks)

    def notify(self, event: NotifyType, system: str | None) -> Notification:
        """Deliver one event; returns immediately (children run on their own)."""
        flags = self.conf.flags[event]
        message = format_message(self.conf.messages[event], system or "")
        note = Notification(event, system, message, flags)
        if self.on_event is not None:
            try:
                self.on_event(note)
            except Exception:
                self.log.exception("notification hook failed")
        if self.urls.targets:
            self.urls.submit(Event(event.value, system, message))
        if NotifyFlag.IGNORE in flags:
            return note
        if NotifyFlag.SYSLOG in flags:
            self.log.log(NOTICE, "%s", message)
        if NotifyFlag.WALL in flags and self.wall_enabled:
            self.wall(message)
        if NotifyFlag.EXEC in flags and self.conf.notifycmd:
            env = dict(os.environ, NOTIFYTYPE=event.value, UPSNAME=system or "")
            self._spawn(f"{self.conf.notifycmd} {shlex.quote(message)}", env, None)
        return note

    def notify_threshold(self, event: ThresholdEvent) -> None:
        """A threshold crossing: syslog, NOTIFYCMD and NOTIFYURL (no WALL)."""
        self.log.log(NOTICE, "%s", event.message)
        if self.conf.notifycmd:
            env = dict(os.environ, NOTIFYTYPE=event.type, UPSNAME=event.system)
            self._spawn(f"{self.conf.notifycmd} {shlex.quote(event.message)}", env, None)
        if self.urls.targets:
            self.urls.submit(Event(event.type, event.system, event.message, details={
                "variable": event.var, "value": event.value, "threshold": event.limit}))

    def wall(self, message: str) -> None:
        """Broadcast to logged-in users with wall(1), in the background."""
        self._spawn("wall", None, (message + "\n").encode(errors="replace"))

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for running children, e.g. before exiting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        await self.urls.drain(max(0.0, deadline - loop.time()))

    def kill_all(self) -> None:
        for proc in list(self._procs):
            _killpg(proc, signal.SIGKILL)

    # -- children -------------------------------------------------------------
    def _spawn(self, command: str, env: dict[str, str] | None, stdin: bytes | None) -> None:
        if len(self._tasks) >= self.max_running:
            self.log.error("%d notification commands still running; not starting %r",
                           len(self._tasks), command)
            return
        task = asyncio.get_running_loop().create_task(self._run(command, env, stdin))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, command: str, env: dict[str, str] | None, stdin: bytes | None) -> None:
        try:
            proc = await asyncio.create_subprocess_shell(
                command, env=env, start_new_session=True,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            self.log.error("cannot run %r: %s", command, exc)
            return
        self._procs.add(proc)
        try:
            if stdin is not None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.write(stdin)
                    await asyncio.wait_for(proc.stdin.drain(), self.exec_timeout)
                proc.stdin.close()
            try:
                rc = await asyncio.wait_for(proc.wait(), self.exec_timeout)
            except TimeoutError:
                self.log.error("%r still running after %gs; killing it", command, self.exec_timeout)
                _killpg(proc, signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), KILL_GRACE)
                except TimeoutError:
                    _killpg(proc, signal.SIGKILL)
                    await proc.wait()
                return
            if rc != 0:
                self.log.info("%r exited with status %d", command, rc)
        finally:
            self._procs.discard(proc)


def _killpg(proc: asyncio.subprocess.Process, sig: int) -> None:
    # The child leads its own session, so its group id is its pid; this also
    # reaches whatever the shell started.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
