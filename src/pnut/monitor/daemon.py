"""upsmon's asyncio layer: connections, the poll loop, the shutdown sequence.

How this works
--------------
One :class:`UpsLink` per MONITOR line owns an :class:`AsyncClient` and
speaks upsmon's conversation (USERNAME, PASSWORD, LOGIN, PRIMARY with
MASTER as fallback; then ``GET VAR <ups> ups.status`` each cycle).  Every
cycle :class:`Upsmon` polls all links concurrently, feeds each result to the
sans-IO :class:`~pnut.monitor.machine.Machine`, calls ``recalc`` and
carries out the actions: notifications go to the
:class:`~pnut.monitor.notifier.Notifier`, a ``StartShutdown`` runs
:meth:`Upsmon.shutdown`.  No network error escapes a link: each becomes a
failed poll (COMMBAD / NOCOMM in the machine).

STARTTLS as NUT's upsmon: tried on every connection, mandatory with
FORCESSL (or CERTHOST's forcessl), certificate checked against CERTPATH
with CERTVERIFY; pnut adds CERTPIN and a client CERTFILE (see
:func:`tls_settings`).

Shutdown, as NUT 2.8.0: a primary sends ``FSD <ups>`` for its UPSes and
waits up to HOSTSYNC until ``NUMLOGINS`` is at most 1; then (primary or
secondary) SHUTDOWN is notified, FINALDELAY passes, every connection is
closed (so the primary's NUMLOGINS drops), POWERDOWNFLAG is written and
SHUTDOWNCMD runs — here, or in the privileged parent when the process is
split (see pnut.cli.upsmon).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pnut.client import AsyncClient, ClientError, NutConnectionError, ServerError
from pnut.client.errors import Failure
from pnut.client.tls import TlsMode, TlsSettings
from pnut.config.notify import NotifyType
from pnut.config.parser import ConfigError
from pnut.config.upsmon_conf import Monitor, UpsmonConf, load_upsmon_conf
from pnut.monitor import pdflag
from pnut.monitor.events import Notification
from pnut.monitor.machine import HostSync, Log, Machine, Notify, Settings, StartShutdown, UpsTrack
from pnut.monitor.notifier import NOTIFY_TIMEOUT, Notifier
from pnut.monitor.thresholds import Watch

#: The TCP connect (and TLS set-up) gets this long (NUT's NET_TIMEOUT alarm).
NET_TIMEOUT = 10.0
#: Each request gets this long for its answer: NUT's upsclient reads with
#: DEFAULT_NETWORK_TIMEOUT (5 s).  A silent upsd (a cut link, a hung
#: server) is then noticed as soon as NUT notices it; 10 s here made a
#: secondary cut off on battery shut down 5 s later than NUT's (tests/chaos).
READ_TIMEOUT = 5.0
#: Pause between NUMLOGINS rounds while waiting for secondaries.
HOSTSYNC_INTERVAL = 0.25
#: The parent-pipe byte that means "shut the machine down".
PIPE_SHUTDOWN = b"\x01"
#: The signals upsmon acts on (stop, FSD, reload); blocked until handled.
COMMAND_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT,
                             signal.SIGUSR1, signal.SIGHUP})
#: NOPARENT is repeated at most this often.
NOPARENT_INTERVAL = 120.0
#: How long a LOGOUT may take before the link is just closed.
LOGOUT_TIMEOUT = 2.0
#: How long SHUTDOWNCMD may run when upsmon runs it itself.
SHUTDOWNCMD_TIMEOUT = 300.0


@dataclass
class Options:
    """How to run upsmon; the defaults are the CLI's."""

    #: Demo mode: SHUTDOWNCMD is printed, not run; no wall.
    demo: bool = False
    wall: bool = True
    install_signals: bool = True
    exec_timeout: float = NOTIFY_TIMEOUT
    net_timeout: float = NET_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    on_event: Callable[[Notification], None] | None = None
    #: Write end of the pipe to the privileged parent (split mode).
    parent_fd: int | None = None
    #: Re-read on reload; None = no reload possible.
    config_path: str | None = None
    print_fn: Callable[[str], None] = print


def tls_settings(conf: UpsmonConf, host: str) -> TlsSettings:
    """The STARTTLS policy for one upsd host, from upsmon.conf."""
    rule = next((c for c in conf.certhosts if c.host == host), None)
    verify = rule.verify if rule is not None else conf.certverify
    force = rule.force_ssl if rule is not None else conf.forcessl
    return TlsSettings(
        mode=TlsMode.REQUIRE if force else TlsMode.TRY,
        verify=verify,
        cafile=conf.certpath if verify else None,
        pin=conf.certpins.get(host),
        certfile=conf.certfile,
        server_name=rule.certname if rule is not None and verify else None,
    )


class UpsLink:
    """upsmon's connection to the upsd serving one MONITOR line."""

    def __init__(self, mon: Monitor, log: logging.Logger, timeout: float,
                 tls: TlsSettings | None = None, read_timeout: float = READ_TIMEOUT) -> None:
        self.mon = mon
        self.log = log
        self.timeout = timeout
        self.read_timeout = read_timeout
        self.tls = tls or TlsSettings()
        self.client: AsyncClient | None = None
        self.authed = False
        self._warned_unverified = False

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    async def connect(self) -> bool:
        """Connect and log in; False if the TCP connection failed.

        An authentication failure is logged and leaves the connection up for
        polling (as NUT); unlike NUT, the next cycle tries again on a fresh
        connection, so a fixed upsd.users is picked up.
        """
        await self.close(logout=False)
        mon = self.mon
        client = AsyncClient(mon.host, mon.port, self.timeout)
        try:
            await client.open()
            await self._secure(client)
        except ClientError as exc:
            self.log.error("UPS [%s]: connect failed: %s", mon.system, exc)
            await client.close()
            return False
        except OSError as exc:  # CA or certificate file unreadable
            self.log.error("UPS [%s]: TLS setup failed: %s", mon.system, exc)
            await client.close()
            return False
        self.client = client
        client.timeout = self.read_timeout  # connected: now each answer gets NUT's read timeout
        try:
            await client.username(mon.username)
            await client.password(mon.password)
            await client.login(mon.upsname)
            if mon.primary:
                await self._apply_for_primary(client)
            self.authed = True
            self.log.debug("Logged into UPS %s", mon.system)
        except ServerError as exc:
            self.log.error("UPS [%s]: login failed: %s", mon.system, exc)
        except ClientError as exc:
            self.log.error("UPS [%s]: connection lost while logging in: %s", mon.system, exc)
            await self.close(logout=False)
            return False
        return True

    async def _secure(self, client: AsyncClient) -> None:
        tls = self.tls
        if not await client.secure(tls):
            if tls.mode is not TlsMode.OFF:
                self.log.debug("UPS [%s]: upsd has no TLS, continuing unencrypted",
                               self.mon.system)
            return
        checked = tls.verify or tls.pin is not None
        self.log.debug("UPS [%s]: connected in TLS (certificate %s)", self.mon.system,
                       "checked" if checked else "not checked")
        if not checked and not self._warned_unverified:
            self._warned_unverified = True
            self.log.warning("UPS [%s]: TLS without certificate verification (set CERTVERIFY 1 "
                             "and CERTPATH, or CERTPIN)", self.mon.system)

    async def _apply_for_primary(self, client: AsyncClient) -> None:
        try:
            await client.primary(self.mon.upsname)
        except ServerError:
            try:
                await client.master(self.mon.upsname)
            except ServerError as exc:
                self.log.critical("Primary managerial privileges unavailable on UPS [%s]: %s",
                                  self.mon.system, exc)
                raise

    async def status(self) -> str:
        """``GET VAR <ups> ups.status``; raises ClientError."""
        if self.client is None:
            raise NutConnectionError(Failure.DISCONNECTED, self.mon.host, self.mon.port)
        return await self.client.get_var(self.mon.upsname, "ups.status")

    async def values(self, names: list[str]) -> dict[str, str]:
        """``GET VAR`` of each name the UPS has (for threshold events); never raises."""
        out: dict[str, str] = {}
        for name in names:
            if self.client is None or not self.client.connected:
                break
            with contextlib.suppress(ClientError):
                out[name] = await self.client.get_var(self.mon.upsname, name)
        return out

    async def set_fsd(self) -> bool:
        if (self.client is None or not self.client.connected) and not await self.connect():
            return False
        assert self.client is not None
        try:
            await self.client.fsd(self.mon.upsname)
            return True
        except ClientError as exc:
            self.log.error("FSD set on UPS %s failed: %s", self.mon.system, exc)
            return False

    async def numlogins(self) -> int | None:
        if self.client is None or not self.client.connected:
            return None
        try:
            return await self.client.num_logins(self.mon.upsname)
        except ClientError:
            return None

    async def close(self, logout: bool = True) -> None:
        client, self.client, self.authed = self.client, None, False
        if client is None:
            return
        # Never raises: this runs on the way to SHUTDOWNCMD, where a cut or
        # silent link (LOGOUT timing out, a reset) must not stop the shutdown.
        if logout and client.connected:
            with contextlib.suppress(ClientError, TimeoutError, OSError):
                async with asyncio.timeout(LOGOUT_TIMEOUT):
                    await client.logout()
        with contextlib.suppress(ClientError, OSError):
            await client.close()


@dataclass
class Upsmon:
    conf: UpsmonConf
    log: logging.Logger
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        self.machine = Machine.create(_settings(self.conf), _monitor_specs(self.conf))
        self.links = {m.system: UpsLink(m, self.log, self.options.net_timeout,
                                        tls_settings(self.conf, m.host),
                                        self.options.read_timeout)
                      for m in self.conf.monitors}
        self.notifier = Notifier(self.conf, self.log, exec_timeout=self.options.exec_timeout,
                                 wall=self.options.wall and not self.options.demo,
                                 on_event=self.options.on_event)
        self.thresholds = Watch.from_conf(self.conf)
        self._wake = asyncio.Event()
        self._stop = False
        self._user_fsd = False
        self._reload = False
        self._last_noparent: float | None = None

    # -- requests from signals or an embedding program ----------------------
    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    def request_fsd(self) -> None:
        self.log.info("User requested FSD")
        self._user_fsd = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload = True
        self._wake.set()

    # -- main loop --------------------------------------------------------------
    async def run(self) -> int:
        """Monitor until stopped or shut down; returns the exit status."""
        self._prepare_flag()
        if self.options.install_signals:
            self._install_signals()
        try:
            while not self._stop:
                if self._user_fsd:
                    self._act(self.machine.user_fsd())
                if self.machine.shutting_down:
                    return await self._shutdown_and_exit()
                if self._reload:
                    self._reload = False
                    await self.reload()
                await self.poll_all()
                self._act(self.machine.recalc(time.monotonic()))
                if self.machine.shutting_down:
                    return await self._shutdown_and_exit()
                self._check_parent()
                await self._sleep(self.interval())
            self.log.info("Signal received: exiting")
            return 0
        finally:
            for link in self.links.values():
                await link.close()
            await self.notifier.drain(2.0)

    def interval(self) -> float:
        alert = self.machine.on_alert()
        return float(self.conf.pollfreqalert if alert else self.conf.pollfreq)

    async def poll_all(self) -> None:
        await asyncio.gather(*(self._poll(link) for link in self.links.values()))

    async def _poll(self, link: UpsLink) -> None:
        try:
            await self._poll_once(link)
        except Exception:  # a bug or a broken environment must not stop monitoring
            self.log.exception("Poll UPS [%s] failed unexpectedly", link.mon.system)
            await link.close(logout=False)
            self._act(self.machine.poll_failed(link.mon.system, time.monotonic(), dropped=True))

    async def _poll_once(self, link: UpsLink) -> None:
        system = link.mon.system
        # Reconnect when down, and also while the login keeps failing (the
        # status is still polled: GET VAR needs no login).
        if (not link.connected or not link.authed) and not await link.connect():
            self._act(self.machine.poll_failed(system, time.monotonic()))
            return
        try:
            status = await link.status()
        except ServerError as exc:
            self.log.error("Poll UPS [%s] failed - %s", system, exc)
            self._act(self.machine.poll_failed(system, time.monotonic()))
            return
        except ClientError as exc:
            self.log.error("Poll UPS [%s] failed - %s", system, exc)
            await link.close(logout=False)
            self._act(self.machine.poll_failed(system, time.monotonic(), dropped=True))
            return
        self.log.debug("%s: ups.status [%s]", system, status)
        self._act(self.machine.poll_ok(system, status, time.monotonic()))
        if self.thresholds.variables:
            for event in self.thresholds.update(system, await link.values(
                    self.thresholds.variables)):
                self.notifier.notify_threshold(event)

    def _act(self, actions: list[Notify | Log | StartShutdown]) -> None:
        for action in actions:
            if isinstance(action, Notify):
                self.notifier.notify(action.type, action.system)
            elif isinstance(action, Log):
                self.log.log(logging.getLevelName(action.level.upper()), "%s", action.text)
            else:
                self.log.critical("Shutting down: %s (power value %d, MINSUPPLIES %d)",
                                  action.reason, action.power, action.minsupplies)

    async def _sleep(self, seconds: float) -> None:
        if self._stop or self._user_fsd or self._reload:
            return  # a request came in while we were busy
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    # -- shutdown -----------------------------------------------------------------
    async def shutdown(self) -> None:
        """forceshutdown: FSD + host sync when primary, then doshutdown."""
        primaries = [link for link in self.links.values() if link.mon.primary]
        if primaries:
            try:
                self.log.info("Setting FSD on the UPSes we are primary for")
                for link in primaries:
                    await link.set_fsd()
                self.log.info("This system is a primary... waiting for secondaries to log out")
                await self._sync_secondaries(primaries)
            except Exception:  # whatever went wrong, the machine must still go down
                self.log.exception("Setting FSD / waiting for secondaries failed")
        await self._doshutdown()

    async def _sync_secondaries(self, primaries: list[UpsLink]) -> None:
        sync = HostSync(time.monotonic(), float(self.conf.hostsync))
        while True:  # bounded: HostSync expires after HOSTSYNC
            logins = [await link.numlogins() for link in primaries]
            verdict = sync.update(time.monotonic(), logins)
            if verdict == "alone":
                return
            if verdict == "expired":
                self.log.info("Host sync timer expired, forcing shutdown")
                return
            await asyncio.sleep(HOSTSYNC_INTERVAL)

    async def _doshutdown(self) -> None:
        self.log.critical("Executing automatic power-fail shutdown")
        if self.options.wall and not self.options.demo:
            self.notifier.wall("Executing automatic power-fail shutdown\n")
        self.notifier.notify(NotifyType.SHUTDOWN, None)
        await asyncio.sleep(self.conf.finaldelay)
        # Log out first: the primary is counting our logins.
        for link in self.links.values():
            await link.close()
        if self.options.parent_fd is not None:
            try:
                os.write(self.options.parent_fd, PIPE_SHUTDOWN)
            except OSError as exc:
                self.log.error("Unable to call parent pipe for shutdown: %s", exc)
            return
        await run_shutdown(self.conf, self.log, demo=self.options.demo,
                           print_fn=self.options.print_fn)

    async def _shutdown_and_exit(self) -> int:
        await self.shutdown()
        await self.notifier.drain(5.0)
        wait = self.conf.shutdownexit
        if wait > 0:
            self.log.info("SHUTDOWNEXIT: exiting in %d seconds", wait)
            await self._sleep_until_stopped(float(wait))
        elif wait < 0:
            self.log.info("SHUTDOWNEXIT no: staying up until stopped")
            await self._sleep_until_stopped(None)
        return 0

    async def _sleep_until_stopped(self, seconds: float | None) -> None:
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self._stop:
            self._user_fsd = self._reload = False  # meaningless after the shutdown
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            await self._sleep(60.0 if left is None else min(left, 60.0))

    # -- start-up, reload, parent ---------------------------------------------------
    def _prepare_flag(self) -> None:
        path = self.conf.powerdownflag
        if path is None:
            return
        if pdflag.clear_stale(path) is pdflag.FlagState.FOREIGN:
            self.log.error("POWERDOWNFLAG (%s) does not contain the upsmon magic string - "
                           "disabling!", path)
            self.conf.powerdownflag = None

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGUSR1, self.request_fsd)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        # The CLI blocks these from before the PID file exists: one sent
        # while starting ('upsmon -c stop' at once) waited, and arrives now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, COMMAND_SIGNALS)

    async def reload(self) -> None:
        """SIGHUP: re-read upsmon.conf; a bad file keeps the running config."""
        if self.options.config_path is None:
            return
        self.log.info("Reloading configuration")
        try:
            new = load_upsmon_conf(self.options.config_path)
        except ConfigError as exc:
            self.log.error("Reload failed, keeping the running configuration: %s", exc)
            return
        for warning in new.warnings:
            self.log.warning("%s", warning)
        for key in ("shutdowncmd", "powerdownflag") if self.options.parent_fd is not None else ():
            if getattr(new, key) != getattr(self.conf, key):
                self.log.warning("%s redefined in split-process mode: restart upsmon", key.upper())
                setattr(new, key, getattr(self.conf, key))
        old_links, old_tracks = self.links, self.machine.upses
        self.links, tracks = {}, {}
        for mon in new.monitors:
            link = old_links.pop(mon.system, None)
            tls = tls_settings(new, mon.host)
            if link is not None and (link.mon != mon or link.tls != tls):
                await link.close()  # credentials, role or TLS changed: log in again
                link.mon, link.tls = mon, tls
            self.links[mon.system] = link or UpsLink(mon, self.log, self.options.net_timeout,
                                                     tls, self.options.read_timeout)
            track = old_tracks.get(mon.system) or UpsTrack(mon.system, mon.power_value, mon.primary)
            track.power_value, track.primary = mon.power_value, mon.primary
            tracks[mon.system] = track
        for gone in old_links.values():
            self.log.info("No longer monitoring UPS [%s]", gone.mon.system)
            await gone.close()
        self.machine.upses = tracks
        self.machine.settings = _settings(new)
        self.conf = new
        self.notifier.conf = new
        self.thresholds.rules = Watch.from_conf(new).rules

    def _check_parent(self) -> None:
        fd = self.options.parent_fd
        if fd is None:
            return
        poller = select.poll()
        poller.register(fd, 0)
        if not poller.poll(0):
            return
        now = time.monotonic()
        if self._last_noparent is not None and now - self._last_noparent < NOPARENT_INTERVAL:
            return
        self._last_noparent = now
        self.notifier.notify(NotifyType.NOPARENT, None)
        self.log.critical("Parent died - shutdown impossible")


async def run_shutdown(conf: UpsmonConf, log: logging.Logger, *, demo: bool = False,
                       print_fn: Callable[[str], None] = print) -> None:
    """Write POWERDOWNFLAG, then run SHUTDOWNCMD (demo: print it instead)."""
    if conf.powerdownflag:
        try:
            pdflag.write(conf.powerdownflag)
        except OSError as exc:
            log.error("Failed to create power down flag %s: %s", conf.powerdownflag, exc)
    if not conf.shutdowncmd:
        log.error("No SHUTDOWNCMD defined: cannot shut down")
        return
    if demo:
        print_fn(f"upsmon (demo): would now run SHUTDOWNCMD: {conf.shutdowncmd}")
        return
    if os.geteuid() != 0:
        log.warning("Not root, shutdown may fail")
    proc = await asyncio.create_subprocess_shell(conf.shutdowncmd, stdin=asyncio.subprocess.DEVNULL)
    try:
        rc = await asyncio.wait_for(proc.wait(), SHUTDOWNCMD_TIMEOUT)
    except TimeoutError:
        log.error("SHUTDOWNCMD still running after %gs; leaving it", SHUTDOWNCMD_TIMEOUT)
        return
    if rc != 0:
        log.error("Unable to call shutdown command: %s (status %d)", conf.shutdowncmd, rc)


def _settings(conf: UpsmonConf) -> Settings:
    # A MONITOR line whose UPS name NUT cannot split stays in NUT's list, never
    # polled and so never critical: its power value always counts as online.
    # pnut does not poll it at all, so it takes that power off MINSUPPLIES
    # (else such a file would shut the machine down at once).
    minsupplies = max(0, conf.minsupplies - conf.unusable_power)
    return Settings(minsupplies=minsupplies, hostsync=conf.hostsync,
                    deadtime=conf.deadtime, rbwarntime=conf.rbwarntime,
                    nocommwarntime=conf.nocommwarntime)


def _monitor_specs(conf: UpsmonConf) -> list[tuple[str, int, bool]]:
    return [(m.system, m.power_value, m.primary) for m in conf.monitors]


def run(conf: UpsmonConf, logger: logging.Logger | None = None,
        options: Options | None = None) -> int:
    """Run upsmon in this process until it stops; the entry for ``pnut demo``."""
    log = logger or logging.getLogger("pnut.upsmon")
    return asyncio.run(Upsmon(conf, log, options or Options()).run())
