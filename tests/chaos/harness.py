"""One chaos run: real daemons in network namespaces, a simulated UPS, faults.

How this works
--------------
:class:`Run` builds a private config dir, the namespaces (:mod:`netns`)
and starts the driver (dummy-ups reading ``ups.dev``), upsd (hub
namespace), a primary upsmon (hub) and the secondaries (one namespace
each) — pnut's (``impl="pnut"``) or Debian's NUT 2.8 C programs
(``impl="nut"``), with the same configs.  The harness is the UPS's physics:
pnut's :class:`~pnut.driver.drivers.simmodel.SimModel` with a fast drain
runs here and its status is written to ``ups.dev`` (atomically, with a new
whole-second mtime each time so NUT's dummy-ups sees every change).  That
way a killed driver does not reset the battery, the moment the battery is
empty is known exactly, and NUT's stack reads the very same UPS.

The main loop (every 50 ms, bounded by the plan's cap) moves the model,
carries out the plan's events when due, notices processes that ended by
themselves and the POWERDOWNFLAG appearing.  SHUTDOWNCMD and NOTIFYCMD are
shell scripts appending ``<node> shutdown|notify <uptime> ...`` to one
events file (``/proc/uptime``, the boot-time clock, so a faked wall clock
does not move the record).  At the end everything is collected into a
:class:`~invariants.RunRecord`; every process is ended by PID and the
namespaces are deleted, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from invariants import Life, RunRecord, Timing
from netns import Namespaces
from scenario import NODES, PRIMARY, SECONDARIES, Plan

from pnut.driver.drivers.simmodel import SimModel, SimSettings

REPO = Path(__file__).resolve().parents[2]
PNUT = [sys.executable, "-m", "pnut"]
NUT_LIBDIR = Path("/lib/nut")
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
PROBE = Path(__file__).resolve().parent / "probe.py"
PORT = 3493  # inside the run's own hub namespace: no clash with anything
TICK = 0.05

TIMING = Timing()
UPSMON_SETTINGS = {"POLLFREQ": "1", "POLLFREQALERT": "1", "HOSTSYNC": "3", "DEADTIME": "5",
                   "FINALDELAY": "1", "NOCOMMWARNTIME": "8", "MINSUPPLIES": "1"}
EVENTS = ("ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN", "REPLBATT",
          "NOCOMM", "NOPARENT")
USERS = """\
[admin]
  password = adminpw
  actions = SET FSD
  upsmon primary

[mon]
  password = monpw
  upsmon secondary
"""
FLAG_MAGIC = b"upsmon-shutdown-file"


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class Proc:
    """A daemon the run owns: started, killed, stopped and restarted by PID."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name, self.argv, self.env, self.logdir = name, argv, env, logdir
        self.popen: subprocess.Popen[bytes] | None = None
        self.lives: list[Life] = []
        self.stopped = False

    def start(self, t: float) -> None:
        log = self.logdir / f"{self.name.replace(':', '-')}.{len(self.lives)}.log"
        with open(log, "ab") as fh:
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=fh,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.lives.append(Life(t))

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, sig)

    def kill9(self, t: float, how: str = "killed") -> None:
        if not self.alive:
            return
        assert self.popen is not None
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        self.popen.wait(10)
        self.stopped = False
        life = self.lives[-1]
        life.end, life.how, life.rc = t, how, self.popen.returncode

    def ended_by_itself(self, t: float) -> bool:
        """True once, when the process exited without the harness killing it."""
        if self.popen is None or not self.lives or self.lives[-1].how != "running":
            return False
        rc = self.popen.poll()
        if rc is None:
            return False
        life = self.lives[-1]
        life.end, life.how, life.rc = t, "exited", rc
        return True


class Run:
    def __init__(self, plan: Plan, impl: str = "pnut", keep: bool = False) -> None:
        self.plan, self.impl, self.keep = plan, impl, keep
        self.dir = Path(tempfile.mkdtemp(prefix=f"pnut-chaos-{impl}-{plan.seed}-"))
        os.chmod(self.dir, 0o755)
        self.state = self.dir / "state"
        self.state.mkdir()
        os.chmod(self.state, 0o777)
        self.events = self.dir / "events"
        self.probe_out = self.dir / "probe"
        self.dev = self.dir / "ups.dev"
        self.ns = Namespaces(list(SECONDARIES))
        self.procs: dict[str, Proc] = {}
        self.aux: list[subprocess.Popen[bytes]] = []
        self.load: subprocess.Popen[bytes] | None = None
        self.down: dict[str, list[tuple[float, float]]] = {}
        self._open_down: dict[str, float] = {}
        self.restarts: list[tuple[str, float]] = []
        self.problems: list[str] = []
        self.status_log: list[tuple[float, str]] = []
        self.t0 = 0.0
        self.mtime = int(time.time()) - 1_000_000
        phys = plan.physics
        self.model = SimModel(SimSettings(drain_rate=100.0 / phys.drain_seconds,
                                          charge_rate=2.0, restore_after=-1.0, seed=plan.seed))
        self.model.charge_low, self.model.runtime_low = phys.charge_low, 0.0
        self.rng = random.Random(plan.seed * 7919 + 1)
        self.empty_at: float | None = None
        self.flag_seen: float | None = None
        self._last_dev = ""

    # -- configuration -----------------------------------------------------------
    def _env(self, home: Path | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(NUT_CONFPATH=str(home or self.dir), NUT_STATEPATH=str(self.state),
                   NUT_ALTPIDPATH=str(home or self.state), PYTHONUNBUFFERED="1",
                   # pnut's upsd listens beyond loopback: its own certificate goes here,
                   # never to the machine's /var/lib/nut
                   STATE_DIRECTORY=str(self.dir / "lib"))
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
        if self.plan.uses_clock:
            env.update(LD_PRELOAD=str(FAKETIME), FAKETIME_DONT_FAKE_MONOTONIC="1",
                       FAKETIME_TIMESTAMP_FILE=str(self.dir / "faketime"),
                       FAKETIME_CACHE_DURATION="1")
        return env

    def _write(self, path: Path, text: str, mode: int = 0o644) -> None:
        path.write_text(text)
        os.chmod(path, mode)

    def configure(self) -> None:
        (self.dir / "faketime").write_text("+0\n")
        poll = "0.25" if self.impl == "pnut" else "1"
        self._write(self.dir / "ups.conf",
                    f"[ups]\n  driver = dummy-ups\n  port = ups.dev\n  pollinterval = {poll}\n")
        listen = "".join(f"LISTEN {self.ns.hub_address(s)} {PORT}\n" for s in SECONDARIES)
        # The links are private veth pairs; pnut wants TLS off loopback unless told.
        clear = "REQUIRE_TLS no\n" if self.impl == "pnut" else ""
        self._write(self.dir / "upsd.conf", f"LISTEN 127.0.0.1 {PORT}\n{listen}MAXAGE "
                                            f"{int(TIMING.maxage)}\n{clear}")
        self._write(self.dir / "upsd.users", USERS, 0o640)
        self._publish(0.0)
        for node in NODES:
            self._node_conf(node)

    def _node_conf(self, node: str) -> None:
        home = self.dir / f"mon-{node}"
        home.mkdir()
        os.chmod(home, 0o755)
        stamp = "read up _ < /proc/uptime"
        state = f"st=$(sed -n 's/^ups.status: //p' {self.dev} | tr ' ' '+')"
        extra = ""
        if node == PRIMARY:
            flag = home / "flagfs" / "killpower"
            (home / "flagfs").mkdir()
            extra = f'f=0; [ "$(cat {flag} 2>/dev/null)" = "{FLAG_MAGIC.decode()}" ] && f=1\n'
        self._write(home / "shutdown.sh",
                    f"#!/bin/sh\n{stamp}\n{state}\n{extra or 'f=-'}\n"
                    f'echo "{node} shutdown $up $st flag=$f" >> {self.events}\n', 0o755)
        self._write(home / "notify.sh",
                    f'#!/bin/sh\n{stamp}\necho "{node} notify $up $NOTIFYTYPE" >> {self.events}\n',
                    0o755)
        if node == PRIMARY:
            monitor = f"MONITOR ups@127.0.0.1:{PORT} 1 admin adminpw primary\n"
            monitor += f"POWERDOWNFLAG {home / 'flagfs' / 'killpower'}\n"
        else:
            monitor = f"MONITOR ups@{self.ns.hub_address(node)}:{PORT} 1 mon monpw secondary\n"
        conf = [monitor, f"SHUTDOWNCMD {home}/shutdown.sh\n", f"NOTIFYCMD {home}/notify.sh\n",
                "RUN_AS_USER root\n"]
        conf += [f"{k} {v}\n" for k, v in UPSMON_SETTINGS.items()]
        conf += [f"NOTIFYFLAG {e} SYSLOG+EXEC\n" for e in EVENTS]
        self._write(home / "upsmon.conf", "".join(conf), 0o640)

    def _argv(self, what: str) -> list[str]:
        if what == "driver":
            if self.impl == "nut":
                return [str(NUT_LIBDIR / "dummy-ups"), "-a", "ups", "-F", "-u", "root"]
            return [*PNUT, "driver", "dummy-ups", "-a", "ups", "-F", "-u", "root",
                    "--confdir", str(self.dir)]
        if what == "upsd":
            argv = ([str(NUT_LIBDIR / "upsd"), "-F", "-u", "root"] if self.impl == "nut"
                    else [*PNUT, "upsd", "-F", "-u", "root", "--confdir", str(self.dir)])
            return self.ns.wrap("hub", argv)
        node = what.removeprefix("upsmon:")
        argv = ([str(NUT_LIBDIR / "upsmon"), "-F", "-p"] if self.impl == "nut"
                else [*PNUT, "upsmon", "-F", "-D", "-p"])
        argv = self._private_mounts(node, argv)
        return self.ns.wrap("hub" if node == PRIMARY else node, argv)

    def _private_mounts(self, node: str, argv: list[str]) -> list[str]:
        """A mount namespace of its own where the upsmon needs one.

        NUT's upsmon running as root keeps its PID file in the compiled-in
        /run/nut whatever the environment says, so each gets a private tmpfs
        there (three of them, and other tests, would refuse each other).  The
        primary's POWERDOWNFLAG directory may be a tiny full or read-only
        tmpfs of its own.
        """
        setup = []
        if self.impl == "nut":
            setup.append("mount -t tmpfs -o size=64k chaosrun /run/nut")
        fs = self.dir / f"mon-{PRIMARY}" / "flagfs"
        if node == PRIMARY and self.plan.pdflag == "ro":
            setup.append(f"mount -t tmpfs -o ro,size=16k chaosflag {fs}")
        elif node == PRIMARY and self.plan.pdflag == "full":
            setup.append(f"mount -t tmpfs -o size=8k chaosflag {fs} && "
                         f"(dd if=/dev/zero of={fs}/fill bs=1k count=64 2>/dev/null; true)")
        if not setup:
            return argv
        return ["unshare", "-m", "--propagation", "private", "sh", "-c",
                " && ".join(setup) + ' && exec "$@"', "sh", *argv]

    def _proc(self, what: str) -> Proc:
        home = None
        if what.startswith("upsmon:"):
            home = self.dir / f"mon-{what.removeprefix('upsmon:')}"
        proc = Proc(what, self._argv(what), self._env(home), self.dir)
        self.procs[what] = proc
        return proc

    # -- the UPS -------------------------------------------------------------------
    def _status_words(self, t: float) -> list[str]:
        words = self.model.status_words()
        lb = self.plan.lb_without_ob
        if lb and lb[0] <= t < lb[1] and "LB" not in words:
            words.append("LB")
        return words

    def _publish(self, t: float) -> None:
        m = self.model
        status = " ".join(self._status_words(t))
        charge, runtime = str(int(m.charge)), str(m.runtime)
        ns = self.plan.nonsense
        if ns and ns[0] <= t < ns[1]:
            charge, runtime = "250", "-42"
        text = (f"ups.status: {status}\nbattery.charge: {charge}\nbattery.runtime: {runtime}\n"
                f"battery.charge.low: {int(m.charge_low)}\nups.mfr: pnut chaos\n"
                f"ups.model: SimModel\n")
        if text == self._last_dev:
            return
        self._last_dev = text
        tmp = self.dev.with_suffix(".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        self.mtime += 1
        os.utime(tmp, (self.mtime, self.mtime))
        os.replace(tmp, self.dev)
        if not self.status_log or self.status_log[-1][1] != status:
            self.status_log.append((t, status))

    # -- faults ------------------------------------------------------------------------
    def _down(self, comp: str, t: float) -> None:
        self._open_down.setdefault(comp, t)

    def _up(self, comp: str, t: float) -> None:
        start = self._open_down.pop(comp, None)
        if start is not None:
            self.down.setdefault(comp, []).append((start, t))

    def _schedule(self) -> list[tuple[float, str, Callable[[float], None]]]:
        out: list[tuple[float, str, Callable[[float], None]]] = []
        for f in self.plan.faults:
            comp = f.target if f.target in ("driver", "upsd") else f"upsmon:{f.target}"
            if f.kind.startswith("kill9-"):
                out.append((f.at, f"kill -9 {comp}", lambda t, c=comp: self._kill(c, t)))
                if f.until is not None:
                    out.append((f.until, f"restart {comp}", lambda t, c=comp: self._restart(c, t)))
            elif f.kind.startswith("stop-"):
                out.append((f.at, f"SIGSTOP {comp}", lambda t, c=comp: self._stop(c, t)))
                out.append((f.until or f.at, f"SIGCONT {comp}", lambda t, c=comp: self._cont(c, t)))
            elif f.kind.startswith("link-"):
                mode = f.kind.split("-", 1)[1]
                out.append((f.at, f"link {f.target} {mode}",
                            lambda t, n=f.target, m=mode: self._link(n, m, t)))
                out.append((f.until or f.at, f"link {f.target} healed",
                            lambda t, n=f.target, m=mode: self._heal(n, m, t)))
            elif f.kind == "sighup-load":
                out.append((f.at, "load on", lambda t: self._load(True)))
                tt = f.at + 0.3
                while tt < (f.until or f.at):
                    out.append((tt, f"SIGHUP {comp}",
                                lambda t, c=comp: self.procs[c].signal(signal.SIGHUP)))
                    tt += 0.7
                out.append((f.until or f.at, "load off", lambda t: self._load(False)))
        for at, offset in self.plan.clock:
            out.append((at, f"clock {offset:+d}",
                        lambda t, o=offset: (self.dir / "faketime").write_text(f"{o:+d}\n")))
        out.append((self.plan.outage_at, "mains fail", lambda t: self.model.test_failure_start()))
        if self.plan.flap:
            start, end, lo, hi = self.plan.flap
            tt, on = start, False
            while tt < end:
                out.append((tt, "flap", (lambda t: self.model.test_failure_start()) if not on
                            else (lambda t: self.model.mains_back())))
                on = not on
                tt += self.rng.uniform(lo, hi)
            out.append((end, "flap end", lambda t: self.model.mains_back()))
        return sorted(out, key=lambda e: e[0])

    def _kill(self, comp: str, t: float) -> None:
        self.procs[comp].kill9(t)
        self._down(comp, t)

    def _restart(self, comp: str, t: float) -> None:
        proc = self.procs[comp]
        if proc.alive:
            return
        proc.start(t)
        self._up(comp, t)
        if comp in ("driver", "upsd"):
            self.restarts.append((comp, t))

    def _stop(self, comp: str, t: float) -> None:
        if self.procs[comp].alive:
            self.procs[comp].signal(signal.SIGSTOP)
            self.procs[comp].stopped = True
            self._down(comp, t)

    def _cont(self, comp: str, t: float) -> None:
        if self.procs[comp].stopped:
            self.procs[comp].signal(signal.SIGCONT)
            self.procs[comp].stopped = False
            self._up(comp, t)

    def _link(self, node: str, mode: str, t: float) -> None:
        self.ns.shape(node, mode)
        if mode in ("cut", "loss"):
            self._down(f"link:{node}", t)
        if mode == "cut":
            self._down(f"cut:{node}", t)

    def _heal(self, node: str, mode: str, t: float) -> None:
        self.ns.heal(node)
        self._up(f"link:{node}", t)
        self._up(f"cut:{node}", t)

    def _load(self, on: bool) -> None:
        if on and self.load is None:
            self.load = self._aux(["load", str(PORT), "ups", "20"])
        elif not on and self.load is not None:
            self.load.kill()
            self.load.wait(5)
            self.load = None

    def _aux(self, args: list[str]) -> subprocess.Popen[bytes]:
        argv = self.ns.wrap("hub", [sys.executable, str(PROBE), *args])
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.aux.append(proc)
        return proc

    # -- the run ---------------------------------------------------------------------
    def execute(self) -> RunRecord:
        """Run the plan; always ends every process and deletes the namespaces."""
        try:
            self.ns.create()
            self.configure()
            self._start_cluster()
            self._loop()
            return self._collect()
        finally:
            self.close()

    def _start_cluster(self) -> None:
        self._proc("driver").start(0.0)
        self._wait(lambda: (self.state / "dummy-ups-ups").exists(), 20, "driver socket")
        self._proc("upsd").start(0.0)
        self._aux(["probe", str(PORT), "ups", str(self.probe_out)])
        self._wait(lambda: self._probe_tail()[1] == "fresh", 20, "upsd serving the UPS")
        for node in NODES:
            self._proc(f"upsmon:{node}").start(0.0)
        self._wait(lambda: self._probe_tail()[2] >= len(NODES), 30, "every upsmon logged in")
        self.t0 = now()
        for proc in self.procs.values():  # lives are counted from t0
            proc.lives[-1].start = 0.0
        self.status_log = [(0.0, self.status_log[-1][1])]

    def _wait(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = now() + timeout
        while now() < deadline:
            if cond():
                return
            for proc in self.procs.values():
                if proc.popen is not None and proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited while waiting for {what}:\n"
                                       + self.logs())
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}:\n" + self.logs())

    def _probe_tail(self) -> tuple[float, str, int]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            lines = self.probe_out.read_text().splitlines()
            t, kind, _, n = lines[-1].split()
            return float(t), kind, int(n)
        return 0.0, "", -1

    def _loop(self) -> None:
        schedule = self._schedule()
        plan, last = self.plan, 0.0
        power_back_at: float | None = None
        kill_power: float | None = None
        while True:
            t = now() - self.t0
            self.model.advance(t - last)
            last = t
            if self.empty_at is None and self.model.charge <= 0.0:
                self.empty_at = t
            while schedule and schedule[0][0] <= t:
                _, _, action = schedule.pop(0)
                action(t)
            fsd_seen = self._fsd_seen()
            if power_back_at is None and fsd_seen is not None:
                if plan.power == "power-back-fsd":
                    power_back_at = t
                elif plan.power == "power-back-wait":
                    power_back_at = t + self.rng.uniform(0.5, 2.5)
            if power_back_at is not None and t >= power_back_at and not self.model.mains:
                self.model.mains_back()
            self._publish(t)
            for name, proc in self.procs.items():
                if proc.ended_by_itself(now() - self.t0) and not name.startswith("upsmon:"):
                    self._down(name, t)
            self._watch_flag(t)
            if kill_power is None:
                first = self._first_shutdown(PRIMARY)
                if first is not None:
                    kill_power = first + TIMING.kill_delay
            ends = [plan.cap]
            if self.empty_at is not None:
                ends.append(self.empty_at + 2.0)
            if kill_power is not None:
                ends.append(kill_power + 0.5)
            if t >= min(ends):
                return
            time.sleep(TICK)

    def _fsd_seen(self) -> float | None:
        with contextlib.suppress(OSError):
            for line in self.probe_out.read_text().splitlines()[-20:]:
                parts = line.split()
                if len(parts) == 4 and parts[1] == "fresh" and "FSD" in parts[2].split("+"):
                    return float(parts[0]) - self.t0
        return None

    def _first_shutdown(self, node: str) -> float | None:
        with contextlib.suppress(OSError):
            for line in self.events.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == node and parts[1] == "shutdown":
                    return float(parts[2]) - self.t0
        return None

    def _watch_flag(self, t: float) -> None:
        if self.flag_seen is not None:
            return
        proc = self.procs.get(f"upsmon:{PRIMARY}")
        flag = self.dir / f"mon-{PRIMARY}" / "flagfs" / "killpower"
        paths = [Path(f"/proc/{proc.popen.pid}/root{flag}")] if proc and proc.alive and \
            proc.popen else []
        for path in [*paths, flag]:
            with contextlib.suppress(OSError):
                if path.read_bytes().startswith(FLAG_MAGIC):
                    self.flag_seen = t
                    return

    # -- results -----------------------------------------------------------------------
    def _collect(self) -> RunRecord:
        end = now() - self.t0
        self._stop_all(end)
        for comp in list(self._open_down):
            self._up(comp, end)
        rec = RunRecord(TIMING, PRIMARY, list(SECONDARIES), end, list(self.status_log),
                        self.empty_at, dict(self.down), restarts=list(self.restarts),
                        flag_seen=self.flag_seen, problems=list(self.problems))
        for node in NODES:
            rec.shutdowns[node] = []
            rec.notifies[node] = []
        with contextlib.suppress(OSError):
            for line in self.events.read_text().splitlines():
                parts = line.split()
                if len(parts) < 4 or parts[0] not in rec.shutdowns:
                    continue
                t = float(parts[2]) - self.t0
                if parts[1] == "shutdown":
                    rec.shutdowns[parts[0]].append(t)
                elif parts[1] == "notify":
                    rec.notifies[parts[0]].append((t, parts[3]))
        with contextlib.suppress(OSError):
            for line in self.probe_out.read_text().splitlines():
                parts = line.split()
                if len(parts) == 4 and float(parts[0]) >= self.t0:
                    rec.probe.append((float(parts[0]) - self.t0, parts[1],
                                      parts[2].replace("+", " ")))
        for name, proc in self.procs.items():
            rec.lives[name] = proc.lives
        for log in sorted(self.dir.glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                rec.problems.append(f"{log.name}: a Python traceback")
        return rec

    def logs(self) -> str:
        out = []
        for log in sorted(self.dir.glob("*.log")):
            out.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError):
            out.append(f"--- events\n{self.events.read_text()}")
        return "\n".join(out)

    def _stop_all(self, t: float) -> None:
        """Clients first, then upsmons, upsd, driver: the end of a run is no fault."""
        for aux in reversed(self.aux):
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                aux.kill()
                aux.wait(5)
        for proc in reversed(self.procs.values()):
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.kill9(t, how="stopped")

    def close(self) -> None:
        self._stop_all(now() - self.t0 if self.t0 else 0.0)
        self.ns.close()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
