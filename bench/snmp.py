"""Driver rows for snmp-ups: CPU per poll and RSS, pnut beside NUT's C driver.

    python bench/snmp.py [SECONDS]

Both drivers read the same snmpsim agent (tests/fixtures/snmp/apcc.snmprec,
SNMP v2c, the APC PowerNet table: about 60 objects that answer) with
``pollinterval = 2`` and ``pollfreq = 1``, so every poll is a full walk
in both (NUT walks when more than ``pollfreq`` whole seconds have passed).
CPU is the driver's user+system time over the window divided by the polls
in it; RSS is VmRSS at the end.  The agent's own CPU is not counted.  A
socket client stays connected through the window, as upsd would: NUT
2.8.0's C driver spins at about half a core once a socket client has
disconnected, which would swamp the comparison.
:func:`rows` is what bench/drivers.py imports.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "driver"))
sys.path.insert(0, str(ROOT / "src"))

from drvutil import DriverDir  # noqa: E402
from snmpagent import Agent, have_snmpsim  # noqa: E402
from test_snmp_ups import C_DRIVER, CDriver  # noqa: E402

POLLINTERVAL = 2.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _conf(agent: Agent) -> str:
    return (f"[u]\n  driver = snmp-ups\n  port = 127.0.0.1:{agent.port}\n  community = apcc\n"
            f"  snmp_version = v2c\n  pollinterval = {POLLINTERVAL:g}\n  pollfreq = 1\n")


def _window(pid: int, seconds: float) -> tuple[float, float]:
    time.sleep(2 * POLLINTERVAL)  # past start-up
    before = _cpu_seconds(pid)
    time.sleep(seconds)
    return _cpu_seconds(pid) - before, _rss_mb(pid)


def measure(agent: Agent, c_driver: bool, seconds: float) -> dict[str, object]:
    if c_driver:
        drv = CDriver(_conf(agent))
        try:
            with drv.conn() as conn:  # connected all along, as upsd is
                conn.dump()
                used, rss = _window(drv.proc.pid, seconds)
        finally:
            drv.close()
    else:
        work = DriverDir()
        try:
            work.write("ups.conf", _conf(agent))
            proc = work.start("snmp-ups", "u")
            with work.conn("snmp-ups", "u") as conn:
                conn.dump()
                used, rss = _window(proc.pid, seconds)
        finally:
            work.close()
    polls = seconds / POLLINTERVAL
    return {"driver": "snmp-ups", "impl": "nut" if c_driver else "pnut",
            "cpu_ms_per_poll": round(1000 * used / polls, 2), "rss_mb": round(rss, 1),
            "seconds": seconds}


def rows(seconds: float = 20.0) -> list[dict[str, object]]:
    """One row per implementation that can run here."""
    if not have_snmpsim():
        return []
    agent = Agent().start()
    try:
        out = [measure(agent, False, seconds)]
        if C_DRIVER.exists():
            out.append(measure(agent, True, seconds))
        return out
    finally:
        agent.close()


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    if not have_snmpsim():
        print("snmp-ups bench skipped: snmpsim is not installed")
        return 0
    print(f"{'driver':<12} {'impl':<5} {'CPU ms/poll':>12} {'RSS MB':>8}")
    for row in rows(seconds):
        print(f"{row['driver']!s:<12} {row['impl']!s:<5} {row['cpu_ms_per_poll']!s:>12} "
              f"{row['rss_mb']!s:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
