"""The simulated UPS as a real process: the power-failure story and every RW type."""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

import time

import pytest
from drvutil import DriverDir, SockConn, ddir  # noqa: F401 - the fixture

CONF = """\
[sim]
  driver = sim
  port = simulated
  pollinterval = 0.2
  drain_rate = 8
  charge_rate = 10
  restore_after = -1
  seed = 42
"""

#: RFC 9271 §8.2 minimum (desktop and server) plus the usual Appendix A names.
EXPECTED_VARS = (
    "battery.charge", "battery.charge.low", "device.mfr", "device.model", "ups.status",
    "battery.date", "device.serial", "ups.delay.shutdown", "ups.delay.start",
    "battery.runtime", "battery.runtime.low", "battery.voltage", "battery.voltage.nominal",
    "battery.type", "device.type", "ups.mfr", "ups.model", "ups.serial", "input.voltage",
    "input.voltage.nominal", "input.frequency", "input.frequency.nominal",
    "input.transfer.low", "input.transfer.high", "output.voltage", "output.frequency",
    "ups.load", "ups.timer.shutdown", "ups.timer.start", "ups.beeper.status",
    "ups.test.result", "ups.realpower.nominal", "ups.power.nominal", "ambient.temperature",
    "ups.id", "device.location", "input.sensitivity",
)


@pytest.fixture
def sim(ddir: DriverDir) -> SockConn:
    ddir.write("ups.conf", CONF)
    ddir.start("sim", "sim")
    conn = ddir.conn("sim", "sim")
    conn.send("DUMPALL")
    conn.until(lambda line: line == "DUMPDONE")
    return conn


def _status_until(conn: SockConn, want: str, timeout: float) -> list[str]:
    """Broadcast ups.status values seen until ``want`` arrives."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != want:
        line = conn.line(max(0.01, deadline - time.monotonic()))
        if line.startswith("SETINFO ups.status "):
            seen.append(line.split(" ", 2)[2].strip('"'))
    return seen


def test_publishes_the_rfc_minimum_and_typical_variables(ddir: DriverDir, sim: SockConn) -> None:
    sim.send("NOBROADCAST")
    dump = sim.dump()
    names = {line.split()[1] for line in dump if line.startswith("SETINFO ")}
    assert set(EXPECTED_VARS) <= names
    assert "SETFLAGS ups.id RW STRING" in dump and "SETAUX ups.id 8" in dump
    assert 'ADDENUM input.sensitivity "medium"' in dump
    assert "ADDRANGE input.transfer.high 253 265" in dump
    assert "ADDRANGE input.transfer.high 266 290" in dump
    assert "SETFLAGS battery.charge.low RW NUMBER" in dump
    cmds = {line.split()[1] for line in dump if line.startswith("ADDCMD ")}
    assert {"test.failure.start", "test.failure.stop", "test.battery.start", "beeper.mute",
            "load.off", "load.on", "shutdown.return", "shutdown.stayoff",
            "calibrate.start"} <= cmds
    assert sim.value("ups.status") == "OL"


def test_readings_move_between_polls(sim: SockConn) -> None:
    sim.send("NOBROADCAST")
    seen = {sim.value("input.voltage")}
    deadline = time.monotonic() + 10
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.25)
        seen.add(sim.value("input.voltage"))
    assert len(seen) >= 3


def test_power_failure_story_ob_lb_then_back_online(ddir: DriverDir) -> None:
    ddir.write("ups.conf", CONF.replace("drain_rate = 8", "drain_rate = 20")
               .replace("charge_rate = 10", "charge_rate = 40")
               + "  default.battery.runtime.low = 0\n")
    ddir.start("sim", "sim")
    sim = ddir.conn("sim", "sim")
    sim.send("DUMPALL")
    sim.until(lambda line: line == "DUMPDONE")
    assert sim.tracking("INSTCMD test.failure.start", "f1") == 0
    assert _status_until(sim, "OB DISCHRG", 5)[-1] == "OB DISCHRG"
    started = time.monotonic()
    seen = _status_until(sim, "OB DISCHRG LB", 30)
    assert "OL" not in seen
    took = time.monotonic() - started
    assert 2.5 < took < 10  # 100 % -> 10 % at ~20 %/s
    sim.send("NOBROADCAST")
    charge = int(sim.value("battery.charge") or "-1")
    assert 0 < charge <= 10  # battery.charge.low, as runtime.low is 0
    assert sim.value("input.voltage") == "0.0"
    sim.send("BROADCAST")
    assert sim.tracking("INSTCMD test.failure.stop", "f2") == 0
    assert _status_until(sim, "OL CHRG", 5)[-1] == "OL CHRG"
    assert _status_until(sim, "OL", 30)[-1] == "OL"  # recharged at 40 %/s
    sim.send("NOBROADCAST")
    assert sim.value("battery.charge") == "100"


def test_charge_low_set_moves_the_lb_threshold(sim: SockConn) -> None:
    sim.send("NOBROADCAST")
    assert sim.tracking('SET battery.charge.low "90"', "s1") == 0
    assert sim.value("battery.charge.low") == "90"
    sim.send("BROADCAST")
    assert sim.tracking("INSTCMD test.failure.start", "f1") == 0
    assert _status_until(sim, "OB DISCHRG LB", 10)[-1] == "OB DISCHRG LB"


@pytest.mark.parametrize(
    ("var", "good", "bad"),
    [
        ("ups.id", "rack-7", "waytoolongid"),  # STRING:8
        ("device.location", "Basement, rack 2", "x" * 33),  # STRING:32
        ("input.sensitivity", "high", "extreme"),  # ENUM
        ("input.transfer.low", "165", "190"),  # RANGE 160..180
        ("input.transfer.high", "254", "266.5"),  # RANGE 253..265, 266..290
        ("battery.charge.low", "25", "101"),  # NUMBER 0..100
        ("ups.delay.shutdown", "5", "soon"),  # NUMBER
    ],
)
def test_each_writable_type_is_validated(sim: SockConn, var: str, good: str, bad: str) -> None:
    sim.send("NOBROADCAST")
    before = sim.value(var)
    assert sim.tracking(f'SET {var} "{bad}"', "bad") == 2
    assert sim.value(var) == before
    assert sim.tracking(f'SET {var} "{good}"', "good") == 0
    assert sim.value(var) == good


def test_read_only_and_unknown_variables_are_refused(sim: SockConn) -> None:
    sim.send("NOBROADCAST")
    assert sim.tracking('SET battery.charge "5"', "r") == 2
    assert sim.tracking('SET no.such.var "5"', "u") == 1
    assert sim.tracking("INSTCMD no.such.cmd", "c") == 1


def test_commands_change_the_state(sim: SockConn) -> None:
    sim.send("NOBROADCAST")
    for cmd, var, value in [
        ("beeper.disable", "ups.beeper.status", "disabled"),
        ("beeper.mute", "ups.beeper.status", "muted"),
        ("beeper.enable", "ups.beeper.status", "enabled"),
        ("test.battery.start", "ups.test.result", "In progress"),
        ("test.battery.stop", "ups.test.result", "Aborted"),
        ("load.off", "ups.status", "OL OFF"),
        ("load.on", "ups.status", "OL"),
    ]:
        assert sim.tracking(f"INSTCMD {cmd}", cmd) == 0, cmd
        assert sim.value(var) == value, cmd
    assert sim.tracking('SET ups.delay.shutdown "30"', "d") == 0
    assert sim.tracking("INSTCMD shutdown.return", "sr") == 0
    assert sim.value("ups.timer.shutdown") in ("30", "29")
    assert sim.tracking("INSTCMD shutdown.stop", "ss") == 0
    assert sim.value("ups.timer.shutdown") == "-1"
    assert sim.tracking("INSTCMD load.off.delay soon", "bad") == 2


def test_shutdown_return_during_outage_cuts_output(ddir: DriverDir) -> None:
    ddir.write("ups.conf", CONF.replace("restore_after = -1", "restore_after = 1")
               + "  default.ups.delay.shutdown = 1\n  default.ups.delay.start = 1\n")
    ddir.start("sim", "sim")
    with ddir.conn("sim", "sim") as c:
        assert c.value("ups.delay.shutdown") == "1"
        assert c.tracking("INSTCMD test.failure.start", "f") == 0
        assert c.tracking("INSTCMD shutdown.return", "k") == 0
        seen = _status_until(c, "OL", 15)
        # The output is cut on battery, mains returns, the UPS restarts after
        # ups.delay.start (recharging is fast enough that it may be full by then).
        cut = next(i for i, s in enumerate(seen) if s.split()[:2] == ["OB", "OFF"])
        back = next(i for i, s in enumerate(seen) if s.startswith("OL OFF"))
        assert cut < back < len(seen) - 1, seen
