"""``pnut upsdrvctl``: start, stop, shutdown with NUT's arguments, on real processes."""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

from drvutil import DriverDir, ddir  # noqa: F401 - the fixture

CONF = """\
[a]
  driver = sim
  port = sim
  pollinterval = 0.5
  sdorder = 1
  default.ups.delay.shutdown = 600
[b]
  driver = dummy-ups
  port = b.dev
  sdorder = 0
[c]
  driver = sim
  port = sim
  sdorder = -1
  default.ups.delay.shutdown = 600
"""


def _setup(ddir: DriverDir, conf: str = CONF) -> None:
    ddir.write("ups.conf", conf)
    ddir.write("b.dev", "ups.status: OL\n")


def test_testing_mode_prints_and_runs_nothing(ddir: DriverDir) -> None:
    _setup(ddir)
    result = ddir.run("upsdrvctl", "-t", "start")
    assert result.returncode == 0
    out = result.stdout.splitlines()
    assert out[:2] == ["Network UPS Tools - UPS driver controller 2.8.0",
                       "*** Testing mode: not calling exec/kill"]
    assert [line.split(" driver ")[1] for line in out[2:]] == [
        "sim -a a -B", "dummy-ups -a b -B", "sim -a c -B"]
    result = ddir.run("upsdrvctl", "-t", "shutdown")
    assert [line.split(" driver ")[1] for line in result.stdout.splitlines()[2:]] == [
        "dummy-ups -a b -k", "sim -a a -k"]  # sdorder 0, then 1; -1 never
    assert not list(ddir.state.iterdir())


def test_start_stop_all(ddir: DriverDir) -> None:
    _setup(ddir)
    result = ddir.run("upsdrvctl", "-u", "root", "start")
    assert result.returncode == 0, result.stdout + result.stderr
    for driver, ups in (("sim", "a"), ("dummy-ups", "b"), ("sim", "c")):
        assert ddir.socket(driver, ups).exists()
        with ddir.conn(driver, ups) as c:
            c.send("GETPID")
            pid = c.line().split()[1]
        assert (ddir.state / f"{driver}-{ups}.pid").read_text().strip() == pid
    result = ddir.run("upsdrvctl", "stop", "b")
    assert result.returncode == 0
    assert not ddir.socket("dummy-ups", "b").exists()
    assert ddir.socket("sim", "a").exists()
    result = ddir.run("upsdrvctl", "stop")
    assert result.returncode == 1  # b is not running any more, as NUT reports
    assert "dummy-ups-b.pid" in result.stderr
    assert not any(ddir.state.iterdir())


def test_restart_replaces_the_running_driver(ddir: DriverDir) -> None:
    _setup(ddir)
    assert ddir.run("upsdrvctl", "-u", "root", "start", "b").returncode == 0
    first = (ddir.state / "dummy-ups-b.pid").read_text()
    assert ddir.run("upsdrvctl", "-u", "root", "start", "b").returncode == 0
    second = (ddir.state / "dummy-ups-b.pid").read_text()
    assert first != second
    with ddir.conn("dummy-ups", "b") as c:
        assert c.value("ups.status") == "OL"


def test_failing_driver_is_retried_then_reported(ddir: DriverDir) -> None:
    _setup(ddir, "maxretry = 2\nretrydelay = 0\n[bad]\n driver = dummy-ups\n port = bad.dev\n")
    ddir.write("bad.dev", "ups.status OL\n")
    result = ddir.run("upsdrvctl", "start")
    assert result.returncode == 1
    assert result.stderr.count("Driver failed to start for UPS bad") == 2
    assert "Startup failed for UPS bad" in result.stderr
    assert "bad.dev:1: expected '<variable>: <value>'" in result.stderr


def test_unknown_ups_and_unknown_driver(ddir: DriverDir) -> None:
    _setup(ddir, CONF + "[x]\n driver = no-such-driver\n port = auto\n")
    result = ddir.run("upsdrvctl", "start", "nonexist")
    assert result.returncode == 1 and "UPS nonexist not found in ups.conf" in result.stderr
    result = ddir.run("upsdrvctl", "start", "x")
    assert result.returncode == 1 and "no-such-driver: no such driver" in result.stderr


def test_shutdown_runs_kill_power_in_sdorder(ddir: DriverDir) -> None:
    _setup(ddir, CONF.replace("driver = dummy-ups\n  port = b.dev", "driver = sim\n  port = b"))
    assert ddir.run("upsdrvctl", "-u", "root", "start").returncode == 0
    result = ddir.run("upsdrvctl", "shutdown")
    assert result.returncode == 0, result.stderr
    for ups, delay in (("a", 600), ("b", 20)):
        with ddir.conn("sim", ups) as c:
            timer = c.value("ups.timer.shutdown")
            assert timer is not None and delay - 5 <= int(timer) <= delay, (ups, timer)
    with ddir.conn("sim", "c") as c:  # sdorder -1: left alone
        assert c.value("ups.timer.shutdown") == "-1"
    # NUT's rule: a driver that cannot kill power makes shutdown fail.
    ddir.write("b.dev", "ups.status: OL\n")
    _setup(ddir, CONF)
    result = ddir.run("upsdrvctl", "shutdown", "b")
    assert result.returncode == 1 and "Shutdown failed for UPS b" in result.stderr
