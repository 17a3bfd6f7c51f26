"""pnut's usbhid-ups against NUT 2.8.0's C driver on the same emulated UPS."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import needs
from usbhid.emusupport import C_DRIVER, FIXTURES, Running, Workdir, available, dump, emulator

REASON = available()
pytestmark = needs(REASON)
ALL = sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.startswith("qx-"))
needs_c = needs(None if C_DRIVER.exists() else "NUT's usbhid-ups is not installed")


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


# (socket line, the one SET_REPORT it must cause: "setreport <type> <id> <bytes>")
# On the recorded BK650M2: the APC table's battery tests (Battery.Test 1/2/3), the
# reboot delay (10 s) and shutdown.stop (-1 in a 16-bit field), input.sensitivity set
# by its lookup-table name (APCSensitivity: low 0, high 2) and battery.mfr.date written
# back as the HID date word ((year - 1980) << 9 | month << 5 | day, little-endian).
BK650_EXACT = (
    ("INSTCMD test.battery.start.quick", "setreport 3 33 21" + "01" + "00" * 22),
    ("INSTCMD test.battery.start.deep", "setreport 3 33 21" + "02" + "00" * 22),
    ("INSTCMD test.battery.stop", "setreport 3 33 21" + "03" + "00" * 22),
    ("INSTCMD shutdown.reboot", "setreport 3 64 40" + "0a" + "00" * 22),
    ("INSTCMD shutdown.stop", "setreport 3 21 15ffff"),
    ('SET input.sensitivity "high"', "setreport 3 53 35" + "02" + "00" * 22),
    ('SET input.sensitivity "low"', "setreport 3 53 35" + "00" * 23),
    ('SET battery.mfr.date "2024/03/15"', "setreport 3 32 20" + "6f58" + "00" * 30),
    ('SET battery.mfr.date "1999/12/31"', "setreport 3 32 20" + "9f27" + "00" * 30),
)
# On the Eaton 5P: output.voltage.nominal is an enum (ADDENUM 200..240); ups.time and
# ups.date are written back as one Unix time (PowerSummary.Time, local time, TZ=UTC here)
# made of the value SET and the other half as the driver last read it (the fixture's
# 2023/11/14 22:13:20: no poll comes between the two SETs).
EATON_EXACT = (('SET output.voltage.nominal "220"', "setreport 3 11 0bdc00"),)
# NUT 2.8.0 hands mktime() a struct tm whose tm_isdst strptime() left uninitialised
# (mge-hid.c), so its ups.time/ups.date writes are an hour off or not as the stack
# happens to be: only pnut's bytes are asserted for them (docs/compat.md).
EATON_CLOCK = (('SET ups.time "12:34:56"', "setreport 3 7 07" + "70695365"),
               ('SET ups.date "2024/03/15"', "setreport 3 7 07" + "00c8f465"))


def _writes_per_command(fixture: str, c_driver: bool,
                        commands: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """Each command's answer and the SET_REPORTs it caused, command by command."""
    # TZ=UTC: the Eaton date/time conversions go through the local time zone.
    work = Workdir({"pollfreq": "3600"}, ("pollonly",), env={"TZ": "UTC"})
    out = []
    try:
        with emulator(FIXTURES / fixture) as emu:
            drv = Running(emu, work, c_driver)
            try:
                drv.dumpall()
                for n, line in enumerate(commands):
                    before = len(emu.setreports())
                    drv.send(f"{line} TRACKING e{n}")
                    answer = drv.lines_until(f"TRACKING e{n} ")[-1]
                    out.append((answer.split()[-1], emu.setreports()[before:]))
            finally:
                drv.stop()
    finally:
        work.close()
    return out


def _expected(rows: tuple[tuple[str, str], ...]) -> list[tuple[str, list[str]]]:
    return [("0", [write]) for _, write in rows]


@pytest.mark.parametrize("c_driver", [False, pytest.param(True, marks=needs_c)],
                         ids=["pnut", "nut"])
def test_battery_tests_reboot_stop_enum_and_date_set_byte_exact(c_driver: bool) -> None:
    rows = BK650_EXACT
    got = _writes_per_command("apc-bk650m2.json", c_driver, tuple(c for c, _ in rows))
    assert got == _expected(rows)


@pytest.mark.parametrize("c_driver", [False, pytest.param(True, marks=needs_c)],
                         ids=["pnut", "nut"])
def test_eaton_enum_date_and_time_set_byte_exact(c_driver: bool) -> None:
    rows = EATON_EXACT if c_driver else (*EATON_EXACT, *EATON_CLOCK)
    got = _writes_per_command("eaton-5p1550-synthetic.json", c_driver, tuple(c for c, _ in rows))
    assert got == _expected(rows)
