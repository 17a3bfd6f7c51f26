"""One driver process: config, ``driver.*`` variables, socket, poll loop, signals.

How this works
--------------
:func:`run` follows NUT's drivers/main.c: read ups.conf (plus ``-x``), let
the driver open its device (``init_ups``), run the kill-power path for
``-k``, publish ``driver.name``/``driver.version``/``driver.version.internal``
and the ``driver.parameter.*``/``driver.flag.*`` values, let the driver
publish its data (``init_info`` + one ``update_info``), then write the PID
file, open the socket, publish ``driver.parameter.pollinterval`` and
``.synchronous`` and mirror ``ups.mfr/model/serial`` into ``device.*``.
From then on it polls every ``pollinterval`` (earlier if the driver asks)
while the socket server answers upsd.

A device that goes away (:class:`~pnut.driver.base.DeviceGone` or an
``OSError`` from a hook) makes the data stale at once; the loop then calls
the driver's ``reconnect`` on a capped back-off (:mod:`.reconnect`) instead
of polling, and polls again once it succeeds.  ``driver.state`` tells which
step the driver is in, with NUT 2.8.1+'s names.

SIGTERM, SIGINT and SIGQUIT end the loop; the socket file and PID file are
removed.  SIGHUP re-reads ups.conf and hands the new settings to the
driver.  Unless ``-F``/``-D``, the driver forks before the event loop starts
(:mod:`pnut.process`); the parent exits only when the child's socket is
listening (or with the child's error), which is what upsdrvctl waits for.
Started as root, the driver becomes the run-as user (default ``nut``) after
opening its device and before creating its socket and pid file, so both
belong to that user, as NUT's do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from pnut import process
from pnut.config.parser import ConfigError, confpath
from pnut.config.ups_conf import UpsConf, load_ups_conf
from pnut.driver.base import DeviceGone, Driver, DriverConfig, DriverError, load_driver
from pnut.driver.conf import Setup, build_config, format_interval
from pnut.driver.dstate import DriverState
from pnut.driver.pidfile import alive, pid_path, remove_pid, signal_driver, write_pid
from pnut.driver.reconnect import Backoff
from pnut.driver.sockproto import Stat
from pnut.driver.sockserver import DriverSocketServer, SocketError
from pnut.protocol.limits import NUT_VERSION

log = logging.getLogger("pnut.driver")

#: Seconds a duplicate instance gets to exit after our SIGTERM (NUT: 3 x 5 s).
DUPLICATE_WAIT = 10.0
#: What a hook may raise when the device is not there (pyserial/pyusb errors are OSErrors).
DEVICE_ERRORS: tuple[type[BaseException], ...] = (DeviceGone, OSError)


def socket_path(statepath: Path, progname: str, upsname: str) -> Path:
    return statepath / f"{progname}-{upsname}"


def drop_privileges(user: str | None, chroot: str | None = None) -> None:
    """NUT's order: chroot (``-r``), then become the run-as user (``-u``, ``user =``,
    default ``nut``) when started as root; the socket is opened after this."""
    try:
        account = process.run_as(user)
        if chroot:
            process.enter_chroot(chroot)
        process.drop_privileges(account)
    except process.ProcessError as exc:
        raise DriverError(str(exc)) from None


class DriverProcess:
    """The lifecycle around one :class:`Driver` instance."""

    def __init__(self, cls: type[Driver], setup: Setup, *, confdir: Path,
                 xargs: list[str], cli_interval: str | None) -> None:
        self.cls = cls
        self.setup = setup
        self.config: DriverConfig = setup.config
        self.confdir = confdir
        self.xargs = xargs
        self.cli_interval = cli_interval
        self.dstate = DriverState()
        self.dstate.ignore_lb = "ignorelb" in self.config.flags
        self.driver = cls(self.config, self.dstate)
        self.server: DriverSocketServer | None = None
        self.pidfile = pid_path(self.config.statepath, self.config.progname, self.config.upsname)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._reload = False
        self.backoff = Backoff()
        self.exit_status = 0

    def set_state(self, state: str) -> None:
        """``driver.state`` as NUT 2.8.1+ names the steps."""
        if self.cls.publish_state:
            self.dstate.set_info("driver.state", state)

    # -- start-up --------------------------------------------------------------
    def _publish_setup(self) -> None:
        ds = self.dstate
        ds.set_info("device.type", "ups")
        for name, value in self.setup.published:
            ds.set_info(name, value)
        for name, value in self.setup.defaults.items():
            ds.set_info(name, value)
        for name, value in self.setup.overrides.items():
            ds.set_immutable(name, value)

    async def init(self) -> None:
        self.set_state("init.starting")
        self.backoff.max_tries = self.config.get_int("reconnect_max_tries", -1, minimum=-1)
        self._publish_setup()
        self.set_state("init.device")
        try:
            await self.driver.init_ups()
        except DEVICE_ERRORS as exc:
            raise DriverError(f"cannot open the device: {exc}") from None
        self.set_state("init.quiet")

    async def kill_power(self) -> None:
        log.info("Initiating UPS shutdown")
        self.set_state("fsd.killpower")
        try:
            await self.driver.shutdown()
        except DEVICE_ERRORS as exc:
            raise DriverError(f"kill power failed: {exc}") from None

    async def start_data(self) -> None:
        ds = self.dstate
        ds.set_info("driver.version", NUT_VERSION)
        ds.set_info("driver.version.internal", self.cls.version)
        ds.set_info("driver.name", self.config.progname)
        try:
            self.set_state("init.info")
            await self.driver.init_info()
            self.set_state("init.updateinfo")
            await self.driver.update_info()
        except DEVICE_ERRORS as exc:
            raise DriverError(f"cannot read the device: {exc}") from None
        self.set_state("init.quiet")
        if self.dstate.ignore_lb:
            has = [v for v in ("battery.charge", "battery.runtime")
                   if ds.value(v) is not None and ds.value(v + ".low") is not None]
            if not has:
                raise DriverError(
                    "the 'ignorelb' flag is set, but neither battery.charge + battery.charge.low "
                    "nor battery.runtime + battery.runtime.low are available"
                )

    async def _take_over_pidfile(self) -> None:
        """NUT ends a previous instance of the same driver+UPS before starting."""
        pid = signal_driver(self.pidfile, self.config.progname)
        if pid is None:
            return
        log.warning("Duplicate driver instance detected (PID %d)! Terminating the other one", pid)
        deadline = time.monotonic() + DUPLICATE_WAIT
        while alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if alive(pid):
            raise DriverError(f"previous instance (PID {pid}) did not exit")

    async def open_socket(self) -> None:
        await self._take_over_pidfile()
        try:
            write_pid(self.pidfile)
        except OSError as exc:  # NUT logs it and carries on
            log.warning("cannot write PID file %s: %s (running as uid %d)", self.pidfile,
                        exc.strerror or exc, os.getuid())
        path = socket_path(self.config.statepath, self.config.progname, self.config.upsname)
        self.server = DriverSocketServer(path, self.dstate, self)
        await self.server.start()
        self.publish_final()
        self.set_state("quiet")

    def publish_final(self) -> None:
        ds = self.dstate
        ds.set_info("driver.parameter.pollinterval", format_interval(self.config.pollinterval))
        ds.set_info("driver.parameter.synchronous", self.setup.synchronous)
        for leaf in ("mfr", "model", "serial"):
            value = ds.value(f"ups.{leaf}")
            if value is not None:
                ds.set_info(f"device.{leaf}", value)

    # -- running ---------------------------------------------------------------
    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def request_stop(self, sig: int = 0) -> None:
        if sig:
            log.info("Signal %d: exiting", sig)
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload = True
        self._wake.set()

    async def _do_reload(self) -> None:
        self._reload = False
        try:
            conf = load_ups_conf(self.confdir)
            setup = build_config(
                progname=self.config.progname, upsname=self.config.upsname, conf=conf,
                vartab=self.cls.vartab, xargs=self.xargs, confdir=self.confdir,
                statepath=self.config.statepath, cli_interval=self.cli_interval,
            )
        except (ConfigError, DriverError) as exc:
            log.error("reload refused: %s", exc)
            return
        self.set_state("reloading")
        process.notify("RELOADING=1", f"MONOTONIC_USEC={process.monotonic_usec()}")
        for name, value in setup.published:
            self.dstate.set_info(name, value)
        self.config = setup.config
        self.backoff.max_tries = setup.config.get_int("reconnect_max_tries", -1, minimum=-1)
        self.dstate.set_info("driver.parameter.pollinterval",
                             format_interval(self.config.pollinterval))
        assert self.server is not None
        async with self.server.lock:
            await self.driver.reload(setup.config)
        self.set_state("reconnect.trying" if self.backoff.active else "quiet")
        process.notify("READY=1")
        log.info("configuration reloaded")

    # -- the device comes and goes ---------------------------------------------
    def device_lost(self, exc: BaseException) -> None:
        """Stale now, values kept; reconnect attempts follow on the back-off."""
        if self.backoff.active:
            return
        forever = self.backoff.max_tries < 0
        log.warning("Driver lost connection to the device [%s] (%s); reconnecting%s",
                    self.config.upsname, exc or type(exc).__name__,
                    ", will try indefinitely" if forever
                    else f" at most {self.backoff.max_tries} times")
        self.dstate.data_stale()
        self.backoff.lost(time.monotonic())
        self.set_state("reconnect.trying")
        if self.backoff.exhausted:
            self._give_up()

    def _give_up(self) -> None:
        log.error("Driver lost connection to the device [%s] and gives up after %d attempts",
                  self.config.upsname, self.backoff.count)
        self.exit_status = 1
        self.request_stop()

    async def _try_reconnect(self) -> None:
        b = self.backoff
        if time.monotonic() < b.next_at:
            return
        try:
            await self.driver.reconnect()
            self.set_state("reconnect.updateinfo")
            await self.driver.update_info()
        except Exception as exc:  # any failure here means "still away"
            b.failed(time.monotonic())
            self.set_state("reconnect.trying")
            ds = self.dstate
            ds.set_info("driver.reconnect_count", str(b.count))
            ds.set_info("driver.reconnect_max_tries", str(b.max_tries))
            if not isinstance(exc, DEVICE_ERRORS):
                log.exception("reconnect attempt %d failed", b.count)
            elif b.should_log():
                log.info("reconnect attempt %d to [%s] failed (%s); next in %.1f s", b.count,
                         self.config.upsname, exc or type(exc).__name__, b.delay(b.count))
            if b.exhausted:
                self._give_up()
            return
        log.warning("Communications with UPS [%s] re-established after %d failed attempts",
                    self.config.upsname, b.count)
        b.succeeded()
        self.set_state("quiet")

    # -- what the socket server calls --------------------------------------------
    async def instcmd(self, name: str, param: str | None) -> int:
        if name.lower() == "driver.exit":
            # NUT 2.8.1+'s common command (handled, not listed): end this driver.
            log.info("instcmd: driver.exit: exiting")
            self.request_stop()
            return Stat.HANDLED
        if self.backoff.active:
            log.info("instcmd %s refused: the device is not connected", name)
            return Stat.FAILED
        try:
            return await self.driver.instcmd(name, param)
        except DEVICE_ERRORS as exc:
            self.device_lost(exc)
            return Stat.FAILED

    async def setvar(self, name: str, value: str) -> int:
        if self.backoff.active:
            log.info("SET %s refused: the device is not connected", name)
            return Stat.FAILED
        try:
            return await self.driver.setvar(name, value)
        except DEVICE_ERRORS as exc:
            self.device_lost(exc)
            return Stat.FAILED

    async def _poll(self) -> None:
        assert self.server is not None
        async with self.server.lock:
            if self.backoff.active:
                await self._try_reconnect()
                return
            self.set_state("updateinfo")
            try:
                await self.driver.update_info()
            except DEVICE_ERRORS as exc:
                self.device_lost(exc)
                return
            except Exception:
                log.exception("update failed")
            self.set_state("quiet")

    async def loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            if self._reload:
                await self._do_reload()
            await self._poll()
            deadline = started + self.config.pollinterval
            wake = self.backoff.next_at if self.backoff.active else self.driver.wake_at()
            if wake is not None:
                deadline = min(deadline, wake) if not self.backoff.active else wake
            self._wake.clear()
            timeout = max(0.0, deadline - time.monotonic())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            await asyncio.sleep(0)

    async def close(self) -> None:
        self.set_state("cleanup.upsdrv")
        with contextlib.suppress(Exception):
            await self.driver.cleanup()
        self.set_state("cleanup.exit")
        if self.server is not None:
            await self.server.close()
        remove_pid(self.pidfile)


async def _serve(proc: DriverProcess, ready: int | None, kill_power: bool,
                 dump_after: int | None, user: str | None, chroot: str | None = None,
                 group: str | None = None) -> int:
    try:
        await proc.init()
        if kill_power:
            await proc.kill_power()
            await proc.close()  # NUT runs upsdrv_cleanup at exit after -k too
            return 0
        await proc.start_data()
        if dump_after is not None:
            proc.publish_final()
            proc.set_state("quiet")
            for _ in range(max(0, dump_after - 1)):
                await proc.driver.update_info()
            proc.set_state("dumping")
            for var in proc.dstate.tree.variables():
                print(f"{var.name}: {var.value}")
            return 0
        drop_privileges(user, chroot)
        await proc.open_socket()
        if proc.server is not None:
            process.set_group(proc.server.path, group)
    except (DriverError, SocketError, process.ProcessError) as exc:
        log.error("%s", exc)
        await proc.close()
        return 1
    proc.install_signals()
    process.announce_ready(ready, "pnut-driver")
    process.notify("READY=1")
    dog = asyncio.create_task(process.keep_watchdog())
    log.info("%s driver for [%s] listening on %s", proc.config.progname, proc.config.upsname,
             proc.server.path if proc.server else "?")
    try:
        await proc.loop()
    finally:
        process.notify("STOPPING=1")
        dog.cancel()
        await proc.close()
    return proc.exit_status


def run(driver_name: str, *, upsname: str | None, confdir: str | None, statepath: str | None,
        xargs: list[str], kill_power: bool = False, background: bool = False,
        interval: str | None = None, user: str | None = None,
        dump_after: int | None = None, from_conf: bool = True, chroot: str | None = None,
        group: str | None = None) -> int:
    """Run one driver to completion; the exit status of the process."""
    try:
        cls = load_driver(driver_name)
        cdir = confpath(confdir)
        conf = load_ups_conf(cdir) if from_conf else None
        for warning in conf.warnings if conf is not None else ():  # lines NUT reads past
            log.warning("%s", warning)
        spath = (conf or UpsConf("ups.conf")).statepath(statepath)
        if not upsname:
            raise DriverError("specifying '-a <ups>' (or '-s <ups>') is mandatory")
        setup = build_config(
            progname=driver_name, upsname=upsname, conf=conf, vartab=cls.vartab, xargs=xargs,
            confdir=cdir, statepath=spath, cli_interval=interval, cli_user=user,
        )
    except (ConfigError, DriverError) as exc:
        log.error("%s", exc)
        return 1
    if setup.debug_min and logging.getLogger().level > logging.DEBUG:
        logging.getLogger().setLevel(logging.DEBUG)
    detach = background and not kill_power and dump_after is None
    ready = process.start_background() if detach else None

    async def main() -> int:
        proc = DriverProcess(cls, setup, confdir=cdir, xargs=xargs, cli_interval=interval)
        return await _serve(proc, ready, kill_power, dump_after, setup.user, chroot,
                            group or setup.group)

    return asyncio.run(main())


def control(driver_name: str, upsname: str, command: str, *, confdir: str | None,
            statepath: str | None) -> int:
    """``-c reload|exit``: signal the running instance found by its PID file."""
    sig = {"reload": signal.SIGHUP, "exit": signal.SIGTERM}.get(command)
    if sig is None:
        log.error("-c %s: supported commands are reload and exit", command)
        return 1
    try:
        conf = load_ups_conf(confpath(confdir))
    except ConfigError:
        conf = UpsConf("ups.conf")
    spath = conf.statepath(statepath)
    pid = signal_driver(pid_path(spath, driver_name, upsname), driver_name, sig)
    if pid is None:
        log.error("no running %s driver for [%s] (no live PID file in %s)", driver_name, upsname,
                  pid_path(spath, driver_name, upsname).parent)
        return 1
    print(f"sent signal {int(sig)} ({command}) to {driver_name} [{upsname}], PID {pid}")
    return 0


def setup_logging(debug: int, quiet: int = 0) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    logging.basicConfig(
        level=level, stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d %(message)s", datefmt="%H:%M:%S",
    )
