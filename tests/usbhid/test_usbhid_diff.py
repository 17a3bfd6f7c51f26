"""pnut's usbhid-ups against NUT 2.8.0's C driver on the same emulated UPS."""

from __future__ import annotations

from pathlib import Path

import pytest

from usbhid.emusupport import C_DRIVER, FIXTURES, Running, Workdir, available, dump, emulator

REASON = available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
ALL = sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.startswith("qx-"))
needs_c = pytest.mark.skipif(not C_DRIVER.exists(), reason="NUT's usbhid-ups is not installed")


@needs_c
@pytest.mark.parametrize("fixture", ALL)
def test_same_variables_as_nut(fixture: str) -> None:
    work = Workdir()
    try:
        with emulator(FIXTURES / fixture) as emu:
            theirs = dump(emu, work, c_driver=True)
            ours = dump(emu, work, c_driver=False)
    finally:
        work.close()
    assert "ups.status" in theirs
    assert ours == theirs


def _socket_view(lines: list[str]) -> list[str]:
    """DUMPALL lines about the UPS (driver.* and the changing timers aside)."""
    keep = []
    for line in lines:
        words = line.split()
        if len(words) > 1 and words[1].startswith("driver."):
            continue
        keep.append(line)
    return keep


def _session(fixture: Path, c_driver: bool) -> tuple[list[str], list[str]]:
    work = Workdir()
    try:
        with emulator(fixture) as emu:
            drv = Running(emu, work, c_driver)
            try:
                view = _socket_view(drv.dumpall())
                for line in ("INSTCMD beeper.enable TRACKING a1", 'SET battery.charge.low "40" '
                             "TRACKING a2", "INSTCMD beeper.disable TRACKING a3",
                             "INSTCMD load.off TRACKING a4", "INSTCMD shutdown.return TRACKING a5",
                             'SET ups.delay.shutdown "30" TRACKING a6',
                             "INSTCMD shutdown.stayoff TRACKING a7"):
                    drv.send(line)
                    tracking = line.split()[-1]
                    drv.lines_until(f"TRACKING {tracking} ")
                return view, emu.setreports()
            finally:
                drv.stop()
    finally:
        work.close()


@needs_c
def test_commands_and_set_reach_the_device_byte_exact() -> None:
    fixture = FIXTURES / "apc-bk650m2.json"
    their_view, their_writes = _session(fixture, c_driver=True)
    our_view, our_writes = _session(fixture, c_driver=False)
    assert their_writes, "the C driver wrote nothing: the test would prove nothing"
    assert our_writes == their_writes
    assert our_view == their_view
