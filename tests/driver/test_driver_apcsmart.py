"""``pnut driver apcsmart`` as a real process on an emulated Smart-UPS (a pty pair)."""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from drvutil import DriverDir, SockConn, ddir  # noqa: F401 - the fixture
from qxutil import Emulator

from support import wait_for

POLL = 1


@pytest.fixture
def emu(ddir: DriverDir) -> Iterator[Emulator]:
    with Emulator(ddir.dir, "apc", "smart3") as e:
        yield e


def _start(ddir: DriverDir, emu: Emulator) -> SockConn:
    ddir.write("ups.conf", f"[apc]\n  driver = apcsmart\n  port = {emu.link}\n"
                           f"  pollinterval = {POLL}\n")
    ddir.start("apcsmart", "apc")
    conn = ddir.conn("apcsmart", "apc")
    assert "DATAOK" in conn.dump()
    return conn


def _sent(emu: Emulator) -> bytes:
    return b"".join(emu.commands())


def test_sets_and_commands_reach_the_ups_byte_exact(ddir: DriverDir, emu: Emulator) -> None:
    conn = _start(ddir, emu)
    emu.clear_log()
    assert conn.tracking('SET ups.id "RACK7"', "s1") == 0
    assert b"c-RACK7\r\r\r" in _sent(emu)
    emu.clear_log()
    assert conn.tracking('SET input.transfer.high "271"', "s2") == 0
    assert b"u-u-u" in _sent(emu)  # 253 -> 264 -> 271 through the capability list
    assert conn.value("input.transfer.high") == "271"
    assert conn.tracking('SET input.transfer.high "300"', "s3") == 3  # wraps round: FAILED
    emu.clear_log()
    assert conn.tracking("INSTCMD test.battery.start", "c1") == 0
    assert b"W" in _sent(emu)
    # A nasty command runs only when sent twice, 3 to 15 seconds apart.
    emu.update(status="10")
    emu.clear_log()
    assert conn.tracking("INSTCMD shutdown.return", "n1") == 0
    assert b"S" not in _sent(emu)
    time.sleep(3.2)
    assert conn.tracking("INSTCMD shutdown.return", "n2") == 0
    assert b"S" in _sent(emu)
    assert conn.tracking("INSTCMD bypass.start", "x") == 2  # not in this UPS's command set


def test_power_failure_and_unplug(ddir: DriverDir, emu: Emulator) -> None:
    conn = _start(ddir, emu)
    emu.update(status="50")
    wait_for(lambda: conn.value("ups.status") == "OB LB", timeout=10)
    conn.send("BROADCAST 1")
    emu.unplug()
    conn.until(lambda line: line == "DATASTALE", timeout=2 * POLL + 8)
    assert conn.value("ups.status") == "OB LB"  # stale, not made up
    emu.update(status="08")
    emu.plug()
    back = time.monotonic()
    conn.until(lambda line: line == "DATAOK", timeout=12)
    assert time.monotonic() - back <= 10
    assert conn.value("ups.status") == "OL"


def test_garbage_goes_stale_and_recovers(ddir: DriverDir, emu: Emulator) -> None:
    conn = _start(ddir, emu)
    conn.send("BROADCAST 1")
    emu.update(fault="garbage")
    conn.until(lambda line: line == "DATASTALE", timeout=2 * POLL + 15)
    emu.update(fault="none")
    conn.until(lambda line: line == "DATAOK", timeout=15)
    assert conn.value("ups.status") == "OL"
    assert "Traceback" not in ddir.log_text()


def test_bad_settings_name_the_problem(ddir: DriverDir, emu: Emulator) -> None:
    ddir.write("ups.conf", f"[apc]\n  driver = apcsmart\n  port = {emu.link}\n  sdtype = 9\n")
    result = ddir.run("driver", "apcsmart", "-a", "apc")
    assert result.returncode == 1 and "invalid value (9) for option 'sdtype'" in result.stderr


def test_unplug_while_online_goes_stale_without_false_status(ddir: DriverDir,
                                                             emu: Emulator) -> None:
    conn = _start(ddir, emu)
    assert conn.value("ups.status") == "OL"
    conn.send("BROADCAST 1")
    emu.unplug()
    gone = time.monotonic()
    seen = conn.until(lambda line: line == "DATASTALE", timeout=2 * POLL + 8)
    stale_after = time.monotonic() - gone
    emu.plug()
    back = time.monotonic()
    seen += conn.until(lambda line: line == "DATAOK", timeout=12)
    back_after = time.monotonic() - back
    print(f"stale after {stale_after:.2f} s, data back after {back_after:.2f} s")
    # two poll intervals, plus the Smart protocol's read timeout and retry on the way
    assert stale_after <= 2 * POLL + 3
    assert back_after <= 10
    assert not [line for line in seen if line.startswith("SETINFO ups.status")
                and ("OB" in line or "LB" in line)], seen
    assert conn.value("ups.status") == "OL"
