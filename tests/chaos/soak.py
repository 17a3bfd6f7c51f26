"""The soak: a simulated day of power events under 100 polling clients, memory watched.

Usage (as root; ``scripts/soak`` wraps it)::

    python tests/chaos/soak.py --minutes 10      # prints the figures, exit 1 if not flat

The chaos harness's cluster (pnut's dummy-ups fed by the sim model, upsd, a
primary and two secondaries in network namespaces) runs for ``--minutes``
of wall time standing for 24 simulated hours (the battery's physics runs
fast: full to empty in 40 s): the mains fail for 2-7 s and come back for
5-12 s, again and again (at 10 minutes, x144: outages of 5-17 simulated
minutes, about 45 of them), never long enough to reach low battery; 100
clients poll upsd once a second; ``pnut web`` and ``pnut mqtt`` (with
Debian's mosquitto) follow the same upsd.  Every 5 s the RSS and the open file descriptors of
each daemon are sampled.  At the end the mains fail for good and the
shutdown story must complete, and the whole record goes through the same
invariant checker as the chaos runs.

Pass: after the warm-up (the first quarter), no daemon's RSS or descriptor
count rises more than 5 % above its first sample (descriptors: or by more
than one), no error line in any log, no client answer lost, no invariant
broken.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PNUT, PORT, Run
from invariants import RunRecord, check
from scenario import Physics, Plan

SIMULATED = 24 * 3600.0
SAMPLE_EVERY = 5.0
#: Growth allowed after warm-up.
FLAT = 0.05
#: Log lines that count as errors (pnut's log has no level names).
ERROR_LINE = re.compile(r"traceback|error|exception|stale|failed|unable|refused", re.I)


@dataclass
class Sample:
    t: float
    rss_kb: int
    fds: int


def _sample(pid: int) -> tuple[int, int] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")), 0)
    return rss, fds


class Soak(Run):
    def __init__(self, minutes: float, clients: int = 100, final: bool = True,
                 fleet: bool = True, seed: int = 1) -> None:
        duration = minutes * 60.0
        # The final outage drains the battery from full in 40 s; LB at 45 %.
        plan = Plan(seed, "soak", outage_at=duration if final else duration + 3600,
                    physics=Physics(drain_seconds=40.0, charge_low=45.0),
                    cap=duration + (45.0 if final else 0.0))
        super().__init__(plan, "pnut")
        self.duration, self.clients, self.fleet = duration, clients, fleet
        self.samples: dict[str, list[Sample]] = {}
        self.power_events = 0
        self.poll_out = self.dir / "clients"
        self.fleet_pids: dict[str, int] = {}

    def _schedule(self):  # type: ignore[no-untyped-def]
        out = super()._schedule()
        t, on_battery = 3.0, False
        while t < self.duration - 8:
            if on_battery:
                out.append((t, "mains back", lambda _t: self.model.mains_back()))
                t += self.rng.uniform(5.0, 12.0)
            else:
                out.append((t, "mains fail", lambda _t: self.model.test_failure_start()))
                self.power_events += 1
                t += self.rng.uniform(2.0, 7.0)
            on_battery = not on_battery
        out.append((self.duration - 6, "mains back", lambda _t: self.model.mains_back()))
        s = 0.0
        while s < self.plan.cap:
            out.append((s, "sample", lambda tt: self._take(tt)))
            s += SAMPLE_EVERY
        return sorted(out, key=lambda e: e[0])

    def _start_cluster(self) -> None:
        super()._start_cluster()
        self._aux(["poll", str(PORT), "ups", str(self.clients), str(self.poll_out)])
        if self.fleet:
            self._start_fleet()

    def _start_fleet(self) -> None:
        mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.dir / "mosquitto.conf"
        conf.write_text("listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "log_dest stderr\nlog_type error\nlog_type warning\n")
        env = self._env()
        starts = {
            "mosquitto": [mosq, "-c", str(conf)],
            "pnut-web": [*PNUT, "web", "--listen", "127.0.0.1:8080", "--server",
                         f"nut://127.0.0.1:{PORT}", "--interval", "1"],
            "pnut-mqtt": [*PNUT, "mqtt", "--broker", "mqtt://127.0.0.1:1883", "--server",
                          f"nut://127.0.0.1:{PORT}", "-i", "1"],
        }
        for name, argv in starts.items():
            with open(self.dir / f"{name}.0.log", "ab") as log:
                proc = subprocess.Popen(self.ns.wrap("hub", argv), env=env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.aux.append(proc)
            self.fleet_pids[name] = proc.pid

    def _take(self, t: float) -> None:
        pids = {name: p.popen.pid for name, p in self.procs.items()
                if p.alive and p.popen is not None}
        pids.update(self.fleet_pids)
        for name, pid in pids.items():
            got = _sample(pid)
            if got is not None:
                self.samples.setdefault(name, []).append(Sample(t, *got))

    # -- figures -------------------------------------------------------------------
    def client_totals(self) -> tuple[int, int]:
        lines = self.poll_out.read_text().split("\n") if self.poll_out.exists() else []
        last = [ln for ln in lines if ln.strip()][-1:] or ["0 0 0"]
        _, ok, err = last[0].split()
        return int(ok), int(err)

    def error_lines(self) -> list[str]:
        out = []
        for log in sorted(self.dir.glob("*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if ERROR_LINE.search(line):
                    out.append(f"{log.name}: {line.strip()}")
        return out


def flatness(samples: list[Sample], warm: float, until: float) -> tuple[float, float]:
    """(RSS growth, descriptor growth) after ``warm`` s, as fractions of the first sample."""
    kept = [s for s in samples if warm <= s.t <= until]
    if len(kept) < 2:
        return 0.0, 0.0
    first = kept[0]
    rss = max(s.rss_kb for s in kept) / max(first.rss_kb, 1) - 1
    extra_fds = max(s.fds for s in kept) - first.fds
    fds = 0.0 if extra_fds <= 1 else extra_fds / max(first.fds, 1)
    return rss, fds


def report(soak: Soak, rec: RunRecord) -> tuple[str, bool]:
    warm, until = soak.duration / 4, soak.duration - 1
    lines = [f"soak: {soak.duration / 60:.1f} min wall = {SIMULATED / 3600:.0f} simulated hours "
             f"(x{SIMULATED / soak.duration:.0f}), {soak.power_events} power failures, "
             f"{soak.clients} polling clients"
             + (", pnut web + pnut mqtt + mosquitto" if soak.fleet else "")]
    ok = True
    lines.append(f"{'daemon':16s} {'RSS first MB':>12s} {'RSS max MB':>10s} {'growth':>7s} "
                 f"{'fds first':>9s} {'fds max':>7s} {'growth':>7s}")
    for name, samples in sorted(soak.samples.items()):
        kept = [s for s in samples if warm <= s.t <= until]
        if not kept:
            continue
        rss, fds = flatness(samples, warm, until)
        flat = rss <= FLAT and fds <= FLAT
        ok = ok and flat
        lines.append(f"{name:16s} {kept[0].rss_kb / 1024:12.1f} "
                     f"{max(s.rss_kb for s in kept) / 1024:10.1f} {rss:+7.1%} "
                     f"{kept[0].fds:9d} {max(s.fds for s in kept):7d} {fds:+7.1%}"
                     + ("" if flat else "  NOT FLAT"))
    answers, errors = soak.client_totals()
    errs = soak.error_lines()
    violations = check(rec)
    lines.append(f"client answers {answers}, client errors {errors}, error lines {len(errs)}, "
                 f"invariant violations {len(violations)}")
    lines += [f"  {e}" for e in errs[:10]]
    lines += [f"  {v.invariant}: {v.detail}" for v in violations[:10]]
    ok = ok and not errs and not violations and errors == 0 and answers > 0
    lines.append("PASS" if ok else "FAIL")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--no-fleet", action="store_true")
    ap.add_argument("--no-final", action="store_true", help="skip the final shutdown story")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    # SIGTERM (and SIGINT, ignored in background jobs) end the run through its
    # clean-up: every process killed by PID, the namespaces deleted.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(143))
    soak = Soak(args.minutes, args.clients, final=not args.no_final, fleet=not args.no_fleet)
    soak.keep = args.keep
    rec = soak.execute()
    text, ok = report(soak, rec)
    print(text)
    if args.keep:
        print(f"run directory: {soak.dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
