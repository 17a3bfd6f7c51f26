"""Many pnut drivers in one process (``pnut drvhost``, ``upsdrvctl --one-process``)."""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

import os
import signal
import time

from drvutil import DriverDir, ddir  # noqa: F401 - the fixture

from pnut.driver.host import hosted_pid_cmdline
from pnut.driver.pidfile import read_pid
from support import wait_for

CONF = """\
[a]
  driver = sim
  port = x
  pollinterval = 0.5
[b]
  driver = sim
  port = x
  pollinterval = 0.5
  devicefile = cable
[c]
  driver = dummy-ups
  port = c.dev
[bad]
  driver = sim
  port = x
  drain_rate = abc
"""


def _setup(ddir: DriverDir) -> None:
    ddir.write("ups.conf", CONF)
    ddir.write("c.dev", "ups.status: OL\nbattery.charge: 90\n")
    ddir.write("cable", "")


def test_drivers_share_a_process_but_nothing_else(ddir: DriverDir) -> None:
    _setup(ddir)
    proc = ddir.spawn("drvhost", "-u", "root", "sim:a", "sim:b", "dummy-ups:c", "sim:bad",
                       name="host")
    for name in ("sim-a", "sim-b", "dummy-ups-c"):
        wait_for(lambda n=name: (ddir.state / n).exists(), timeout=20)
    assert proc.poll() is None
    for driver, ups in (("sim", "a"), ("sim", "b"), ("dummy-ups", "c")):
        assert read_pid(ddir.state / f"{driver}-{ups}.pid") == proc.pid
        with ddir.conn(driver, ups) as conn:
            assert "DATAOK" in conn.dump()
    assert "drain_rate: expected a number" in ddir.log_text()  # [bad] alone is left out
    assert "[a] sim driver for [a] listening" in ddir.log_text()

    with ddir.conn("sim", "a") as a, ddir.conn("sim", "b") as b:
        b.send("BROADCAST 1")
        (ddir.dir / "cable").unlink()  # b's device goes away ...
        b.until(lambda line: line == "DATASTALE", timeout=5)
        a.send("BROADCAST 1")  # ... while a keeps polling
        a.until(lambda line: line == 'SETINFO driver.state "updateinfo"', timeout=5)
        assert a.value("driver.state") in ("quiet", "updateinfo")
        (ddir.dir / "cable").write_text("")
        b.until(lambda line: line == "DATAOK", timeout=12)

    with ddir.conn("dummy-ups", "c") as c:
        assert c.tracking("INSTCMD driver.exit", "x") == 0
    wait_for(lambda: not (ddir.state / "dummy-ups-c").exists(), timeout=10)
    assert proc.poll() is None
    with ddir.conn("sim", "a") as a:
        a.send("PING")
        assert a.line() == "PONG"
    assert ddir.stop(proc) == 1  # not every driver could start
    assert not list(ddir.state.glob("*.pid"))


def test_upsdrvctl_one_process_start_and_stop(ddir: DriverDir) -> None:
    _setup(ddir)
    ddir.write("ups.conf", CONF.split("[bad]")[0])
    result = ddir.run("upsdrvctl", "-u", "root", "--one-process", "start", timeout=60)
    assert result.returncode == 0, result.stderr
    pids = {read_pid(ddir.state / f"{n}.pid") for n in ("sim-a", "sim-b", "dummy-ups-c")}
    assert len(pids) == 1
    pid = pids.pop()
    assert pid is not None and sorted(hosted_pid_cmdline(pid)) == ["dummy-ups:c", "sim:a",
                                                                   "sim:b"]
    result = ddir.run("upsdrvctl", "stop", "c")
    assert result.returncode == 0, result.stderr
    assert not (ddir.state / "dummy-ups-c").exists() and (ddir.state / "sim-a").exists()
    assert hosted_pid_cmdline(pid)  # the host still runs a and b
    result = ddir.run("upsdrvctl", "stop")
    assert "dummy-ups-c.pid: no PID file" in result.stderr  # c had already stopped
    wait_for(lambda: not hosted_pid_cmdline(pid), timeout=10)
    assert not list(ddir.state.glob("*.pid"))


def test_a_slow_device_does_not_hold_up_the_others(ddir: DriverDir) -> None:
    """b reconnects on its back-off while a still answers within a poll interval."""
    _setup(ddir)
    (ddir.dir / "cable").unlink()
    ddir.write("ups.conf", CONF.split("[c]")[0])
    proc = ddir.spawn("drvhost", "-u", "root", "sim:a", "sim:b", name="host")
    wait_for(lambda: (ddir.state / "sim-a").exists() or proc.poll() is not None, timeout=20)
    assert proc.poll() is None  # b's missing device at start-up does not stop a
    with ddir.conn("sim", "a") as a:
        start = time.monotonic()
        for _ in range(5):
            a.send("PING")
            assert a.line(timeout=2) == "PONG"
        assert time.monotonic() - start < 5
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(10)
