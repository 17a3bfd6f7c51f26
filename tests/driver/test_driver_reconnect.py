"""A device that goes and comes back: stale fast, no made-up status, back without a restart.

The sim driver's ``devicefile`` stands for the cable: removing the file
unplugs the simulated UPS, so the framework's DeviceGone path runs in a
real driver process, seen through its socket and through NUT's C upsd.
"""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

import time

import pytest
from drvutil import DriverDir, SockConn, ddir  # noqa: F401 - the fixture

from pnut.driver.reconnect import MAX_DELAY, Backoff
from support import Stack, Ups, requires_nut, wait_for

POLL = 1.0
CONF = f"""\
[sim]
  driver = sim
  port = simulated
  pollinterval = {POLL}
  seed = 3
  restore_after = -1
  devicefile = cable
"""


def test_backoff_doubles_to_the_cap_and_counts_attempts() -> None:
    b = Backoff()
    b.lost(100.0)
    assert b.active and b.next_at == pytest.approx(100.5)
    waits = []
    now = 100.5
    for _ in range(8):
        b.failed(now)
        waits.append(round(b.next_at - now, 3))
        now = b.next_at
    assert waits == [1.0, 2.0, 4.0, MAX_DELAY, MAX_DELAY, MAX_DELAY, MAX_DELAY, MAX_DELAY]
    assert b.count == 8 and not b.exhausted
    b.lost(now)  # a second loss report while reconnecting changes nothing
    assert b.count == 8
    b.succeeded()
    assert not b.active and b.count == 0


def test_backoff_max_tries() -> None:
    assert Backoff(max_tries=0).exhausted
    b = Backoff(max_tries=2)
    b.lost(0.0)
    b.failed(1.0)
    assert not b.exhausted
    b.failed(2.0)
    assert b.exhausted


def _state(conn: SockConn) -> str | None:
    return conn.value("driver.state")


def test_unplug_goes_stale_keeps_values_and_comes_back(ddir: DriverDir) -> None:
    cable = ddir.write("cable", "")
    ddir.write("ups.conf", CONF)
    proc = ddir.start("sim", "sim")
    with ddir.conn("sim", "sim") as conn, ddir.conn("sim", "sim") as ctl:
        dump = conn.dump()
        assert "DATAOK" in dump and 'SETINFO driver.state "quiet"' in dump
        status = next(line for line in dump if line.startswith("SETINFO ups.status "))
        conn.send("BROADCAST 1")
        # During a poll NUT's drivers say "updateinfo", then "quiet" again.
        conn.until(lambda line: line == 'SETINFO driver.state "updateinfo"', timeout=5)

        cable.unlink()
        gone = time.monotonic()
        seen = conn.until(lambda line: line == "DATASTALE", timeout=2 * POLL + 3)
        assert time.monotonic() - gone <= 2 * POLL + 3
        wait_for(lambda: _state(ctl) == "reconnect.trying", timeout=5)
        # Stale, not a made-up status: ups.status keeps its last real value.
        assert ctl.value("ups.status") == status.split(" ", 2)[2].strip('"')
        assert ctl.tracking("INSTCMD beeper.disable", "t1") == 3  # FAILED while unplugged
        wait_for(lambda: ctl.value("driver.reconnect_count") not in (None, "0"), timeout=5)
        assert ctl.value("driver.reconnect_max_tries") == "-1"
        time.sleep(2.5)  # a few attempts fail; the driver stays up
        assert proc.poll() is None

        cable.write_text("")
        back = time.monotonic()
        seen = conn.until(lambda line: line == "DATAOK", timeout=12)
        assert time.monotonic() - back <= 10
        assert 'SETINFO driver.state "reconnect.updateinfo"' in seen
        assert not [line for line in seen if line.startswith("SETINFO ups.status ")
                    and ("OB" in line or "LB" in line)]
        wait_for(lambda: _state(ctl) in ("quiet", "updateinfo"), timeout=5)
        assert ctl.tracking("INSTCMD beeper.disable", "t2") == 0
    assert proc.poll() is None
    assert "re-established" in ddir.log_text()


def test_reconnect_max_tries_zero_exits_at_the_first_loss(ddir: DriverDir) -> None:
    cable = ddir.write("cable", "")
    ddir.write("ups.conf", CONF + "  reconnect_max_tries = 0\n")
    proc = ddir.start("sim", "sim")
    cable.unlink()
    wait_for(lambda: proc.poll() is not None, timeout=10)
    assert proc.returncode == 1
    assert "gives up" in ddir.log_text()


def test_device_missing_at_start_is_fatal_like_nut(ddir: DriverDir) -> None:
    ddir.write("ups.conf", CONF)
    result = ddir.run("driver", "sim", "-a", "sim")
    assert result.returncode == 1
    assert "cable is missing" in result.stderr


@requires_nut
def test_nut_upsd_answers_data_stale_then_data_again() -> None:
    ups = Ups("sim", "", driver="sim",
              extra={"pollinterval": str(POLL), "seed": "3", "restore_after": "-1",
                     "devicefile": "sim.dev"})
    with Stack([ups]) as st:
        st.start(upsd="nut", driver="pnut")
        assert st.talk(["GET VAR sim ups.status"])[0].startswith("VAR sim ups.status")
        (st.dir / "sim.dev").unlink()
        gone = time.monotonic()
        wait_for(lambda: st.talk(["GET VAR sim ups.status"]) == ["ERR DATA-STALE"],
                 timeout=2 * POLL + 5)
        assert time.monotonic() - gone <= 2 * POLL + 5
        (st.dir / "sim.dev").write_text("")
        back = time.monotonic()
        wait_for(lambda: st.talk(["GET VAR sim ups.status"])[0].startswith("VAR"), timeout=12)
        assert time.monotonic() - back <= 10
        assert st.talk(["GET VAR sim driver.state"])[0] in (
            'VAR sim driver.state "quiet"', 'VAR sim driver.state "updateinfo"')
