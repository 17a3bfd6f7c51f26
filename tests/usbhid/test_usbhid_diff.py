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
    # pollonly: the one update of -d 1 skips the 750 ms wait for an interrupt report
    # (interrupt reports have their own test in test_usbhid_behaviour.py).
    work = Workdir(flags=("pollonly",))
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


APC_COMMANDS = ("INSTCMD beeper.enable", 'SET battery.charge.low "40"', "INSTCMD beeper.disable",
                "INSTCMD load.off", "INSTCMD shutdown.return", 'SET ups.delay.shutdown "30"',
                "INSTCMD shutdown.stayoff")
POWERCOM_COMMANDS = ("INSTCMD beeper.disable", "INSTCMD shutdown.return",
                     'SET ups.delay.shutdown "90"', "INSTCMD shutdown.stayoff",
                     "INSTCMD test.battery.start.quick", "INSTCMD load.on.delay 120")


def _session(fixture: Path, c_driver: bool,
             commands: tuple[str, ...]) -> tuple[list[str], list[str]]:
    work = Workdir()
    try:
        with emulator(fixture) as emu:
            drv = Running(emu, work, c_driver)
            try:
                view = _socket_view(drv.dumpall())
                for n, line in enumerate(commands):
                    drv.send(f"{line} TRACKING a{n}")
                    drv.lines_until(f"TRACKING a{n} ")
                return view, emu.setreports()
            finally:
                drv.stop()
    finally:
        work.close()


@needs_c
@pytest.mark.parametrize(("fixture", "commands"), [
    ("apc-bk650m2.json", APC_COMMANDS), ("powercom-wow500u-synthetic.json", POWERCOM_COMMANDS)])
def test_commands_and_set_reach_the_device_byte_exact(fixture: str,
                                                     commands: tuple[str, ...]) -> None:
    their_view, their_writes = _session(FIXTURES / fixture, True, commands)
    our_view, our_writes = _session(FIXTURES / fixture, False, commands)
    assert their_writes, "the C driver wrote nothing: the test would prove nothing"
    assert our_writes == their_writes
    assert our_view == their_view


@needs_c
@pytest.mark.parametrize(("options", "flags", "var", "expected"), [
    ({}, ("onlinedischarge",), "ups.status", "OB DISCHRG"),  # the BK650M2 says OL+DISCHRG
    ({"lowbatt": "35"}, (), "battery.charge.low", "35"),
    ({"offdelay": "45", "ondelay": "90"}, (), "ups.delay.shutdown", "45"),
])
def test_options_as_nut(options: dict[str, str], flags: tuple[str, ...], var: str,
                        expected: str) -> None:
    work = Workdir(options, ("pollonly", *flags))
    try:
        with emulator(FIXTURES / "apc-bk650m2.json") as emu:
            theirs = dump(emu, work, c_driver=True)
            ours = dump(emu, work, c_driver=False)
    finally:
        work.close()
    assert theirs.get(var) == expected
    assert ours == theirs
