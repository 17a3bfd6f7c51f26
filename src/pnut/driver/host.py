"""Many pnut drivers in one process: one event loop, each driver still on its own.

How this works
--------------
``pnut drvhost DRIVER:UPS ...`` (what ``upsdrvctl --one-process start``
runs) builds one :class:`~pnut.driver.runner.DriverProcess` per UPS and runs
them side by side: each keeps its own socket (``<driver>-<ups>``), its own
PID file (holding the host's PID), its own poll loop, reconnect back-off,
SIGHUP reload and ``driver.*`` variables, exactly as when run alone.
Start-up is per driver too: one whose settings are bad or whose device is
absent is logged and left out, the others start; the host fails only when
none starts.  At run time every driver is its own task, so a slow or lost
device (all I/O is asynchronous) or an exception in one driver never holds
up the others; a driver whose loop ends (``INSTCMD driver.exit``, which
``upsdrvctl stop UPS`` sends to a hosted driver) closes only its socket and
PID file.  SIGTERM/SIGINT/SIGQUIT stop every driver, SIGHUP reloads each,
and the process exits when its last driver has stopped.  Log lines carry
the UPS name.

The point is memory: one Python interpreter for a site's hundreds of UPSes
instead of one per UPS (bench/hostbench.py measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import signal
import sys
from pathlib import Path

from pnut import process
from pnut.config.parser import ConfigError, confpath
from pnut.config.ups_conf import load_ups_conf
from pnut.driver.base import DriverError, load_driver
from pnut.driver.conf import build_config
from pnut.driver.runner import DriverProcess, drop_privileges
from pnut.driver.sockserver import SocketError

log = logging.getLogger("pnut.driver")

#: The UPS a log line is about (set in each driver's task).
CURRENT_UPS: contextvars.ContextVar[str] = contextvars.ContextVar("pnut_ups", default="host")
#: Drivers started at the same time (bounds the start-up burst on the devices).
START_CONCURRENCY = 32


class _UpsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.ups = CURRENT_UPS.get()
        return True


def parse_spec(spec: str) -> tuple[str, str]:
    """``driver:ups`` -> (driver, ups)."""
    driver, sep, ups = spec.partition(":")
    if not sep or not driver or not ups:
        raise DriverError(f"{spec!r}: expected DRIVER:UPS")
    return driver, ups


class DriverHost:
    """The drivers of one process."""

    def __init__(self, specs: list[tuple[str, str]], *, confdir: str | None,
                 statepath: str | None, user: str | None = None) -> None:
        self.specs = specs
        self.confdir = confpath(confdir)
        self.statepath = statepath
        self.user = user
        self.procs: list[DriverProcess] = []

    def build(self) -> list[str]:
        """Make a DriverProcess per spec; the problems of those that cannot be made."""
        problems: list[str] = []
        try:
            conf = load_ups_conf(self.confdir)
        except ConfigError as exc:
            return [str(exc)]
        for warning in conf.warnings:  # lines NUT reads past
            log.warning("%s", warning)
        spath = conf.statepath(self.statepath)
        for driver, ups in self.specs:
            try:
                cls = load_driver(driver)
                setup = build_config(progname=driver, upsname=ups, conf=conf,
                                     vartab=cls.vartab, xargs=[], confdir=self.confdir,
                                     statepath=spath)
            except (ConfigError, DriverError) as exc:
                problems.append(f"[{ups}] {exc}")
                continue
            self.procs.append(DriverProcess(cls, setup, confdir=self.confdir, xargs=[],
                                            cli_interval=None))
        return problems

    async def _prepare(self, proc: DriverProcess, gate: asyncio.Semaphore) -> bool:
        CURRENT_UPS.set(proc.config.upsname)
        async with gate:
            try:
                await proc.init()
                await proc.start_data()
                return True
            except (DriverError, SocketError, OSError) as exc:
                log.error("%s", exc)
            except Exception:
                log.exception("start-up failed")
        with contextlib.suppress(Exception):
            await proc.close()
        return False

    async def _open(self, proc: DriverProcess) -> bool:
        CURRENT_UPS.set(proc.config.upsname)
        try:
            await proc.open_socket()
            log.info("%s driver for [%s] listening on %s", proc.config.progname,
                     proc.config.upsname, proc.server.path if proc.server else "?")
            return True
        except (DriverError, SocketError, OSError) as exc:
            log.error("%s", exc)
        with contextlib.suppress(Exception):
            await proc.close()
        return False

    async def _run(self, proc: DriverProcess) -> None:
        CURRENT_UPS.set(proc.config.upsname)
        try:
            await proc.loop()
        except Exception:
            log.exception("driver loop failed; stopping this driver only")
        finally:
            with contextlib.suppress(Exception):
                await proc.close()
            log.info("stopped")

    def _signals(self, running: list[DriverProcess]) -> None:
        loop = asyncio.get_running_loop()

        def stop_all(sig: int) -> None:
            log.info("Signal %d: stopping %d drivers", sig, len(running))
            for proc in running:
                proc.request_stop()

        def reload_all() -> None:
            for proc in running:
                proc.request_reload()

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, stop_all, sig)
        loop.add_signal_handler(signal.SIGHUP, reload_all)
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    async def serve(self, ready_fd: int | None = None) -> int:
        gate = asyncio.Semaphore(START_CONCURRENCY)
        prepared = await asyncio.gather(*(self._prepare(p, gate) for p in self.procs))
        ready = [p for p, ok in zip(self.procs, prepared, strict=True) if ok]
        user = self.user or (self.procs[0].setup.user if self.procs else None)
        try:
            drop_privileges(user)
        except DriverError as exc:
            log.error("%s", exc)
            return 1
        opened = await asyncio.gather(*(self._open(p) for p in ready))
        running = [p for p, ok in zip(ready, opened, strict=True) if ok]
        log.info("%d of %d drivers running", len(running), len(self.specs))
        if not running:
            return 1
        self._signals(running)
        process.announce_ready(ready_fd, "pnut-driver-host")
        process.notify("READY=1")
        await asyncio.gather(*(self._run(p) for p in running))
        return 0 if len(running) == len(self.specs) else 1


def setup_host_logging(debug: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_UpsFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d [%(ups)s] %(message)s",
                                           datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)


def run_host(specs: list[str], *, confdir: str | None, statepath: str | None,
             background: bool = False, user: str | None = None, debug: int = 0) -> int:
    setup_host_logging(debug)
    try:
        pairs = [parse_spec(s) for s in specs]
    except DriverError as exc:
        log.error("%s", exc)
        return 1
    if not pairs:
        log.error("no DRIVER:UPS given")
        return 1
    host = DriverHost(pairs, confdir=confdir, statepath=statepath, user=user)
    for problem in host.build():
        log.error("%s", problem)
    if not host.procs:
        return 1
    ready = process.start_background() if background else None

    async def main() -> int:
        return await host.serve(ready)

    return asyncio.run(main())


def hosted_pid_cmdline(pid: int) -> list[str]:
    """The DRIVER:UPS words of a drvhost process (empty if ``pid`` is not one)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if "drvhost" not in words:
        return []
    return [w for w in words if ":" in w and not w.startswith("-")]
