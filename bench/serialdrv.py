"""Driver rows for the serial drivers: CPU per poll and RSS, pnut beside NUT's C driver.

    python bench/serialdrv.py [SECONDS]

Each driver runs against its own copy of the same pty emulator
(nutdrv_qx: a Megatec UPS; apcsmart: a 3rd generation Smart-UPS) with
``pollinterval = 1``.  CPU is the driver's user+system time over the
window divided by the polls in it (from /proc/PID/task/*/schedstat, in
nanoseconds: clock ticks are too coarse for a poll); RSS is VmRSS at
the end.  :func:`rows` is what bench/drivers.py imports.
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
sys.path.insert(0, str(ROOT / "tests" / "driver"))
sys.path.insert(0, str(ROOT / "src"))

from qxutil import Emulator  # noqa: E402

from support import NUT_LIBDIR, wait_for  # noqa: E402

POLLINTERVAL = 1.0
#: (driver, emulator kind, dialect or generation)
CASES = (("nutdrv_qx", "qx", "megatec"), ("apcsmart", "apc", "smart3"))


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread, in ns resolution (schedstat), not clock ticks."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(driver: str, kind: str, dialect: str, impl: str, seconds: float
            ) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="pnut-bench-"))
    state = root / "state"
    state.mkdir()
    env = dict(os.environ, NUT_CONFPATH=str(root), NUT_STATEPATH=str(state),
               NUT_ALTPIDPATH=str(state))
    with Emulator(root, kind, dialect) as emu:
        (root / "ups.conf").write_text(f"[b]\n  driver = {driver}\n  port = {emu.link}\n"
                                       f"  pollinterval = {int(POLLINTERVAL)}\n")
        if impl == "nut":
            argv = [str(NUT_LIBDIR / driver), "-a", "b", "-F", "-u", "root"]
        else:
            argv = [sys.executable, "-m", "pnut", "driver", driver, "-a", "b", "-F", "-u", "root"]
        proc = subprocess.Popen(argv, env=env, cwd=root, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: (state / f"{driver}-b").exists() or proc.poll() is not None,
                     timeout=60)
            time.sleep(2.0)  # past start-up
            before = cpu_seconds(proc.pid)
            time.sleep(seconds)
            used = cpu_seconds(proc.pid) - before
            rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    polls = seconds / POLLINTERVAL
    return {"driver": f"{driver} ({dialect})", "impl": impl,
            "cpu_ms_per_poll": round(1000 * used / polls, 2), "rss_mb": round(rss, 1),
            "seconds": seconds}


def rows(seconds: float = 20.0) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for driver, kind, dialect in CASES:
        out.append(measure(driver, kind, dialect, "pnut", seconds))
        if (NUT_LIBDIR / driver).exists():
            out.append(measure(driver, kind, dialect, "nut", seconds))
    return out


if __name__ == "__main__":
    for row in rows(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0):
        print(row)
