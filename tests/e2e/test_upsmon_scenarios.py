"""upsmon in the situations that go wrong in real life, each with an asserted outcome."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from monitors import USERS, Cluster, Link, Upssched

from support import Stack, Ups, wait_for

DEV = "ups.status: OL\nbattery.charge: 100\n"
SERVER = "pnut"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    st = Stack([Ups("ups", DEV, extra={"pollinterval": "1"}),
                Ups("ups2", DEV, extra={"pollinterval": "1"})], users=USERS)
    try:
        st.start(upsd=SERVER, driver=SERVER)
        yield Cluster(st)
    finally:
        st.close()


def test_secondary_losing_the_network_on_battery_shuts_down_after_deadtime(
        cluster: Cluster) -> None:
    """Cut off while on line: keep running.  Cut off while on battery: after
    DEADTIME the UPS counts as low, and without FSD from the primary the
    secondary gives up after HOSTSYNC — the primary, still connected, stays."""
    c = cluster
    port = c.stack.port
    link = Link(port)
    primary = c.node("primary", [f"ups@127.0.0.1:{port} 1 admin adminpw primary"])
    secondary = c.node("secondary", [f"ups@127.0.0.1:{link.port} 1 mon monpw secondary"],
                       settings={"DEADTIME": "2", "HOSTSYNC": "2", "FINALDELAY": "0"})
    try:
        wait_for(lambda: c.numlogins("ups") == 2, timeout=20)
        link.cut()  # on line: an unreachable UPS last seen OL keeps counting
        wait_for(lambda: "COMMBAD" in c.events.notified("secondary"), timeout=10)
        time.sleep(3.5)  # well past DEADTIME
        assert secondary.running() and c.events.shutdown_time("secondary") is None
        link.restore()
        wait_for(lambda: "COMMOK" in c.events.notified("secondary"), timeout=10)

        c.set_status("ups", "OB")
        wait_for(lambda: "ONBATT" in c.events.notified("secondary"), timeout=10)
        t_cut = time.time()
        link.cut()
        assert c.wait_exit(secondary, 20) == 0, c.dump()
        t_down = c.events.shutdown_time("secondary")
        assert t_down is not None
        # Not before DEADTIME (2 s) after the last good poll; not much later.
        assert 1.0 <= t_down - t_cut <= 7.0, c.dump()
        assert c.events.notified("secondary").count("COMMBAD") == 2
        assert "FSD" not in c.events.notified("secondary")
        # The primary is fine: on battery, battery not low, no FSD anywhere.
        time.sleep(1.5)
        assert primary.running() and c.events.shutdown_time("primary") is None
        assert "FSD" not in c.status("ups").split()
    finally:
        link.cut()
        for n in (primary, secondary):
            c.stack.stop(n.proc)  # type: ignore[arg-type]


def test_primary_killed_after_setting_fsd_finishes_the_job_when_restarted(
        cluster: Cluster) -> None:
    """The primary dies right after setting FSD (secondaries still in their
    FINALDELAY).  Restarted, it sees FSD, takes the shutdown up again, waits
    for the secondary to log out, and only then shuts its own machine down."""
    c = cluster
    port = c.stack.port
    primary = c.node("primary", [f"ups@127.0.0.1:{port} 1 admin adminpw primary"],
                     settings={"HOSTSYNC": "20", "FINALDELAY": "0"})
    secondary = c.node("secondary", [f"ups@127.0.0.1:{port} 1 mon monpw secondary"],
                       settings={"FINALDELAY": "5"})
    try:
        wait_for(lambda: c.numlogins("ups") == 2, timeout=20)
        c.set_status("ups", "OB LB")
        wait_for(lambda: c.status("ups").startswith("FSD"), timeout=15)
        c.stack.stop(primary.proc, signal.SIGKILL)  # type: ignore[arg-type]
        assert c.events.shutdown_time("primary") is None
        wait_for(lambda: "SHUTDOWN" in c.events.notified("secondary"), timeout=10)
        c.start(primary)  # while the secondary is still logged in
        assert c.wait_exit(secondary, 20) == 0, c.dump()
        assert c.wait_exit(primary, 20) == 0, c.dump()
        t_sec = c.events.shutdown_time("secondary")
        t_pri = c.events.shutdown_time("primary")
        assert t_sec is not None and t_pri is not None and t_sec < t_pri, c.dump()
        assert c.events.notified("primary").count("FSD") == 1  # seen after the restart
        assert c.flag(primary).read_bytes() == b"upsmon-shutdown-file"
        assert len(c.events.of("primary", "shutdown")) == 1
    finally:
        for n in (primary, secondary):
            c.stack.stop(n.proc)  # type: ignore[arg-type]


def test_flapping_power_alternates_events_and_upssched_timer_only_fires_when_it_lasts(
        cluster: Cluster) -> None:
    """OL/OB every second: ONBATT and ONLINE alternate, no shutdown, and the
    upssched timer started by each ONBATT is cancelled by the ONLINE that
    follows; only an outage lasting longer than the timer runs its command."""
    c = cluster
    port = c.stack.port
    sched = Upssched(c.stack.dir / "sched", "AT ONBATT * START-TIMER onbatt 2\n"
                                            "AT ONLINE * CANCEL-TIMER onbatt\n")
    node = c.node("primary", [f"ups@127.0.0.1:{port} 1 admin adminpw primary"],
                  also_notify=sched.command)
    try:
        wait_for(lambda: c.numlogins("ups") == 1, timeout=20)
        for _ in range(3):
            for status in ("OB", "OL"):
                c.set_status("ups", status)
                wait_for(lambda s=status: c.status("ups") == s, timeout=10)
                time.sleep(1.1)
        events = [e for e in c.events.notified("primary") if e in ("ONBATT", "ONLINE")]
        assert len(events) >= 4
        assert events == ["ONBATT", "ONLINE"] * (len(events) // 2), events
        time.sleep(2.5)  # longer than the timer: every one was cancelled
        assert sched.fired() == []
        c.set_status("ups", "OB")  # a real outage: the timer runs out
        wait_for(sched.fired, timeout=15)
        time.sleep(0.5)
        assert [a for a, _ in sched.fired()] == ["onbatt"]
        assert node.running() and c.events.shutdown_time("primary") is None
        assert "FSD" not in c.status("ups")
    finally:
        c.stack.stop(node.proc)  # type: ignore[arg-type]
        sched.kill_daemons()


def test_two_upses_minsupplies_one(cluster: Cluster) -> None:
    """Power values 1+1, MINSUPPLIES 1: losing one UPS is survivable, losing
    both is not — then FSD goes to both UPSes this primary manages."""
    c = cluster
    port = c.stack.port
    node = c.node("primary", [f"ups@127.0.0.1:{port} 1 admin adminpw primary",
                              f"ups2@127.0.0.1:{port} 1 admin adminpw primary"],
                  extra="MINSUPPLIES 1\n")
    try:
        wait_for(lambda: c.numlogins("ups") == 1 and c.numlogins("ups2") == 1, timeout=20)
        c.set_status("ups", "OB LB")
        wait_for(lambda: "LOWBATT" in c.events.notified("primary"), timeout=10)
        time.sleep(3)  # several poll cycles with one critical UPS
        assert node.running() and c.events.shutdown_time("primary") is None
        assert c.status("ups") == "OB LB" and c.status("ups2") == "OL"
        c.set_status("ups2", "OB LB")
        assert c.wait_exit(node, 20) == 0, c.dump()
        assert c.events.shutdown_time("primary") is not None
        assert c.status("ups").startswith("FSD") and c.status("ups2").startswith("FSD")
        assert c.flag(node).read_bytes() == b"upsmon-shutdown-file"
    finally:
        c.stack.stop(node.proc)  # type: ignore[arg-type]
