"""The simulated UPS's physics, driven by an explicit clock (no processes)."""

from __future__ import annotations

from pnut.driver.drivers.simmodel import (
    TEST_RESULT_PASSED,
    TEST_RESULT_RUNNING,
    SimModel,
    SimSettings,
)


def _run(model: SimModel, seconds: float, step: float = 0.5) -> None:
    t = 0.0
    while t < seconds:
        model.advance(step)
        t += step


def _until(model: SimModel, cond: object, limit: float, step: float = 0.25) -> float:
    """Advance until ``cond(model)``; the simulated seconds that took."""
    assert callable(cond)
    t = 0.0
    while not cond(model):
        assert t < limit, f"not reached after {limit}s: {model.status_words()} {model.charge}"
        model.advance(step)
        t += step
    return t


def test_outage_drains_to_low_battery_and_recharges() -> None:
    m = SimModel(SimSettings(drain_rate=2.0, charge_rate=1.0, seed=1))
    assert m.status_words() == ["OL"]
    m.test_failure_start()
    assert m.status_words() == ["OB", "DISCHRG"]
    _run(m, 10)
    assert 70 < m.charge < 90 and "LB" not in m.status_words()
    took = _until(m, lambda m: "LB" in m.status_words(), 60)
    assert 20 < took < 60
    assert m.charge <= m.charge_low or m.runtime <= m.runtime_low
    assert m.charge > 0 and m.status_words() == ["OB", "DISCHRG", "LB"]
    assert m.readings()["input.voltage"] == "0.0"
    m.test_failure_stop()
    assert m.status_words() == ["OL", "CHRG"]
    before = m.charge
    _run(m, 5)
    assert m.charge > before
    _run(m, 200)
    assert m.charge == 100.0 and m.status_words() == ["OL"]


def test_runtime_follows_charge_and_load() -> None:
    m = SimModel(SimSettings(drain_rate=1.0, base_load=30.0, seed=2))
    m.load = 30.0
    assert m.runtime == 100
    m.load = 60.0
    assert m.runtime == 50
    m.charge = 50.0
    m.load = 30.0
    assert m.runtime == 50


def test_readings_wander_but_stay_plausible() -> None:
    m = SimModel(SimSettings(seed=3))
    seen = set()
    for _ in range(50):
        m.advance(1.0)
        r = m.readings()
        seen.add(r["input.voltage"])
        assert 224.0 <= float(r["input.voltage"]) <= 236.0
        assert 49.8 <= float(r["input.frequency"]) <= 50.2
        assert 20 <= int(r["ups.load"]) <= 40
    assert len(seen) > 10


def test_empty_battery_cuts_output_then_mains_returns_and_ups_restarts() -> None:
    m = SimModel(SimSettings(drain_rate=10.0, restore_after=3.0, seed=4))
    m.delay_start = 2
    m.test_failure_start()
    _until(m, lambda m: not m.output_on, 20)
    assert m.charge == 0 and m.status_words() == ["OB", "OFF", "LB"]
    off_for = _until(m, lambda m: m.mains, 10)
    assert 2.5 <= off_for <= 3.25
    assert not m.output_on and m.readings()["ups.timer.start"] == "2"
    waited = _until(m, lambda m: m.output_on, 10)
    assert 1.75 <= waited <= 2.25
    assert m.status_words() == ["OL", "CHRG"]


def test_shutdown_return_on_battery_powers_off_after_delay() -> None:
    m = SimModel(SimSettings(drain_rate=0.5, restore_after=1.0, seed=5))
    m.delay_shutdown, m.delay_start = 4, 1
    m.test_failure_start()
    m.shutdown("return")
    assert m.readings()["ups.timer.shutdown"] == "4"
    _run(m, 3)
    assert m.output_on
    _run(m, 1.5)
    assert not m.output_on and m.readings()["ups.timer.shutdown"] == "-1"
    _run(m, 3)
    assert m.mains and m.output_on


def test_stayoff_waits_for_load_on() -> None:
    m = SimModel(SimSettings(seed=6))
    m.delay_shutdown = 1
    m.shutdown("stayoff")
    _run(m, 30)
    assert not m.output_on
    m.load_on()
    assert m.output_on


def test_battery_test_and_calibration() -> None:
    m = SimModel(SimSettings(test_duration=2.0, drain_rate=5.0, seed=7))
    assert m.test_battery_start()
    assert m.readings()["ups.test.result"] == TEST_RESULT_RUNNING
    _run(m, 2.5)
    assert m.readings()["ups.test.result"] == TEST_RESULT_PASSED
    assert m.calibrate_start()
    assert m.status_words() == ["OL", "CAL", "DISCHRG"]
    _run(m, 20)
    assert not m.calibrating and m.charge <= 30
    m.test_failure_start()
    assert not m.test_battery_start()  # no self-test on battery
