"""The sans-IO upsmon state machine, event by event, against NUT 2.8.0's rules."""

from __future__ import annotations

import itertools

import pytest

from pnut.config.notify import NotifyType as N
from pnut.monitor.machine import (
    CRITICAL_RULES,
    HostSync,
    Machine,
    Notify,
    Settings,
    StartShutdown,
    Tri,
    UpsTrack,
    critical_rule,
)

UPS = "ups@host"


def machine(primary: bool = True, **settings: float) -> Machine:
    return Machine.create(Settings(**settings), [(UPS, 1, primary)])  # type: ignore[arg-type]


def notes(actions: list[object]) -> list[N]:
    return [a.type for a in actions if isinstance(a, Notify)]


def shutdowns(actions: list[object]) -> list[StartShutdown]:
    return [a for a in actions if isinstance(a, StartShutdown)]


def test_first_online_and_first_comm_are_silent() -> None:
    m = machine()
    assert notes(m.poll_ok(UPS, "OL", 0)) == []
    assert notes(m.recalc(0)) == []
    assert m.upses[UPS].commstate is Tri.UP and m.upses[UPS].linestate is Tri.UP


def test_first_sight_on_battery_notifies() -> None:
    assert notes(machine().poll_ok(UPS, "OB", 0)) == [N.ONBATT]


def test_line_transitions_notify_once_each() -> None:
    m = machine()
    m.poll_ok(UPS, "OL", 0)
    assert notes(m.poll_ok(UPS, "OB DISCHRG", 1)) == [N.ONBATT]
    assert notes(m.poll_ok(UPS, "OB DISCHRG", 2)) == []
    assert notes(m.poll_ok(UPS, "OL CHRG", 3)) == [N.ONLINE]
    assert notes(m.poll_ok(UPS, "OL", 4)) == []


def test_tokens_are_case_insensitive() -> None:
    m = machine()
    assert notes(m.poll_ok(UPS, "ob lb", 0)) == [N.ONBATT, N.LOWBATT]


def test_lowbatt_once_then_cleared_silently_and_raised_again() -> None:
    m = machine(primary=False)
    m.poll_ok(UPS, "OL", 0)
    assert notes(m.poll_ok(UPS, "OL LB", 1)) == [N.LOWBATT]
    assert notes(m.poll_ok(UPS, "OL LB", 2)) == []
    assert notes(m.poll_ok(UPS, "OL", 3)) == []
    assert not m.upses[UPS].lowbatt
    assert notes(m.poll_ok(UPS, "OL LB", 4)) == [N.LOWBATT]


def test_fsd_notifies_once_and_is_critical_even_on_line() -> None:
    m = machine(primary=False)
    m.poll_ok(UPS, "OL", 0)
    assert notes(m.poll_ok(UPS, "FSD OL", 1)) == [N.FSD]
    assert notes(m.poll_ok(UPS, "FSD OL", 2)) == []
    assert shutdowns(m.recalc(2))


def test_replbatt_repeats_only_after_rbwarntime() -> None:
    m = machine(rbwarntime=100)
    assert notes(m.poll_ok(UPS, "OL RB", 0)) == [N.REPLBATT]
    assert notes(m.poll_ok(UPS, "OL RB", 50)) == []
    assert notes(m.poll_ok(UPS, "OL RB", 100)) == []
    assert notes(m.poll_ok(UPS, "OL RB", 101)) == [N.REPLBATT]


def test_calibration_notifies_and_keeps_ob_lb_noncritical() -> None:
    m = machine()
    assert notes(m.poll_ok(UPS, "OB LB CAL", 0)) == [N.ONBATT, N.LOWBATT, N.CAL]
    assert shutdowns(m.recalc(0)) == []
    # CAL gone: now OB+LB is critical for the primary.
    assert notes(m.poll_ok(UPS, "OB LB", 1)) == []
    assert shutdowns(m.recalc(1))


def test_commbad_once_then_nocomm_repeating() -> None:
    m = machine(nocommwarntime=300)
    m.poll_ok(UPS, "OL", 0)
    assert notes(m.poll_failed(UPS, 5)) == [N.COMMBAD]
    assert notes(m.poll_failed(UPS, 10)) == []
    assert notes(m.poll_failed(UPS, 299)) == []
    assert notes(m.poll_failed(UPS, 300)) == [N.NOCOMM]
    assert notes(m.poll_failed(UPS, 400)) == []
    assert notes(m.poll_failed(UPS, 601)) == [N.NOCOMM]
    assert notes(m.poll_ok(UPS, "OL", 602)) == [N.COMMOK]


def test_commbad_fires_even_if_never_connected_then_nocomm_at_once() -> None:
    # NUT: commstate starts "unknown", so the first failure is a change; and
    # lastpoll "never" means NOCOMMWARNTIME has long passed.
    m = machine()
    assert notes(m.poll_failed(UPS, 0)) == [N.COMMBAD]
    assert notes(m.poll_failed(UPS, 1)) == [N.NOCOMM]
    assert notes(m.poll_ok(UPS, "OL", 2)) == [N.COMMOK]


def test_dropped_connection_makes_reconnect_notify_commok() -> None:
    m = machine()
    m.poll_ok(UPS, "OB", 0)
    assert notes(m.poll_failed(UPS, 1, dropped=True)) == [N.COMMBAD]
    assert notes(m.poll_ok(UPS, "OL", 2)) == [N.COMMOK, N.ONLINE]


def test_unreachable_on_line_keeps_counting() -> None:
    m = machine(deadtime=15)
    m.poll_ok(UPS, "OL", 0)
    m.poll_failed(UPS, 5)
    assert shutdowns(m.recalc(1000)) == []
    assert m.power_value(1000) == 1


def test_deadtime_on_battery_primary_shuts_down() -> None:
    m = machine(deadtime=15)
    m.poll_ok(UPS, "OB", 0)
    m.poll_failed(UPS, 5)
    assert shutdowns(m.recalc(15)) == []  # not yet *past* DEADTIME
    assert shutdowns(m.recalc(16))


def test_deadtime_on_battery_secondary_waits_hostsync_after_last_poll() -> None:
    m = machine(primary=False, deadtime=15, hostsync=15)
    m.poll_ok(UPS, "OB", 0)  # lastnoncrit = 0 (OB without LB)
    m.poll_failed(UPS, 5)
    assert shutdowns(m.recalc(10)) == []
    actions = m.recalc(16)  # dead -> LB assumed; OB+LB for 16 s > HOSTSYNC
    assert m.upses[UPS].lowbatt
    assert shutdowns(actions)


def test_secondary_waits_hostsync_for_primary_fsd() -> None:
    m = machine(primary=False, hostsync=15)
    m.poll_ok(UPS, "OB", 0)
    # NUT updates the timer after each token: at t=10 the OB token is seen
    # before LB, so the last non-critical moment is t=10.
    m.poll_ok(UPS, "OB LB", 10)
    assert shutdowns(m.recalc(10)) == []
    m.poll_ok(UPS, "OB LB", 20)
    assert shutdowns(m.recalc(20)) == []
    assert shutdowns(m.recalc(25)) == []
    m.poll_ok(UPS, "OB LB", 26)
    assert shutdowns(m.recalc(26))


@pytest.mark.parametrize("status", ["OB LB", "LB OB"])
def test_secondary_starting_during_ob_lb_still_waits_hostsync(status: str) -> None:
    # The timer is updated after each token, and the first token alone is
    # never OB+LB, so even the first poll counts as a non-critical moment.
    m = machine(primary=False, hostsync=15)
    m.poll_ok(UPS, status, 0)
    assert shutdowns(m.recalc(15)) == []
    m.poll_ok(UPS, status, 16)
    assert shutdowns(m.recalc(16))


def test_primary_ob_lb_is_critical_at_once() -> None:
    m = machine(primary=True)
    m.poll_ok(UPS, "OL", 0)
    m.poll_ok(UPS, "OB LB", 1)
    assert shutdowns(m.recalc(1))


def test_shutdown_is_emitted_once_and_machine_goes_inert() -> None:
    m = machine()
    m.poll_ok(UPS, "OB LB", 0)
    assert len(shutdowns(m.recalc(0))) == 1
    assert m.recalc(1) == [] and m.poll_ok(UPS, "OL", 2) == [] and m.user_fsd() == []


def test_user_fsd_shuts_down_with_power_present() -> None:
    m = machine()
    m.poll_ok(UPS, "OL", 0)
    assert shutdowns(m.user_fsd())


def test_minsupplies_two_upses() -> None:
    m = Machine.create(Settings(minsupplies=1), [("a", 1, False), ("b", 1, False)])
    m.poll_ok("a", "OL", 0)
    m.poll_ok("b", "OL", 0)
    m.poll_ok("a", "FSD OB LB", 1)
    assert shutdowns(m.recalc(1)) == []
    assert m.power_value(1) == 1
    m.poll_ok("b", "FSD OB LB", 2)
    assert shutdowns(m.recalc(2))


def test_monitor_only_ups_never_contributes() -> None:
    m = Machine.create(Settings(minsupplies=1), [("a", 1, False), ("mon", 0, False)])
    m.poll_ok("a", "FSD OB LB", 0)
    m.poll_ok("mon", "OL", 0)
    assert shutdowns(m.recalc(0))


def test_empty_status_counts_as_gone() -> None:
    m = machine()
    m.poll_ok(UPS, "OL", 0)
    assert notes(m.poll_ok(UPS, "", 1)) == [N.COMMBAD]


def test_on_alert_follows_battery() -> None:
    m = machine()
    m.poll_ok(UPS, "OL", 0)
    assert not m.on_alert()
    m.poll_ok(UPS, "OB", 1)
    assert m.on_alert()


# -- the critical rules as a table ------------------------------------------------------

# (fsd, ob, lb, cal, primary, seconds since last non-critical poll) -> critical
EXPECTED = {
    (True, False, False, False, False, 0): True,
    (True, True, True, True, False, 0): True,
    (False, True, False, False, True, 99): False,
    (False, False, True, False, True, 99): False,
    (False, True, True, True, True, 99): False,
    (False, True, True, False, True, 0): True,
    (False, True, True, False, False, 15): False,
    (False, True, True, False, False, 16): True,
}


@pytest.mark.parametrize(("key", "critical"), EXPECTED.items())
def test_critical_rules(key: tuple[bool, bool, bool, bool, bool, int], critical: bool) -> None:
    fsd, ob, lb, cal, primary, waited = key
    ups = UpsTrack("u", 1, primary, onbatt=ob, lowbatt=lb, fsd=fsd, cal=cal, lastnoncrit=100)
    assert critical_rule(ups, 100 + waited, Settings(hostsync=15)).critical is critical


def test_every_state_has_exactly_one_deciding_rule() -> None:
    # The last rule catches everything, and every rule is reachable.
    used = set()
    for fsd, ob, lb, cal, primary, waited in itertools.product(
            [False, True], [False, True], [False, True], [False, True], [False, True], [0, 99]):
        ups = UpsTrack("u", 1, primary, onbatt=ob, lowbatt=lb, fsd=fsd, cal=cal, lastnoncrit=0)
        used.add(critical_rule(ups, waited, Settings(hostsync=15)).name)
    assert used == {r.name for r in CRITICAL_RULES}


def test_hostsync() -> None:
    hs = HostSync(started=0, hostsync=15)
    assert hs.update(1, [3]) == "wait"
    assert hs.update(1, [1, 2]) == "wait"
    assert hs.update(2, [1, None]) == "alone"
    assert hs.update(2, [None]) == "alone"  # nobody answered: as NUT, go ahead
    assert hs.update(15, [2]) == "wait"
    assert hs.update(16, [2]) == "expired"
