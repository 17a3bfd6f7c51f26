"""upsdrvctl: start, stop and shut down the drivers of ups.conf.

How this works
--------------
Each UPS section names a driver.  pnut's built-in drivers (sim, dummy-ups)
are run as ``python -m pnut driver NAME -a UPS -B``; any other name runs
NUT's C driver of that name from ``driverpath`` (ups.conf global, default
/lib/nut) as ``NAME -a UPS``.  Either way the started process goes to the
background once its socket listens and the foreground process exits 0 — so
``start`` waits for that exit (at most ``maxstartdelay`` seconds), retries
``maxretry`` times ``retrydelay`` seconds apart, and checks the socket is
there.  ``stop`` signals the PID in ``<driver>-<ups>.pid`` and waits for it
to go; ``shutdown`` runs each driver with ``-k`` in ``sdorder`` order
(0 first, -1 never).  ``-t`` prints what would be run and runs nothing.

``--one-process`` (pnut only) starts all of pnut's own drivers of the
selection in one ``pnut drvhost`` process (:mod:`pnut.driver.host`); each
still has its own socket and PID file.  ``stop`` ends a hosted driver with
``INSTCMD driver.exit`` on its socket (signalling the PID would end them
all); the host exits with its last driver.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.ups_conf import UpsConf, UpsSection
from pnut.driver.base import BUILTIN_DRIVERS
from pnut.driver.host import hosted_pid_cmdline
from pnut.driver.pidfile import alive, pid_path, read_pid, signal_driver

DEFAULT_DRIVERPATH = "/lib/nut"
DEFAULT_MAXSTARTDELAY = 45
DEFAULT_MAXRETRY = 1
DEFAULT_RETRYDELAY = 5
#: Seconds ``stop`` waits for a driver to exit after SIGTERM.
STOP_WAIT = 15.0


@dataclass
class Options:
    testing: bool = False
    user: str | None = None
    debug: int = 0
    pass_debug: bool = False
    chroot: str | None = None
    confdir: str | None = None
    statepath: str | None = None
    one_process: bool = False


@dataclass
class Controller:
    conf: UpsConf
    statepath: Path
    opts: Options = field(default_factory=Options)

    def say(self, text: str) -> None:
        print(text, flush=True)

    def warn(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # -- settings -------------------------------------------------------------------
    def _setting(self, ups: UpsSection, key: str, default: int) -> int:
        raw = ups.settings.get(key, self.conf.globals.get(key))
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            self.warn(f"{self.conf.path}: [{ups.name}] {key}: not a number: {raw!r}; "
                      f"using {default}")
            return default

    def argv(self, ups: UpsSection, *extra: str) -> list[str] | None:
        driver = ups.driver or ""
        debug = ["-D"] * self.opts.debug if self.opts.pass_debug else []
        if driver in BUILTIN_DRIVERS:
            cmd = [sys.executable, "-m", "pnut", "driver", driver, "-a", ups.name]
            if self.opts.confdir:
                cmd += ["--confdir", self.opts.confdir]
            if self.opts.statepath:
                cmd += ["--statepath", self.opts.statepath]
        else:
            path = Path(self.conf.globals.get("driverpath", DEFAULT_DRIVERPATH)) / driver
            if "/" in driver or not path.exists():
                self.warn(f"Can't start {path}: no such driver")
                return None
            cmd = [str(path), "-a", ups.name]
        if self.opts.chroot:
            cmd += ["-r", self.opts.chroot]
        if self.opts.user:
            cmd += ["-u", self.opts.user]
        return [*cmd, *debug, *extra]

    def env(self) -> dict[str, str]:
        """NUT's C drivers find --confdir and --statepath through NUT's variables."""
        env = dict(os.environ)
        if self.opts.confdir:
            env["NUT_CONFPATH"] = str(Path(self.opts.confdir).resolve())
        if self.opts.statepath:
            env["NUT_STATEPATH"] = env["NUT_ALTPIDPATH"] = str(Path(self.opts.statepath).resolve())
        return env

    def select(self, name: str | None) -> list[UpsSection] | None:
        if name is None:
            return list(self.conf.upses)
        ups = self.conf.get(name)
        if ups is None:
            self.warn(f"UPS {name} not found in ups.conf")
            return None
        return [ups]

    # -- start ------------------------------------------------------------------------
    def start(self, name: str | None) -> int:
        upses = self.select(name)
        if upses is None:
            return 1
        failed = 0
        nowait = "nowait" in self.conf.global_flags or bool(self.conf.globals.get("nowait"))
        if self.opts.one_process:
            hosted = [u for u in upses if (u.driver or "") in BUILTIN_DRIVERS]
            upses = [u for u in upses if u not in hosted]
            if hosted:
                failed += self._start_host(hosted)
        for ups in upses:
            if not self._start_one(ups, nowait):
                failed += 1
        return 1 if failed else 0

    def _start_host(self, upses: list[UpsSection]) -> int:
        """One drvhost process for these UPSes; the number that did not start."""
        argv = [sys.executable, "-m", "pnut", "drvhost", "-B"]
        if self.opts.confdir:
            argv += ["--confdir", self.opts.confdir]
        if self.opts.statepath:
            argv += ["--statepath", self.opts.statepath]
        if self.opts.user:
            argv += ["-u", self.opts.user]
        argv += ["-D"] * (self.opts.debug if self.opts.pass_debug else 0)
        argv += [f"{u.driver}:{u.name}" for u in upses]
        if self.opts.testing:
            self.say(f"exec: {' '.join(argv)}")
            return 0
        delay = max(self._setting(u, "maxstartdelay", DEFAULT_MAXSTARTDELAY) for u in upses)
        try:
            code = subprocess.run(argv, stdin=subprocess.DEVNULL, env=self.env(),
                                  timeout=delay + len(upses) * 0.2).returncode
        except subprocess.TimeoutExpired:
            self.warn(f"Startup timer elapsed for the driver host ({delay} s)")
            return len(upses)
        except OSError as exc:
            self.warn(f"Can't start the driver host: {exc.strerror or exc}")
            return len(upses)
        missing = [u for u in upses
                   if not self._wait_socket(self.statepath / f"{u.driver}-{u.name}", 1.0)]
        for ups in missing:
            self.warn(f"Driver failed to start for UPS {ups.name} (in the driver host, "
                      f"exit status {code})")
        return len(missing)

    def _start_one(self, ups: UpsSection, nowait: bool) -> bool:
        if not ups.driver:
            self.warn(f"{self.conf.path}:{ups.lineno}: UPS [{ups.name}] has no 'driver' "
                      "setting: not started")
            return False
        argv = self.argv(ups, "-B") if (ups.driver or "") in BUILTIN_DRIVERS else self.argv(ups)
        if argv is None:
            return False
        if self.opts.testing:
            self.say(f"exec: {' '.join(argv)}")
            return True
        delay = self._setting(ups, "maxstartdelay", DEFAULT_MAXSTARTDELAY)
        retries = max(1, self._setting(ups, "maxretry", DEFAULT_MAXRETRY))
        pause = max(0, self._setting(ups, "retrydelay", DEFAULT_RETRYDELAY))
        sock = self.statepath / f"{ups.driver}-{ups.name}"
        for attempt in range(retries):
            if attempt:
                time.sleep(pause)
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=self.env())
            except OSError as exc:
                self.warn(f"Can't start {argv[0]}: {exc.strerror or exc}")
                continue
            if nowait:
                return True
            try:
                code = proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                self.warn(f"Startup timer elapsed for UPS {ups.name} ({delay} s)")
                continue
            if code == 0 and self._wait_socket(sock, 5.0):
                return True
            self.warn(f"Driver failed to start for UPS {ups.name} (exit status {code})")
        self.warn(f"Startup failed for UPS {ups.name}")
        return False

    @staticmethod
    def _wait_socket(path: Path, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                return True
            time.sleep(0.05)
        return path.exists()

    # -- foreground (systemd's pnut-driver@.service) ------------------------------------
    def foreground(self, name: str | None) -> int:
        """``-F start UPS``: run one driver in the foreground, as NUT 2.8.1+'s upsdrvctl.

        pnut's drivers replace this process (they speak sd_notify themselves);
        NUT's C drivers run as a child: this process tells systemd READY=1
        once the socket is there, pings the watchdog while the child lives,
        passes SIGTERM/SIGHUP on and exits with the child's status.
        """
        upses = self.select(name)
        if upses is None:
            return 1
        if len(upses) != 1 or not upses[0].driver:
            self.warn("upsdrvctl -F needs one UPS that has a driver (upsdrvctl -F start UPS)")
            return 1
        ups = upses[0]
        argv = self.argv(ups, "-F")
        if argv is None:
            return 1
        if self.opts.testing:
            self.say(f"exec: {' '.join(argv)}")
            return 0
        if ups.driver in BUILTIN_DRIVERS:
            os.execve(argv[0], argv, self.env())
        return self._supervise(argv, self.statepath / f"{ups.driver}-{ups.name}")

    def _supervise(self, argv: list[str], sock: Path) -> int:
        from pnut import process

        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=self.env())
        asked: set[int] = set()

        def forward(signum: int, _frame: object) -> None:
            asked.add(signum)
            child.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, forward)
        announced = False
        interval = process.watchdog_interval() or 1.0
        next_ping = 0.0
        while child.poll() is None:
            if not announced and sock.exists():
                process.notify("READY=1", f"STATUS=driver PID {child.pid}")
                announced = True
            if time.monotonic() >= next_ping and process.watchdog_interval() is not None:
                process.notify("WATCHDOG=1")
                next_ping = time.monotonic() + interval
            time.sleep(0.1)
        process.notify("STOPPING=1")
        if sock.exists():  # NUT 2.8.0's drivers in -F set no handler: the socket stays
            with contextlib.suppress(OSError):
                sock.unlink()
        if child.returncode < 0 and -child.returncode in asked:
            return 0  # NUT 2.8.0's drivers in -F die of the SIGTERM we passed on: a clean stop
        return child.returncode if child.returncode >= 0 else 128 - child.returncode

    # -- stop ----------------------------------------------------------------------------
    def stop(self, name: str | None) -> int:
        upses = self.select(name)
        if upses is None:
            return 1
        failed = 0
        for ups in upses:
            if not ups.driver:
                continue  # reported by the start-up checks; nothing can be running
            driver = ups.driver
            pidfile = pid_path(self.statepath, driver, ups.name)
            if self.opts.testing:
                self.say(f"stop: {driver} [{ups.name}] (PID file {pidfile})")
                continue
            pid = read_pid(pidfile)
            if pid is None:
                self.warn(f"Can't open {pidfile}: no PID file (driver not running?)")
                failed += 1
                continue
            if f"{driver}:{ups.name}" in hosted_pid_cmdline(pid):
                failed += not self._stop_hosted(ups, pidfile)
                continue
            if signal_driver(pidfile, driver, signal.SIGTERM) is None:
                self.warn(f"Stopping {ups.name} failed: PID {pid} is not a running {driver}")
                failed += 1
                continue
            deadline = time.monotonic() + STOP_WAIT
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                self.warn(f"Driver for UPS {ups.name} (PID {pid}) did not exit")
                failed += 1
        return 1 if failed else 0

    def _stop_hosted(self, ups: UpsSection, pidfile: Path) -> bool:
        """End one driver of a drvhost (the others keep running)."""
        path = self.statepath / f"{ups.driver}-{ups.name}"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5.0)
                sock.connect(str(path))
                sock.sendall(b"INSTCMD driver.exit\n")
        except OSError as exc:
            self.warn(f"Stopping {ups.name} failed: {path}: {exc.strerror or exc}")
            return False
        deadline = time.monotonic() + STOP_WAIT
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if pidfile.exists():
            self.warn(f"Driver for UPS {ups.name} (in the driver host) did not exit")
            return False
        return True

    # -- shutdown --------------------------------------------------------------------------
    def shutdown(self, name: str | None) -> int:
        upses = self.select(name)
        if upses is None:
            return 1
        order = sorted({self._setting(u, "sdorder", 0) for u in upses} - {-1})
        failed = 0
        for level in order:
            if level < 0:
                continue
            for ups in upses:
                if not ups.driver or self._setting(ups, "sdorder", 0) != level:
                    continue
                argv = self.argv(ups, "-k")
                if argv is None:
                    failed += 1
                    continue
                if self.opts.testing:
                    self.say(f"exec: {' '.join(argv)}")
                    continue
                delay = self._setting(ups, "maxstartdelay", DEFAULT_MAXSTARTDELAY)
                try:
                    code = subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=delay,
                                          env=self.env()).returncode
                except subprocess.TimeoutExpired:
                    self.warn(f"Shutdown timer elapsed for UPS {ups.name}")
                    code = -1
                except OSError as exc:
                    self.warn(f"Can't start {argv[0]}: {exc.strerror or exc}")
                    code = -1
                if code != 0:
                    self.warn(f"Shutdown failed for UPS {ups.name}")
                    failed += 1
        return 1 if failed else 0
