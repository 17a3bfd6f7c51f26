"""pnut's dummy-ups on its own: files, modes, TIMER, re-reading, bad input, CLI flags."""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from drvutil import DriverDir, ddir  # noqa: F401 - the fixture

from support import FIXTURES, wait_for


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.dev")), ids=lambda p: p.name[:20])
def test_every_fixture_loads_in_dump_mode(ddir: DriverDir, path: os.PathLike[str]) -> None:
    ddir.write("ups.conf", f"[f]\n driver = dummy-ups\n port = {path}\n")
    result = ddir.run("driver", "dummy-ups", "-a", "f", "-d", "1")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines()[1:])
    assert lines["driver.name"] == "dummy-ups"
    assert lines["driver.parameter.mode"] == "dummy-once"
    expected = {}
    for line in Path(path).read_text().splitlines():
        name, _, value = line.partition(":")
        if not name.startswith("driver."):
            value = value.split("#")[0]  # one fixture line carries a comment
            expected[name] = " ".join(value.replace("=", " = ").split())
    for name, value in expected.items():
        assert lines.get(name) == value, name


def test_loop_mode_plays_the_sequence_with_timers(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[s]\n driver = dummy-ups\n port = s.seq\n pollinterval = 5\n")
    ddir.write("s.seq", "ups.status: OL\nTIMER 1\nups.status: OB DISCHRG\nbattery.charge: 50\n"
                        "TIMER 1\nups.status: OB LB\nTIMER 1\n")
    ddir.start("dummy-ups", "s")
    with ddir.conn("dummy-ups", "s") as c:
        c.send("DUMPALL")
        c.until(lambda line: line == "DUMPDONE")
        seen: list[str] = []
        started = time.monotonic()
        while len(seen) < 4:
            line = c.line(timeout=10)
            if line.startswith("SETINFO ups.status "):
                seen.append(line.split(" ", 2)[2])
        took = time.monotonic() - started
    # TIMERs are honoured to the second although pollinterval is 5 s.
    assert seen == ['"OB DISCHRG"', '"OB LB"', '"OL"', '"OB DISCHRG"']
    assert 2.0 < took < 6.0


def test_loop_mode_overwrites_a_set_on_the_next_pass(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[s]\n driver = dummy-ups\n port = s.seq\n pollinterval = 0.2\n")
    ddir.write("s.seq", "battery.charge: 90\n")
    ddir.start("dummy-ups", "s")
    with ddir.conn("dummy-ups", "s") as c:
        c.send("NOBROADCAST")
        assert c.tracking('SET battery.charge "10"', "a") == 0
        wait_for(lambda: c.value("battery.charge") == "90", timeout=5)


def test_once_mode_keeps_sets_and_rereads_a_changed_file(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[o]\n driver = dummy-ups\n port = o.dev\n pollinterval = 0.2\n")
    dev = ddir.write("o.dev", "battery.charge: 90\nups.load: 20\n")
    ddir.start("dummy-ups", "o")
    with ddir.conn("dummy-ups", "o") as c:
        c.send("NOBROADCAST")
        assert c.tracking('SET ups.load "33"', "a") == 0
        time.sleep(1.0)  # several polls: the file is not read again
        assert c.value("ups.load") == "33"
        dev.write_text("battery.charge: 80\nups.load: 20\n")
        os.utime(dev, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
        wait_for(lambda: c.value("battery.charge") == "80", timeout=5)
        assert c.value("ups.load") == "20"


def test_alarm_lines_set_ups_alarm_and_prefix_status(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[a]\n driver = dummy-ups\n port = a.dev\n")
    ddir.write("a.dev", "ups.status: OL\nALARM [Replace battery]\n")
    ddir.start("dummy-ups", "a")
    with ddir.conn("dummy-ups", "a") as c:
        assert c.value("ups.status") == "ALARM OL"
        assert c.value("ups.alarm") == "[Replace battery]"


@pytest.mark.parametrize(
    ("text", "lineno", "problem"),
    [
        ("ups.status: OL\nTIMER\n", 2, "TIMER needs exactly one argument"),
        ("ups.status: OL\nbattery.charge 50\n", 2, "expected '<variable>: <value>'"),
    ],
)
def test_malformed_dev_line_stops_the_driver_with_file_and_line(
    ddir: DriverDir, text: str, lineno: int, problem: str
) -> None:
    ddir.write("ups.conf", "[b]\n driver = dummy-ups\n port = b.dev\n")
    path = ddir.write("b.dev", text)
    result = ddir.run("driver", "dummy-ups", "-a", "b")
    assert result.returncode == 1
    assert f"{path}:{lineno}: {problem}" in result.stderr
    assert not ddir.socket("dummy-ups", "b").exists()


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ("[b]\n driver = dummy-ups\n port = b.dev\n maxstartdelay = 5\n mystery = 1\n",
         "ups.conf:5: 'mystery' is not a valid variable name for the dummy-ups driver"),
        ("[b]\n driver = dummy-ups\n port = b.dev\n mode = dummy-forever\n",
         "ups.conf:4: mode: unknown mode 'dummy-forever'"),
        ("[b]\n driver = dummy-ups\n port = missing.dev\n",
         "Can't open dummy-ups definition file"),
    ],
)
def test_bad_ups_conf_stops_the_driver(ddir: DriverDir, conf: str, message: str) -> None:
    ddir.write("ups.conf", conf)
    ddir.write("b.dev", "ups.status: OL\n")
    result = ddir.run("driver", "dummy-ups", "-a", "b")
    assert result.returncode == 1
    assert message in result.stderr


def test_ups_conf_lines_nut_skips_start_the_driver_with_a_warning(ddir: DriverDir) -> None:
    """Issue 11: NUT's drivers skip such a line silently; pnut's run and name it."""
    ddir.write("ups.conf", "[b]\n driver = dummy-ups\n port = b.dev\n  oops here\n")
    ddir.write("b.dev", "ups.status: OL\n")
    result = ddir.run("driver", "dummy-ups", "-a", "b", "-d", "1")
    assert result.returncode == 0, result.stderr
    assert "ups.status: OL\n" in result.stdout
    assert ("ups.conf:4: expected 'key = value' or a single flag word, got 'oops here' (NUT "
            "skips it silently): the line is ignored") in result.stderr


def test_mode_choice_and_x_overrides(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[m]\n driver = dummy-ups\n port = m.txt\n")
    ddir.write("m.txt", "ups.status: OB\n")
    ddir.write("m.dev", "ups.status: OL\n")
    out = ddir.run("driver", "dummy-ups", "-a", "m", "-d", "1").stdout
    assert "driver.parameter.mode: dummy\n" in out and "ups.status: OB\n" in out
    out = ddir.run("driver", "dummy-ups", "-a", "m", "-d", "1", "-x", "port=m.dev",
                   "-x", "mode=dummy-loop").stdout
    assert "driver.parameter.mode: dummy-loop\n" in out and "ups.status: OL\n" in out
    assert "driver.parameter.port: m.dev\n" in out


def test_override_and_default_from_ups_conf(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[m]\n driver = dummy-ups\n port = m.dev\n"
                           " override.battery.charge = 50\n default.ups.load = 7\n")
    ddir.write("m.dev", "ups.status: OL\nbattery.charge: 90\n")
    out = ddir.run("driver", "dummy-ups", "-a", "m", "-d", "1").stdout
    assert "battery.charge: 50\n" in out and "ups.load: 7\n" in out


def test_kill_power_is_not_supported_by_dummy_ups(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[m]\n driver = dummy-ups\n port = m.dev\n")
    ddir.write("m.dev", "ups.status: OL\n")
    result = ddir.run("driver", "dummy-ups", "-a", "m", "-k")
    assert result.returncode == 1 and "shutdown not supported" in result.stderr


def test_list_version_and_unknown_driver(ddir: DriverDir) -> None:
    result = ddir.run("driver", "dummy-ups", "-L")
    assert result.returncode == 0
    assert 'VALUE mode "Specify mode' in result.stdout
    assert "FLAG repeater_disable_strict_start" in result.stdout
    result = ddir.run("driver", "dummy-ups", "-V")
    assert result.returncode == 0 and "Device simulation and repeater driver 0.15" in result.stdout
    # bcmxcp is one of NUT's drivers that pnut does not have (usbhid-ups, the
    # example here before, is one of pnut's own now)
    result = ddir.run("driver", "bcmxcp", "-a", "x")
    assert result.returncode == 1 and "pnut has no driver named 'bcmxcp'" in result.stderr


def test_background_mode_returns_once_ready(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[m]\n driver = dummy-ups\n port = m.dev\n")
    ddir.write("m.dev", "ups.status: OL\n")
    result = ddir.run("driver", "dummy-ups", "-a", "m", "-B", "-u", "root")
    assert result.returncode == 0, result.stderr
    with ddir.conn("dummy-ups", "m") as c:  # the socket already answers
        assert c.value("ups.status") == "OL"
        c.send("GETPID")
        pid = int(c.line().split()[1])
    assert (ddir.state / "dummy-ups-m.pid").read_text().strip() == str(pid)
    result = ddir.run("driver", "dummy-ups", "-a", "m", "-c", "exit")
    assert result.returncode == 0
    wait_for(lambda: not ddir.socket("dummy-ups", "m").exists())
    # A background start that fails reports the failure in its exit status.
    ddir.write("m.dev", "ups.status OL\n")
    assert ddir.run("driver", "dummy-ups", "-a", "m", "-B").returncode == 1


def test_loop_mode_picks_up_edits_at_the_next_pass(ddir: DriverDir) -> None:
    ddir.write("ups.conf", "[s]\n driver = dummy-ups\n port = s.seq\n pollinterval = 0.2\n")
    seq = ddir.write("s.seq", "battery.charge: 90\n")
    ddir.start("dummy-ups", "s")
    with ddir.conn("dummy-ups", "s") as c:
        c.send("NOBROADCAST")
        assert c.value("battery.charge") == "90"
        seq.write_text("battery.charge: 70\n")
        os.utime(seq, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
        wait_for(lambda: c.value("battery.charge") == "70", timeout=5)
        seq.write_text("battery.charge 60\n")  # broken: the previous version keeps playing
        os.utime(seq, ns=(time.time_ns(), time.time_ns() + 4_000_000_000))
        time.sleep(1)
        assert c.value("battery.charge") == "70"
    assert "s.seq:1: expected '<variable>: <value>'" in ddir.log_text()
