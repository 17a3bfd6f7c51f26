"""Driver rows for many UPSes: one ``pnut drvhost`` against one C dummy-ups per UPS.

    python bench/hostbench.py [SECONDS] [COUNT]

COUNT (default 200) simulated UPSes run as pnut ``sim`` drivers in one
``pnut drvhost`` process, and as many NUT 2.8.0 C ``dummy-ups`` processes
each serve a small .dev file; every driver polls every 2 s.  RSS is the
host's VmRSS against the sum of the C processes' VmRSS; CPU is per UPS and
poll.  The pnut row also gives the memory each extra UPS costs, from a
second host running one UPS.  :func:`rows` is what bench/drivers.py
imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE := Path(__file__).resolve().parent))

from serialdrv import cpu_seconds, rss_mb  # noqa: E402

from support import NUT_LIBDIR, wait_for  # noqa: E402

POLLINTERVAL = 2
DEV = "ups.status: OL\nbattery.charge: 100\nups.mfr: Bench\nups.model: Many\n"


def _dir(count: int, driver: str) -> tuple[Path, dict[str, str]]:
    root = Path(tempfile.mkdtemp(prefix="pnut-hostbench-"))
    (root / "s").mkdir()
    conf = []
    for i in range(count):
        port = "x" if driver == "sim" else f"u{i}.dev"
        if driver != "sim":
            (root / port).write_text(DEV)
        conf.append(f"[u{i}]\n  driver = {driver}\n  port = {port}\n"
                    f"  pollinterval = {POLLINTERVAL}\n")
    (root / "ups.conf").write_text("".join(conf))
    env = dict(os.environ, NUT_CONFPATH=str(root), NUT_STATEPATH=str(root / "s"),
               NUT_ALTPIDPATH=str(root / "s"))
    return root, env


def _host(count: int, seconds: float) -> tuple[float, float]:
    root, env = _dir(count, "sim")
    argv = [sys.executable, "-m", "pnut", "drvhost", "-u", "root",
            *(f"sim:u{i}" for i in range(count))]
    proc = subprocess.Popen(argv, env=env, cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(list((root / "s").glob("sim-*"))) >= 2 * count
                 or proc.poll() is not None, timeout=120)
        time.sleep(2.0)
        before = cpu_seconds(proc.pid)
        time.sleep(seconds)
        return cpu_seconds(proc.pid) - before, rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def _c_drivers(count: int, seconds: float) -> tuple[float, float]:
    root, env = _dir(count, "dummy-ups")
    procs = [subprocess.Popen([str(NUT_LIBDIR / "dummy-ups"), "-a", f"u{i}", "-F", "-u", "root"],
                              env=env, cwd=root, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
             for i in range(count)]
    try:
        wait_for(lambda: len(list((root / "s").glob("dummy-ups-u*"))) >= count, timeout=120)
        time.sleep(2.0)
        before = sum(cpu_seconds(p.pid) for p in procs)
        time.sleep(seconds)
        used = sum(cpu_seconds(p.pid) for p in procs) - before
        return used, sum(rss_mb(p.pid) for p in procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def rows(seconds: float = 20.0, count: int = 200) -> list[dict[str, object]]:
    polls = count * seconds / POLLINTERVAL
    used, rss = _host(count, seconds)
    _, rss_one = _host(1, 3.0)
    name = f"{count} UPSes (sim in drvhost / C dummy-ups)"
    out: list[dict[str, object]] = [{
        "driver": name, "impl": "pnut", "cpu_ms_per_poll": round(1000 * used / polls, 3),
        "rss_mb": round(rss, 1), "per_ups_mb": round((rss - rss_one) / max(1, count - 1), 3),
        "seconds": seconds}]
    if (NUT_LIBDIR / "dummy-ups").exists():
        used, rss = _c_drivers(count, seconds)
        out.append({"driver": name, "impl": "nut",
                    "cpu_ms_per_poll": round(1000 * used / polls, 3), "rss_mb": round(rss, 1),
                    "seconds": seconds})
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    for row in rows(float(args[0]) if args else 20.0, int(args[1]) if len(args) > 1 else 200):
        print(row)
