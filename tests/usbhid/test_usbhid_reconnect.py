"""Unplug and replug: stale at once, no false OB/LB, data back within 10 s."""

from __future__ import annotations

import time

from support import needs
from usbhid.emusupport import FIXTURES, Running, Workdir, available, emulator

REASON = available()
pytestmark = needs(REASON)


def test_unplug_replug_pnut() -> None:
    work = Workdir()
    try:
        with emulator(FIXTURES / "apc-bk650m2.json") as emu:
            drv = Running(emu, work, c_driver=False)
            try:
                first = drv.dumpall()
                assert "DATAOK" in first
                emu.command("unplug")
                gone = time.monotonic()
                seen = drv.lines_until("DATASTALE", timeout=15)
                # pollinterval 1 s: stale within two poll intervals (+ the interrupt wait).
                assert time.monotonic() - gone < 2 * 1 + 1.5
                emu.command("plug")
                back = time.monotonic()
                seen += drv.lines_until("DATAOK", timeout=15)
                assert time.monotonic() - back < 10
                statuses = [line for line in seen if line.startswith("SETINFO ups.status")]
                assert not any(" OB" in s or '"OB' in s or "LB" in s for s in statuses), statuses
                after = drv.dumpall()
                assert 'SETINFO ups.status "OL DISCHRG"' in after
                assert 'SETINFO battery.charge "100"' in after
                assert drv.proc.poll() is None
            finally:
                drv.stop()
    finally:
        work.close()
