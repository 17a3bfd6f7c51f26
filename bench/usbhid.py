"""Driver rows for usbhid-ups: CPU per poll and RSS, pnut beside NUT's C driver.

    python bench/usbhid.py [SECONDS]

Both drivers run against the same umockdev-emulated APC Back-UPS
(tests/fixtures/usb/apc-bk650m2.json) with ``pollinterval = 1`` as users
run them: each poll waits up to 750 ms for an interrupt report, then does
the quick-poll GET_REPORTs.  nutdrv_qx runs the Megatec protocol over the
emulated cypress converter.  CPU is the driver's user+system time over the
window divided by the polls in it; RSS is VmRSS at the end.  (The emulator
keeps its device node pollable like usbfs, so libusb sleeps in poll()
while waiting, as on a real bus.)  :func:`rows` is what bench/drivers.py
imports.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from usbhid.emusupport import (  # noqa: E402
    C_DRIVER,
    FIXTURES,
    Running,
    Workdir,
    available,
    emulator,
)

FIXTURE = FIXTURES / "apc-bk650m2.json"
QX_FIXTURE = FIXTURES / "qx-cypress.json"
POLLINTERVAL = 1.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(c_driver: bool, seconds: float, qx: bool = False) -> dict[str, object]:
    if qx:
        work = Workdir({"pollinterval": str(POLLINTERVAL), "protocol": "megatec"},
                       driver="nutdrv_qx")
    else:
        work = Workdir({"pollinterval": str(POLLINTERVAL)})
    try:
        with emulator(QX_FIXTURE if qx else FIXTURE) as emu:
            drv = Running(emu, work, c_driver)
            try:
                drv.dumpall()
                time.sleep(2.0)  # past start-up
                before = _cpu_seconds(drv.proc.pid)
                time.sleep(seconds)
                used = _cpu_seconds(drv.proc.pid) - before
                rss = _rss_mb(drv.proc.pid)
            finally:
                drv.stop()
    finally:
        work.close()
    polls = seconds / POLLINTERVAL
    return {"driver": "nutdrv_qx (Q1 over USB, cypress)" if qx else "usbhid-ups",
            "impl": "nut" if c_driver else "pnut",
            "cpu_ms_per_poll": round(1000 * used / polls, 2), "rss_mb": round(rss, 1),
            "seconds": seconds}


def rows(seconds: float = 20.0) -> list[dict[str, object]]:
    """One row per implementation that can run here."""
    if available() is not None:
        return []
    out = [measure(False, seconds)]
    if C_DRIVER.exists():
        out.append(measure(True, seconds))
    out.append(measure(False, seconds, qx=True))
    if (C_DRIVER.parent / "nutdrv_qx").exists():
        out.append(measure(True, seconds, qx=True))
    return out


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    why = available()
    if why is not None:
        print(f"usbhid-ups bench skipped: {why}")
        return 0
    print(f"{'driver':<34} {'impl':<5} {'CPU ms/poll':>12} {'RSS MB':>8}")
    for row in rows(seconds):
        print(f"{row['driver']!s:<34} {row['impl']!s:<5} {row['cpu_ms_per_poll']!s:>12} "
              f"{row['rss_mb']!s:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
