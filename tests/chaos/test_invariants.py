"""The invariant checker on hand-made records: a clean story passes, each breach is named."""

from __future__ import annotations

import pytest
from invariants import Life, RunRecord, Timing, check, excused_nodes, overlaps, union

T = Timing()


def story() -> RunRecord:
    """Appendix B as it should go: outage at 5, LB at 15, empty at 25."""
    rec = RunRecord(T, "primary", ["sec1", "sec2"], end=27.0, empty_at=25.0,
                    status=[(0.0, "OL"), (5.0, "OB DISCHRG"), (15.0, "OB DISCHRG LB"),
                            (25.0, "OB OFF LB")])
    for node in rec.nodes:
        rec.lives[f"upsmon:{node}"] = [Life(0.0, 27.0, "stopped")]
        rec.notifies[node] = [(5.8, "ONBATT"), (15.7, "LOWBATT"), (16.8, "SHUTDOWN")]
        rec.shutdowns[node] = [17.8]
    for sec in rec.secondaries:
        rec.notifies[sec].insert(2, (16.7, "FSD"))
    rec.notifies["primary"][-1] = (18.9, "SHUTDOWN")
    rec.shutdowns["primary"] = [19.9]
    rec.lives["driver"] = [Life(0.0, 27.0, "stopped")]
    rec.lives["upsd"] = [Life(0.0, 27.0, "stopped")]
    rec.probe = [(t / 5, "fresh", "OL") for t in range(25)]
    rec.probe += [(16.5, "fresh", "FSD OB DISCHRG LB")]
    rec.flag_seen = 19.9
    return rec


def names(rec: RunRecord) -> list[str]:
    return [v.invariant for v in check(rec)]


def test_clean_story_passes() -> None:
    assert check(story()) == []
    assert excused_nodes(story()) == []


def test_shutdown_on_line_power_is_needless() -> None:
    rec = story()
    rec.status = [(0.0, "OL")]
    rec.empty_at = None
    rec.probe = [(t / 5, "fresh", "OL") for t in range(100)]
    rec.flag_seen = None
    assert set(names(rec)) >= {"needless-shutdown"}
    assert names(rec).count("needless-shutdown") == 3


def test_shutdown_on_battery_without_cause_is_early_unless_blind() -> None:
    rec = story()
    rec.status = [(0.0, "OL"), (5.0, "OB DISCHRG")]
    rec.empty_at = None
    rec.probe = [(t / 5, "fresh", "OB") for t in range(100)]
    rec.flag_seen = None
    rec.shutdowns = {"primary": [], "sec1": [9.0], "sec2": []}
    rec.notifies = {"primary": [(5.8, "ONBATT")], "sec1": [(5.8, "ONBATT"), (8.0, "SHUTDOWN")],
                    "sec2": [(5.8, "ONBATT")]}
    assert "early-shutdown" in names(rec)
    rec.down["link:sec1"] = [(6.0, 12.0)]
    rec.down["cut:sec1"] = [(6.0, 12.0)]
    assert "early-shutdown" not in names(rec)


def test_missing_shutdown_before_empty_is_late() -> None:
    rec = story()
    rec.shutdowns["sec2"] = []
    rec.notifies["sec2"] = rec.notifies["sec2"][:3]
    assert "late-shutdown" in names(rec)


def test_a_machine_blind_at_low_battery_is_excused() -> None:
    rec = story()
    rec.shutdowns["sec2"] = []
    rec.notifies["sec2"] = rec.notifies["sec2"][:1]
    rec.down["link:sec2"] = [(14.0, 26.0)]
    assert excused_nodes(rec) == ["sec2"]
    assert "late-shutdown" not in names(rec)


def test_blind_only_after_deciding_is_no_excuse() -> None:
    rec = story()
    rec.shutdowns["sec2"] = []
    rec.notifies["sec2"] = rec.notifies["sec2"][:3]
    rec.down["link:sec2"] = [(23.0, 26.0)]
    assert excused_nodes(rec) == []
    assert "late-shutdown" in names(rec)
    rec.down["upsmon:sec2"] = [(23.0, 26.0)]
    assert excused_nodes(rec) == ["sec2"]


def test_secondary_after_kill_power() -> None:
    rec = story()
    rec.shutdowns["sec1"] = [19.9 + T.kill_delay + 0.1]
    rec.empty_at = 40.0
    rec.end = 42.0
    assert "after-killpower" in names(rec)


def test_flag_before_decision() -> None:
    rec = story()
    rec.flag_seen = 10.0
    assert "pdflag" in names(rec)


def test_unkilled_daemon_death_and_clean_upsmon_exit() -> None:
    rec = story()
    rec.lives["upsd"] = [Life(0.0, 12.0, "exited", 1)]
    rec.lives["upsmon:sec1"] = [Life(0.0, 18.0, "exited", 0)]
    assert names(rec) == ["daemon-died"]


def test_restarted_driver_must_serve_fresh_data() -> None:
    rec = story()
    rec.down["driver"] = [(3.0, 4.0)]
    rec.restarts = [("driver", 4.0)]
    rec.probe = [(3.0 + t / 5, "stale", "ERR_DATA-STALE") for t in range(60)]
    assert "not-recovered" in names(rec)


def test_stale_data_served_as_fresh() -> None:
    rec = story()
    rec.down["driver"] = [(2.0, 12.0)]
    rec.probe = [(2.0 + t / 5, "fresh", "OL") for t in range(60)]
    assert "stale-served" in names(rec)  # OL long after the outage began at 5
    rec.probe = [(t, "fresh" if t < 5.0 + T.maxage else "stale", "OL")
                 for t in (2.5, 4.0, 6.0, 8.0, 10.0, 12.0)]
    assert "stale-served" not in names(rec)


def test_a_driver_that_stops_refreshing_is_caught_without_being_stopped() -> None:
    """NUT's drivers schedule polls by the wall clock: a jump back freezes them."""
    rec = story()
    rec.probe = [(t / 5, "fresh", "OL") for t in range(125)]
    assert "stale-served" in names(rec)


@pytest.mark.parametrize("events", [
    [(5.8, "ONBATT"), (6.8, "ONBATT")],
    [(3.0, "COMMOK")],
])
def test_repeated_or_impossible_notifications(events: list[tuple[float, str]]) -> None:
    rec = story()
    rec.notifies["sec1"] = sorted([*rec.notifies["sec1"][1:], *events])
    rec.down["upsd"] = [(2.0, 3.0)]
    assert "notify-twice" in names(rec)


def test_notification_without_cause() -> None:
    rec = story()
    rec.notifies["sec1"].insert(0, (2.0, "COMMBAD"))
    assert "notify-no-cause" in names(rec)
    rec.down["cut:sec1"] = rec.down["link:sec1"] = [(1.0, 1.5)]
    assert "notify-no-cause" not in names(rec)


def test_plain_outage_not_notified() -> None:
    rec = story()
    rec.notifies["sec1"] = [(t, w) for t, w in rec.notifies["sec1"] if w != "ONBATT"]
    assert "notify-missing" in names(rec)


def test_long_loss_of_communication_needs_commbad() -> None:
    rec = story()
    rec.empty_at = None
    rec.status = [(0.0, "OL")]
    rec.shutdowns = {n: [] for n in rec.nodes}
    rec.notifies = {n: [] for n in rec.nodes}
    rec.flag_seen = None
    rec.probe = []
    rec.down["upsd"] = [(5.0, 24.0)]
    assert names(rec).count("notify-missing") == 3
    for n in rec.nodes:
        rec.notifies[n] = [(6.0, "COMMBAD"), (24.5, "COMMOK")]
    assert check(rec) == []


def test_intervals() -> None:
    assert union([(3, 4), (1, 2), (1.5, 3.5)]) == [(1, 4)]
    assert overlaps([(1, 2)], 1.5, 5) and not overlaps([(1, 2)], 2, 3)
