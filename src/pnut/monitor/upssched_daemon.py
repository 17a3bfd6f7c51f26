"""upssched's two halves: the short-lived client and the timer daemon.

How this works
--------------
upsmon runs ``upssched`` once per event.  For START/CANCEL rules the client
connects to the daemon's Unix socket (PIPEFN), sends one request line and
waits for ``OK``.  If nobody listens, it takes an exclusive ``flock`` on
LOCKFN, checks again, and only then forks the daemon (double fork, new
session, stdio on /dev/null) and waits until it listens — so of many
simultaneous invocations exactly one starts a daemon and the others use it.

The daemon runs timers on asyncio and, when a timer expires, runs
``CMDSCRIPT <name>`` without waiting for it.  A CANCEL that finds no timer
and names a command runs it before answering ``OK``, as NUT's daemon does,
so the AT lines after it in upssched.conf run after it.  After EMPTY_WAIT seconds with
no timers, no connection and no running command it exits — holding the same
lock while it unlinks PIPEFN and closes the listener, so a client either
reached it before (and was answered, or sees its connection reset and
retries) or finds no socket and starts a fresh daemon.  A request counts as
done only once ``OK`` came back; anything else is retried, bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import select
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

from pnut.config.upssched_conf import UpsschedConf
from pnut.monitor.upssched import (
    MAX_REQUEST,
    Cancel,
    Request,
    Start,
    Timers,
    format_request,
    parse_request,
)
from pnut.protocol.tokens import split_line

#: Idle seconds (no timers, no clients) before the daemon exits (NUT: 15 passes of 1 s).
EMPTY_WAIT = 15.0
#: Attempts a client makes to deliver one request.
MAX_TRIES = 30
#: Seconds a client waits for the daemon's answer / for the lock / for a new daemon.
CLIENT_TIMEOUT = 5.0
LOCK_TIMEOUT = 10.0
START_TIMEOUT = 5.0
#: A CMDSCRIPT run longer than this is killed (its whole process group).
COMMAND_TIMEOUT = 600.0
#: Requests from one connection are cut off after this long.
CONNECTION_TIMEOUT = 5.0


class UpsschedError(Exception):
    """The daemon could not be reached or started."""


def command_line(conf: UpsschedConf, arg: str) -> str:
    """``CMDSCRIPT <arg>`` for the shell (the argument always as one word)."""
    assert conf.cmdscript is not None
    return f"{conf.cmdscript} {shlex.quote(arg)}"


def execute(conf: UpsschedConf, arg: str, log: logging.Logger) -> int:
    """EXECUTE: run CMDSCRIPT at once, in this process, bounded."""
    try:
        proc = subprocess.run(command_line(conf, arg), shell=True, check=False,
                              timeout=COMMAND_TIMEOUT, start_new_session=True)
    except subprocess.TimeoutExpired:
        log.error("%s: still running after %gs, given up", conf.cmdscript, COMMAND_TIMEOUT)
        return 1
    if proc.returncode:
        log.info("%s returned %d", command_line(conf, arg), proc.returncode)
    return proc.returncode


# -- client ---------------------------------------------------------------------


def _connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CLIENT_TIMEOUT)
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


@contextlib.contextmanager
def _locked(path: str) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UpsschedError(f"could not lock {path} in {LOCK_TIMEOUT}s") from None
                time.sleep(0.02)
        yield fd
    finally:
        os.close(fd)  # also releases the lock


def _exchange(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    reply = b""
    while b"\n" not in reply and len(reply) < MAX_REQUEST:
        chunk = sock.recv(256)
        if not chunk:
            break
        reply += chunk
    return reply


def send_request(conf: UpsschedConf, req: Request, log: logging.Logger) -> None:
    """Deliver one START/CANCEL to the daemon, starting it if needed."""
    assert conf.pipefn is not None and conf.lockfn is not None
    data = format_request(req)
    for _ in range(MAX_TRIES):
        sock = _connect(conf.pipefn)
        if sock is None:
            if isinstance(req, Cancel) and req.command is None:
                return  # no daemon, so no timer to cancel
            with _locked(conf.lockfn) as lock_fd:
                sock = _connect(conf.pipefn)
                if sock is None:
                    start_daemon(conf, lock_fd)
                    sock = _connect(conf.pipefn)
            if sock is None:
                time.sleep(0.1)
                continue
        if isinstance(req, Cancel) and req.command:
            # The daemon answers once the command it may run has ended (as NUT's).
            sock.settimeout(COMMAND_TIMEOUT + CLIENT_TIMEOUT)
        try:
            with sock:
                reply = _exchange(sock, data)
        except OSError as exc:
            log.debug("request to timer daemon failed (%s); retrying", exc)
            continue
        if reply.startswith(b"OK"):
            return
        log.error("timer daemon answered %r; retrying", reply)
        time.sleep(0.1)
    raise UpsschedError(f"unable to reach or start the timer daemon on {conf.pipefn}")


def start_daemon(conf: UpsschedConf, lock_fd: int) -> None:
    """Fork the daemon (detached) and wait until it listens or gives up."""
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:  # intermediate: detach and exit at once
        try:
            os.close(ready_r)
            os.close(lock_fd)  # the lock must stay with the client only
            os.setsid()
            if os.fork() == 0:
                _daemon_main(conf, ready_w)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.waitpid(child, 0)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            readable, _, _ = select.select([ready_r], [], [], 0.1)
            if readable:
                os.read(ready_r, 1)
                return
    finally:
        os.close(ready_r)


# -- daemon -----------------------------------------------------------------------


def _daemon_main(conf: UpsschedConf, ready_fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    from pnut.monitor import log as logsetup

    log = logsetup.setup("upssched", stderr=False)
    try:
        asyncio.run(TimerDaemon(conf, log).serve(ready_fd))
    except Exception:  # last resort: record why the daemon died
        log.exception("timer daemon failed")


class TimerDaemon:
    def __init__(self, conf: UpsschedConf, log: logging.Logger,
                 idle_exit: float = EMPTY_WAIT) -> None:
        assert conf.pipefn is not None and conf.lockfn is not None
        self.conf = conf
        self.idle_exit = idle_exit
        self.log = log
        self.timers = Timers()
        self.clients = 0
        self.commands: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    async def serve(self, ready_fd: int | None = None) -> None:
        path = self.conf.pipefn
        assert path is not None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a stale socket; we hold the start lock (see module doc)
        old_umask = os.umask(0o007)
        try:
            server = await asyncio.start_unix_server(self._client, path=path)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o660)
        inode = os.stat(path).st_ino
        if ready_fd is not None:
            os.write(ready_fd, b"1")
            os.close(ready_fd)
        self.log.info("Timer daemon started")
        idle_since = time.monotonic()
        while True:
            now = time.monotonic()
            for name in self.timers.due(now):
                self.log.info("Event: %s", name)
                self._run(name)
            if len(self.timers) or self.clients or self.commands:
                idle_since = now
            elif now - idle_since >= self.idle_exit and self._try_exit(server, path, inode):
                break
            deadline = self.timers.next_deadline()
            tick = min(1.0, self.idle_exit)
            wait = tick if deadline is None else max(0.0, min(tick, deadline - now))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
        await server.wait_closed()
        self.log.info("Timer queue empty, exiting")

    def _try_exit(self, server: asyncio.Server, path: str, inode: int) -> bool:
        """Stop listening under the start lock; False if a client holds it."""
        assert self.conf.lockfn is not None
        fd = os.open(self.conf.lockfn, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.log.debug("Idle, but a client holds the start lock: staying")
                return False
            with contextlib.suppress(OSError):
                if os.stat(path).st_ino == inode:
                    os.unlink(path)
            server.close()
            return True
        finally:
            os.close(fd)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients += 1
        try:
            async with asyncio.timeout(CONNECTION_TIMEOUT) as limit:
                while line := await reader.readline():
                    if len(line) > MAX_REQUEST or not line.endswith(b"\n"):
                        break
                    reply, command = self._handle(line)
                    if command is not None:
                        # The command a CANCEL ran (no timer to cancel) ends before
                        # the OK, as in NUT: the client's next AT line waits for it.
                        # Its own time is bounded by COMMAND_TIMEOUT, not this one.
                        limit.reschedule(None)
                        await asyncio.shield(command)
                        limit.reschedule(asyncio.get_running_loop().time()
                                         + CONNECTION_TIMEOUT)
                    writer.write(reply)
                    await writer.drain()
        except (TimeoutError, OSError, ValueError):
            pass
        finally:
            self.clients -= 1
            writer.close()
            self._wake.set()

    def _handle(self, line: bytes) -> tuple[bytes, asyncio.Task[None] | None]:
        """The reply to one request, and the command to wait for before sending it."""
        try:
            req = parse_request(tuple(split_line(line)))
        except ValueError:
            req = None
        if req is None:
            self.log.info("Unknown command on socket: %r", line)
            return b"ERR UNKNOWN\n", None
        command = None
        if isinstance(req, Start):
            self.log.info("New timer: %s (%d seconds)", req.name, req.seconds)
            self.timers.start(req.name, req.seconds, time.monotonic())
        elif self.timers.cancel(req.name):
            self.log.info("Cancelling timer: %s", req.name)
        elif req.command:
            self.log.info("Cancel %s, event: %s", req.name, req.command)
            command = self._run(req.command)
        self._wake.set()
        return b"OK\n", command

    def _run(self, arg: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._command(arg))
        self.commands.add(task)
        task.add_done_callback(self.commands.discard)
        return task

    async def _command(self, arg: str) -> None:
        cmd = command_line(self.conf, arg)
        try:
            proc = await asyncio.create_subprocess_shell(
                cmd, stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.log.error("Execute command failure: %s (%s)", cmd, exc)
            return
        try:
            rc = await asyncio.wait_for(proc.wait(), COMMAND_TIMEOUT)
        except TimeoutError:
            self.log.error("%s still running after %gs; killing it", cmd, COMMAND_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return
        if rc:
            self.log.info("exec_cmd(%s) returned %d", cmd, rc)
