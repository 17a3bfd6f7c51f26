"""The physics of pnut's simulated UPS — pure, so tests can drive the clock.

How this works
--------------
:class:`SimModel` is a 1500 VA / 1000 W line-interactive UPS on 230 V / 50 Hz
mains.  :meth:`SimModel.advance` moves it ``dt`` seconds forward: mains
present → the battery charges at ``charge_rate`` %/s; on battery (a
simulated mains failure, ``test.failure.start``) it drains at
``drain_rate`` %/s scaled by the load relative to ``base_load``.  Timers
(delayed shutdown, delayed start, self-test, mains coming back after the
output was cut) run down in the same step.  Readings (input voltage,
frequency, load, temperatures) wander a little on every step, from a
seeded random generator.

Commands are methods named after the instant commands; each returns True
if it applied.  :meth:`status_words` and :meth:`readings` give what the
driver publishes.  Nothing here knows about sockets or NUT's tree.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

NOMINAL_VOLTAGE = 230.0
NOMINAL_FREQUENCY = 50.0
NOMINAL_POWER = 1500
NOMINAL_REALPOWER = 1000
BATTERY_NOMINAL_VOLTAGE = 24.0
#: Calibration runs the battery down to this charge, then stops.
CALIBRATION_FLOOR = 25.0
TEST_RESULT_NONE = "No test initiated"
TEST_RESULT_RUNNING = "In progress"
TEST_RESULT_PASSED = "Done and passed"
TEST_RESULT_ABORTED = "Aborted"


@dataclass
class SimSettings:
    drain_rate: float = 1.0  # %/s on battery at base_load
    charge_rate: float = 0.5  # %/s while charging
    base_load: float = 30.0  # % of nominal power
    test_duration: float = 10.0  # s a battery self-test takes
    #: s after the output was cut during an outage before mains comes back
    #: (so the demo story ends with the UPS back online); negative: never.
    restore_after: float = 5.0
    seed: int | None = None


@dataclass
class SimModel:
    settings: SimSettings = field(default_factory=SimSettings)
    charge: float = 100.0
    load: float = 30.0
    input_voltage: float = NOMINAL_VOLTAGE
    input_frequency: float = NOMINAL_FREQUENCY
    ambient: float = 24.5
    mains: bool = True
    output_on: bool = True
    calibrating: bool = False
    charge_low: float = 10.0
    runtime_low: float = 10.0
    delay_shutdown: int = 20
    delay_start: int = 30
    timer_shutdown: float | None = None
    timer_start: float | None = None
    #: After the pending shutdown: "return" (restart when mains is back),
    #: "stayoff" (wait for load.on) or "reboot" (restart after delay_start).
    shutdown_kind: str = "return"
    stay_off: bool = False
    restore_in: float | None = None
    test_left: float | None = None
    test_result: str = TEST_RESULT_NONE
    beeper: str = "enabled"
    transfer_reason: str = ""
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.settings.seed)
        self.load = self.settings.base_load

    # -- derived values --------------------------------------------------------
    @property
    def on_battery(self) -> bool:
        return self.output_on and (not self.mains or self.calibrating)

    @property
    def drain_per_second(self) -> float:
        scale = max(self.load, 1.0) / max(self.settings.base_load, 1.0)
        return max(self.settings.drain_rate * scale, 1e-6)

    @property
    def runtime(self) -> int:
        """Seconds left at the present load (what battery.runtime says)."""
        return int(self.charge / self.drain_per_second)

    @property
    def low_battery(self) -> bool:
        seconds_left = self.charge / self.drain_per_second
        return self.charge <= self.charge_low or seconds_left <= self.runtime_low

    def status_words(self) -> list[str]:
        words = ["OL" if self.mains else "OB"]
        if not self.output_on:
            words.append("OFF")
        if self.calibrating:
            words.append("CAL")
        if self.on_battery:
            words.append("DISCHRG")
        elif self.mains and self.charge < 100.0:
            words.append("CHRG")
        if self.low_battery and not self.mains:
            words.append("LB")
        return words

    def battery_voltage(self) -> float:
        if self.on_battery:
            return 21.0 + 5.0 * self.charge / 100.0
        return 26.8 + 0.6 * self.charge / 100.0 if self.mains else 21.0 + 5.0 * self.charge / 100.0

    def readings(self) -> dict[str, str]:
        out_v = NOMINAL_VOLTAGE if self.output_on else 0.0
        if self.output_on and self.mains:
            out_v = self.input_voltage
        load = self.load if self.output_on else 0.0
        return {
            "battery.charge": str(math.floor(self.charge + 1e-9)),
            "battery.runtime": str(self.runtime),
            "battery.voltage": f"{self.battery_voltage():.1f}",
            "input.voltage": f"{self.input_voltage if self.mains else 0.0:.1f}",
            "input.frequency": f"{self.input_frequency if self.mains else 0.0:.1f}",
            "output.voltage": f"{out_v:.1f}",
            "output.frequency": f"{NOMINAL_FREQUENCY if self.output_on else 0.0:.1f}",
            "ups.load": str(round(load)),
            "ups.power": str(round(load * NOMINAL_POWER / 100)),
            "ups.realpower": str(round(load * NOMINAL_REALPOWER / 100)),
            "ambient.temperature": f"{self.ambient:.1f}",
            "ups.temperature": f"{self.ambient + 6.0 + load / 20:.1f}",
            "ups.timer.shutdown": str(_timer(self.timer_shutdown)),
            "ups.timer.start": str(_timer(self.timer_start)),
            "ups.test.result": self.test_result,
            "ups.beeper.status": self.beeper,
        }

    # -- time ------------------------------------------------------------------
    def next_event(self) -> float | None:
        """Seconds until the next timer fires (to poll right then)."""
        pending = [t for t in (self.timer_shutdown, self.timer_start, self.restore_in,
                               self.test_left) if t is not None]
        return min(pending) if pending else None

    def advance(self, dt: float) -> None:
        if dt <= 0:
            return
        self._wander()
        if self.on_battery:
            self.charge = max(0.0, self.charge - self.drain_per_second * dt)
            if self.charge <= 0.0:
                self._cut_output()
            elif self.calibrating and self.charge <= CALIBRATION_FLOOR:
                self.calibrating = False
        elif self.mains:
            self.charge = min(100.0, self.charge + self.settings.charge_rate * dt)
        self._run_timers(dt)

    def _wander(self) -> None:
        rng = self.rng
        self.input_voltage = _bounded(self.input_voltage + rng.uniform(-1.2, 1.2),
                                      NOMINAL_VOLTAGE - 6, NOMINAL_VOLTAGE + 6)
        self.input_frequency = _bounded(self.input_frequency + rng.uniform(-0.05, 0.05),
                                        NOMINAL_FREQUENCY - 0.2, NOMINAL_FREQUENCY + 0.2)
        base = self.settings.base_load
        self.load = _bounded(self.load + rng.uniform(-1.5, 1.5), max(0.0, base - 8), base + 8)
        self.ambient = _bounded(self.ambient + rng.uniform(-0.1, 0.1), 22.0, 27.0)

    def _run_timers(self, dt: float) -> None:
        if self.test_left is not None:
            self.test_left -= dt
            if self.test_left <= 0:
                self.test_left = None
                self.test_result = TEST_RESULT_PASSED
        if self.timer_shutdown is not None:
            self.timer_shutdown -= dt
            if self.timer_shutdown <= 0:
                self.timer_shutdown = None
                self._cut_output()
                if self.shutdown_kind == "stayoff":
                    self.stay_off = True
                elif self.shutdown_kind == "reboot" or self.mains:
                    self.timer_start = float(self.delay_start)
        if self.restore_in is not None:
            self.restore_in -= dt
            if self.restore_in <= 0:
                self.restore_in = None
                self.mains_back()
        if self.timer_start is not None and (self.mains or self.shutdown_kind == "reboot"):
            self.timer_start -= dt
            if self.timer_start <= 0:
                self.timer_start = None
                self.output_on = True

    def _cut_output(self) -> None:
        self.output_on = False
        self.calibrating = False
        if not self.mains and self.settings.restore_after >= 0:
            self.restore_in = self.settings.restore_after

    def mains_back(self) -> None:
        self.mains = True
        self.input_voltage = NOMINAL_VOLTAGE
        self.input_frequency = NOMINAL_FREQUENCY
        self.restore_in = None
        if not self.output_on and not self.stay_off and self.timer_shutdown is None \
                and self.timer_start is None:
            self.timer_start = float(self.delay_start)

    # -- instant commands ------------------------------------------------------
    def test_failure_start(self) -> bool:
        if not self.mains:
            return True
        self.mains = False
        self.transfer_reason = "input voltage out of range"
        return True

    def test_failure_stop(self) -> bool:
        if not self.mains:
            self.mains_back()
        return True

    def test_battery_start(self, duration: float | None = None) -> bool:
        if not self.mains or not self.output_on:
            return False
        self.test_left = duration if duration is not None else self.settings.test_duration
        self.test_result = TEST_RESULT_RUNNING
        return True

    def test_battery_stop(self) -> bool:
        if self.test_left is not None:
            self.test_left = None
            self.test_result = TEST_RESULT_ABORTED
        return True

    def calibrate_start(self) -> bool:
        if not self.mains or not self.output_on or self.charge <= CALIBRATION_FLOOR:
            return False
        self.calibrating = True
        return True

    def calibrate_stop(self) -> bool:
        self.calibrating = False
        return True

    def load_off(self, delay: float = 0.0) -> bool:
        if delay > 0:
            self.shutdown_kind = "stayoff"
            self.timer_shutdown = delay
            return True
        self.output_on = False
        self.stay_off = True
        self.timer_shutdown = None
        self.timer_start = None
        return True

    def load_on(self, delay: float = 0.0) -> bool:
        self.stay_off = False
        if delay > 0:
            self.shutdown_kind = "reboot"
            self.timer_start = delay
            return True
        self.output_on = True
        self.timer_start = None
        return True

    def shutdown(self, kind: str) -> bool:
        """shutdown.return / shutdown.stayoff / shutdown.reboot after ups.delay.shutdown."""
        self.shutdown_kind = kind
        self.stay_off = False
        self.timer_shutdown = float(self.delay_shutdown)
        return True

    def shutdown_stop(self) -> bool:
        self.timer_shutdown = None
        return True


def _timer(value: float | None) -> int:
    return -1 if value is None else max(0, math.ceil(value))


def _bounded(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)
