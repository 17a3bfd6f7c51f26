"""``pnut driver nutdrv_qx`` as a real process on an emulated serial UPS (a pty pair)."""
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
    with Emulator(ddir.dir, "qx", "megatec") as e:
        yield e


def _start(ddir: DriverDir, emu: Emulator, extra: str = "") -> SockConn:
    ddir.write("ups.conf", f"[qx]\n  driver = nutdrv_qx\n  port = {emu.link}\n"
                           f"  pollinterval = {POLL}\n{extra}")
    ddir.start("nutdrv_qx", "qx")
    conn = ddir.conn("nutdrv_qx", "qx")
    dump = conn.dump()
    assert "DATAOK" in dump
    return conn


def _not_polls(emu: Emulator) -> list[bytes]:
    """What the driver sent besides its status polls (which run meanwhile)."""
    return [c for c in emu.commands() if c not in (b"Q1\r", b"I\r", b"F\r")]


def test_instant_commands_reach_the_device_byte_exact(ddir: DriverDir, emu: Emulator) -> None:
    conn = _start(ddir, emu, "  ondelay = 120\n  offdelay = 42\n")
    # Each dialect command's bytes are checked in test_qx_engine.py; here a few
    # go the whole way (socket -> driver -> pty), each waiting NUT's 1 s for a reply.
    cases = [
        ("INSTCMD beeper.toggle", b"Q\r"),
        ("INSTCMD shutdown.return", b"S.7R0002\r"),
        ("INSTCMD test.battery.start 300", b"T05\r"),
    ]
    for i, (request, sent) in enumerate(cases):
        emu.clear_log()
        assert conn.tracking(request, f"c{i}") == 0, request
        assert _not_polls(emu) == [sent], request
    assert conn.tracking("INSTCMD calibrate.start", "bad") == 2
    assert conn.tracking('SET ups.delay.shutdown "2000"', "s1") == 1
    assert conn.tracking('SET ups.delay.shutdown "125"', "s2") == 0
    assert conn.value("ups.delay.shutdown") == "120"


def test_status_follows_the_device(ddir: DriverDir, emu: Emulator) -> None:
    conn = _start(ddir, emu)
    emu.update(bits="11001000")
    wait_for(lambda: conn.value("ups.status") == "OB LB", timeout=10)
    emu.update(bits="00001001")
    wait_for(lambda: conn.value("ups.status") == "OL", timeout=10)


def test_unplug_and_replug(ddir: DriverDir, emu: Emulator) -> None:
    conn = _start(ddir, emu)
    status = conn.value("ups.status")
    conn.send("BROADCAST 1")
    emu.unplug()
    gone = time.monotonic()
    seen = conn.until(lambda line: line == "DATASTALE", timeout=2 * POLL + 5)
    # two poll intervals and one serial read timeout (1 s); an unplugged pty fails at once
    assert time.monotonic() - gone <= 2 * POLL + 1
    wait_for(lambda: conn.value("driver.state") == "reconnect.trying", timeout=5)
    assert conn.value("ups.status") == status
    time.sleep(2)
    emu.plug()
    back = time.monotonic()
    seen += conn.until(lambda line: line == "DATAOK", timeout=12)
    assert time.monotonic() - back <= 10
    assert not [line for line in seen if line.startswith("SETINFO ups.status")
                and ("OB" in line or "LB" in line)]  # neither while away nor on return
    assert conn.value("ups.status") == "OL"
    emu.clear_log()
    assert conn.tracking("INSTCMD beeper.toggle", "after") == 0
    assert _not_polls(emu) == [b"Q\r"]


@pytest.mark.parametrize("fault", ["garbage", "truncated", "silent"])
def test_bad_device_goes_stale_and_recovers(ddir: DriverDir, emu: Emulator, fault: str) -> None:
    conn = _start(ddir, emu)
    conn.send("BROADCAST 1")
    emu.update(fault=fault)
    conn.until(lambda line: line == "DATASTALE", timeout=2 * POLL + 6)
    emu.update(fault="none")
    conn.until(lambda line: line == "DATAOK", timeout=12)
    assert conn.value("ups.status") == "OL"
    assert "Traceback" not in ddir.log_text()


def test_non_numeric_answers_keep_the_last_good_values(ddir: DriverDir, emu: Emulator) -> None:
    """Letters where the numbers belong: the rows are skipped as NUT skips them (the
    status bits still parse), nothing is published from them, the driver carries on."""
    conn = _start(ddir, emu, "  pollfreq = 1\n")
    watch = ddir.conn("nutdrv_qx", "qx")
    watch.send("BROADCAST 1")
    before = conn.value("input.voltage")
    emu.clear_log()
    emu.update(fault="nonnumeric", input_voltage=225.2)
    wait_for(lambda: emu.commands().count(b"Q1\r") >= 3, timeout=15)  # a full walk among them
    assert conn.value("input.voltage") == before == "230.4"
    assert conn.value("ups.status") == "OL"
    emu.update(fault="none")
    wait_for(lambda: conn.value("input.voltage") == "225.2", timeout=10)
    watch.send("PING")
    seen = watch.until(lambda line: line == "PONG")
    assert "DATASTALE" not in seen and any("input.voltage" in line for line in seen)
    assert "Traceback" not in ddir.log_text()


def test_device_not_supported_is_fatal(ddir: DriverDir, emu: Emulator) -> None:
    ddir.write("ups.conf", f"[qx]\n  driver = nutdrv_qx\n  port = {emu.link}\n"
                           "  protocol = mustek\n")
    result = ddir.run("driver", "nutdrv_qx", "-a", "qx")
    assert result.returncode == 1 and "Device not supported!" in result.stderr
    ddir.write("ups.conf", f"[qx]\n  driver = nutdrv_qx\n  port = {emu.link}\n"
                           "  protocol = nosuch\n")
    result = ddir.run("driver", "nutdrv_qx", "-a", "qx")
    assert result.returncode == 1 and "unknown protocol 'nosuch'" in result.stderr


def test_kill_power_sends_nuts_sequence(ddir: DriverDir, emu: Emulator) -> None:
    ddir.write("ups.conf", f"[qx]\n  driver = nutdrv_qx\n  port = {emu.link}\n"
                           "  offdelay = 60\n  ondelay = 300\n")
    result = ddir.run("driver", "nutdrv_qx", "-a", "qx", "-k")
    assert result.returncode == 0, result.stderr
    sent = emu.commands()
    assert sent[-2:] == [b"C\r", b"S01R0005\r"]
