"""Q1 over USB (nutdrv_qx's cypress, phoenix, ippon, krauler) against NUT's nutdrv_qx."""

from __future__ import annotations

import time

import pytest

from support import needs
from usbhid.emusupport import C_DRIVER, FIXTURES, Running, Workdir, available, dump, emulator

REASON = available()
pytestmark = needs(REASON)
NUT_QX = C_DRIVER.parent / "nutdrv_qx"
needs_c = needs(None if NUT_QX.exists() else "NUT's nutdrv_qx is not installed")
SUBDRIVERS = ("cypress", "phoenix", "ippon", "krauler")


@needs_c
@pytest.mark.parametrize("sub", SUBDRIVERS)
def test_same_variables_as_nut(sub: str) -> None:
    work = Workdir(driver="nutdrv_qx")
    try:
        with emulator(FIXTURES / f"qx-{sub}.json") as emu:
            theirs = dump(emu, work, c_driver=True)
            emu.sync()
            emu.events.clear()
            ours = dump(emu, work, c_driver=False)
            asked = emu.qx_commands()
    finally:
        work.close()
    assert theirs.get("input.voltage") == "231.2", theirs
    assert "Q1\r" in asked
    assert ours == theirs


def _commands(sub: str, c_driver: bool) -> list[str]:
    """What reaches the device for a few instant commands."""
    work = Workdir({"protocol": "megatec"}, driver="nutdrv_qx")
    try:
        with emulator(FIXTURES / f"qx-{sub}.json") as emu:
            drv = Running(emu, work, c_driver)
            try:
                drv.dumpall()
                emu.sync()
                emu.events.clear()
                for n, cmd in enumerate(("beeper.toggle", "test.battery.start.quick",
                                         "test.battery.stop")):
                    drv.send(f"INSTCMD {cmd} TRACKING q{n}")
                    drv.lines_until(f"TRACKING q{n} ")
                return [c for c in emu.qx_commands() if c != "Q1\r"]
            finally:
                drv.stop()
    finally:
        work.close()


@needs_c
@pytest.mark.parametrize("sub", ["cypress", "krauler"])
def test_instant_commands_reach_the_device_as_nut_sends_them(sub: str) -> None:
    theirs = _commands(sub, c_driver=True)
    ours = _commands(sub, c_driver=False)
    assert theirs, "NUT sent no command: the comparison would prove nothing"
    assert ours == theirs


def test_unplug_and_replug() -> None:
    work = Workdir({"protocol": "megatec"}, driver="nutdrv_qx")
    try:
        with emulator(FIXTURES / "qx-cypress.json") as emu:
            drv = Running(emu, work, c_driver=False)
            try:
                first = drv.dumpall()
                assert "DATAOK" in first and 'SETINFO ups.status "OL"' in first
                emu.command("unplug")
                gone = time.monotonic()
                seen = drv.lines_until("DATASTALE", timeout=15)
                stale_after = time.monotonic() - gone
                emu.command("plug")
                back = time.monotonic()
                seen += drv.lines_until("DATAOK", timeout=15)
                back_after = time.monotonic() - back
                # pollinterval 1 s: two intervals, plus a USB transfer's timeout on the way
                assert stale_after < 2 * 1 + 1.5, stale_after
                assert back_after < 10, back_after
                statuses = [line for line in seen if line.startswith("SETINFO ups.status")]
                assert not any("OB" in s or "LB" in s for s in statuses), statuses
                assert 'SETINFO input.voltage "231.2"' in drv.dumpall()
            finally:
                drv.stop()
    finally:
        work.close()
