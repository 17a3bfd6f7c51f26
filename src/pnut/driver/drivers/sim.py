"""``sim``: a simulated 1500 VA line-interactive UPS that behaves like one.

How this works
--------------
The physics is :class:`~.simmodel.SimModel`; this module publishes it in
NUT's names and maps instant commands and SETs onto it.  Every poll the
model moves forward by the wall time since the last poll times
``timescale``, readings wander a little, and ``ups.status`` follows the
battery: ``test.failure.start`` → ``OB DISCHRG``, ``LB`` once
``battery.charge`` ≤ ``battery.charge.low`` (or runtime ≤
``battery.runtime.low``), ``test.failure.stop`` (or mains coming back
after the output was cut) → ``OL CHRG`` until full.

Settable variables cover every type upsd knows: STRING:n (``ups.id``,
``device.location``, ``battery.date``), ENUM (``input.sensitivity``), RANGE
(``input.transfer.low``/``.high``) and NUMBER (``battery.charge.low``,
``battery.runtime.low``, ``ups.delay.*``); a value that does not fit is
refused with INVALID.  ``default.*`` and ``override.*`` from ups.conf set
the starting values.

``devicefile`` names a file that stands for the cable: while it is missing
the simulated UPS is unplugged (polls raise DeviceGone, so the framework's
stale/reconnect path runs, as for a real device).

``-k`` (kill power) asks the running instance, over its socket, to run
``sdcommands`` (default ``shutdown.return``) — the simulated UPS has no
device a second process could talk to.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from typing import ClassVar

from pnut.driver.base import DeviceGone, Driver, DriverConfig, DriverError, VarSpec
from pnut.driver.drivers.simmodel import (
    BATTERY_NOMINAL_VOLTAGE,
    NOMINAL_FREQUENCY,
    NOMINAL_POWER,
    NOMINAL_REALPOWER,
    NOMINAL_VOLTAGE,
    SimModel,
    SimSettings,
)
from pnut.driver.dstate import DriverState
from pnut.driver.sockproto import Stat
from pnut.protocol.tokens import Tokenizer, quote_word

log = logging.getLogger("pnut.driver")

#: Commands the simulator implements.
COMMANDS = (
    "beeper.disable", "beeper.enable", "beeper.mute", "calibrate.start", "calibrate.stop",
    "load.off", "load.off.delay", "load.on", "load.on.delay", "shutdown.return",
    "shutdown.reboot", "shutdown.stayoff", "shutdown.stop", "test.battery.start",
    "test.battery.start.deep", "test.battery.start.quick", "test.battery.stop",
    "test.failure.start", "test.failure.stop", "test.panel.start", "test.panel.stop",
)
#: Bounds of the NUMBER variables without a RANGE.
NUMBER_LIMITS: dict[str, tuple[int, int]] = {
    "battery.charge.low": (0, 100),
    "battery.runtime.low": (0, 86400),
    "ups.delay.shutdown": (0, 86400),
    "ups.delay.start": (0, 86400),
}
#: Seconds -k waits for the running instance's answer.
KILLPOWER_WAIT = 5.0


class SimDriver(Driver):
    name: ClassVar[str] = "sim"
    version: ClassVar[str] = "0.1"
    description: ClassVar[str] = "Simulated UPS"
    vartab: ClassVar[tuple[VarSpec, ...]] = (
        VarSpec("drain_rate", "Battery drain on battery, % per second at the base load"),
        VarSpec("charge_rate", "Battery charge on mains, % per second"),
        VarSpec("load", "Base output load, % (the load wanders around it)"),
        VarSpec("timescale", "Simulated seconds per wall-clock second"),
        VarSpec("test_duration", "Seconds a battery self-test takes"),
        VarSpec("restore_after", "Seconds until mains returns after the output was cut "
                                 "during an outage (negative: never)"),
        VarSpec("seed", "Seed for the random wander of the readings"),
        VarSpec("serial", "Serial number to report"),
        VarSpec("devicefile", "A file standing for the device: while it is missing, "
                              "the UPS is unplugged"),
    )

    def __init__(self, config: DriverConfig, dstate: DriverState) -> None:
        super().__init__(config, dstate)
        self.timescale = 1.0
        self.model = SimModel()
        self.clock: Callable[[], float] = time.monotonic
        self._last = 0.0

    # -- settings --------------------------------------------------------------
    def _settings(self, config: DriverConfig) -> SimSettings:
        seed = config.get_int("seed", 0) if config.get("seed") is not None else None
        return SimSettings(
            drain_rate=config.get_float("drain_rate", 1.0, 0.0001, 100.0),
            charge_rate=config.get_float("charge_rate", 0.5, 0.0001, 100.0),
            base_load=config.get_float("load", 30.0, 0.0, 100.0),
            test_duration=config.get_float("test_duration", 10.0, 0.0, 3600.0),
            restore_after=config.get_float("restore_after", 5.0, -1.0, 86400.0),
            seed=seed,
        )

    def _check_plugged(self) -> None:
        path = self.config.get("devicefile")
        if path is not None and not os.path.exists(self.config.resolve_file(path)):
            raise DeviceGone(f"{path} is missing (unplugged)")

    async def reconnect(self) -> None:
        """The model keeps running while unplugged; only the "cable" must be back."""
        self._check_plugged()

    async def init_ups(self) -> None:
        try:
            self._check_plugged()
        except DeviceGone as exc:
            raise DriverError(str(exc)) from None
        self.model = SimModel(self._settings(self.config))
        self.timescale = self.config.get_float("timescale", 1.0, 0.001, 10000.0)

    async def reload(self, config: DriverConfig) -> None:
        settings = self._settings(config)
        settings.seed = self.model.settings.seed
        self.model.settings = settings
        self.timescale = config.get_float("timescale", 1.0, 0.001, 10000.0)
        self.config = config

    # -- publishing -------------------------------------------------------------
    def _initial(self, name: str, fallback: str) -> str:
        """A ``default.``/``override.`` value from ups.conf, else ``fallback``."""
        value = self.dstate.value(name)
        return fallback if value is None else value

    def _initial_number(self, name: str, fallback: int) -> int:
        raw = self._initial(name, str(fallback))
        try:
            return int(float(raw))
        except ValueError:
            log.warning("%s: %r is not a number; using %d", name, raw, fallback)
            return fallback

    async def init_info(self) -> None:
        ds, m = self.dstate, self.model
        serial = self.config.get("serial") or "PNUT00001"
        fixed = {
            "device.mfr": "pnut", "device.model": "Sim 1500", "device.serial": serial,
            "ups.mfr": "pnut", "ups.model": "Sim 1500", "ups.serial": serial,
            "ups.firmware": "sim-1.0", "ups.mfr.date": "2024/01/15", "ups.type":
            "line-interactive", "battery.type": "PbAc", "battery.mfr.date": "2024/01/15",
            "battery.voltage.nominal": f"{BATTERY_NOMINAL_VOLTAGE:.1f}",
            "input.voltage.nominal": str(int(NOMINAL_VOLTAGE)),
            "input.frequency.nominal": str(int(NOMINAL_FREQUENCY)),
            "output.voltage.nominal": str(int(NOMINAL_VOLTAGE)),
            "output.frequency.nominal": str(int(NOMINAL_FREQUENCY)),
            "ups.power.nominal": str(NOMINAL_POWER),
            "ups.realpower.nominal": str(NOMINAL_REALPOWER),
        }
        for name, value in fixed.items():
            ds.set_info(name, self._initial(name, value))
        ds.declare_string("ups.id", self._initial("ups.id", self.config.upsname[:8]), 8)
        ds.declare_string("device.location", self._initial("device.location", "Server room"), 32)
        ds.declare_string("battery.date", self._initial("battery.date", "2024/01/15"), 10)
        ds.declare_enum("input.sensitivity", self._initial("input.sensitivity", "medium"),
                        ["high", "medium", "low"], 6)
        ds.declare_range("input.transfer.low", self._initial("input.transfer.low", "170"),
                         [(160, 180)])
        ds.declare_range("input.transfer.high", self._initial("input.transfer.high", "280"),
                         [(253, 265), (266, 290)])
        m.charge_low = self._initial_number("battery.charge.low", 10)
        # By default the runtime limit is the time 5 % of charge lasts, so that
        # battery.charge.low (10 %) is what raises LB unless it is lowered.
        m.runtime_low = self._initial_number(
            "battery.runtime.low", max(1, round(5.0 / m.settings.drain_rate)))
        m.delay_shutdown = self._initial_number("ups.delay.shutdown", 20)
        m.delay_start = self._initial_number("ups.delay.start", 30)
        ds.declare_number("battery.charge.low", str(int(m.charge_low)))
        ds.declare_number("battery.runtime.low", str(int(m.runtime_low)))
        ds.declare_number("ups.delay.shutdown", str(m.delay_shutdown))
        ds.declare_number("ups.delay.start", str(m.delay_start))
        for cmd in COMMANDS:
            ds.add_cmd(cmd)
        self._last = self.clock()
        self._publish()
        ds.data_ok()

    def _publish(self) -> None:
        ds, m = self.dstate, self.model
        for name, value in m.readings().items():
            ds.set_info(name, value)
        if m.transfer_reason:
            ds.set_info("input.transfer.reason", m.transfer_reason)
        ds.status_init()
        for word in m.status_words():
            ds.status_set(word)
        ds.status_commit()

    async def update_info(self) -> None:
        self._check_plugged()
        now = self.clock()
        self.model.advance((now - self._last) * self.timescale)
        self._last = now
        self._publish()
        self.dstate.data_ok()

    def wake_at(self) -> float | None:
        left = self.model.next_event()
        if left is None:
            return None
        return self._last + max(left, 0.0) / self.timescale + 0.01

    # -- instant commands --------------------------------------------------------
    async def instcmd(self, name: str, param: str | None) -> int:
        cmd = name.lower()
        if cmd not in COMMANDS:
            log.info("instcmd: unknown command [%s]", name)
            return Stat.UNKNOWN
        await self.update_info()  # bring the model to "now" first
        m = self.model
        delay: float = 0.0
        if cmd in ("load.off.delay", "load.on.delay"):
            try:
                delay = float(param) if param is not None else float(m.delay_shutdown)
            except ValueError:
                return Stat.INVALID
            if not 0 <= delay <= 86400 or math.isnan(delay):
                return Stat.INVALID
        actions: dict[str, Callable[[], bool]] = {
            "test.failure.start": m.test_failure_start,
            "test.failure.stop": m.test_failure_stop,
            "test.battery.start": m.test_battery_start,
            "test.battery.start.quick": lambda: m.test_battery_start(m.settings.test_duration / 2),
            "test.battery.start.deep": lambda: m.test_battery_start(m.settings.test_duration * 3),
            "test.battery.stop": m.test_battery_stop,
            "test.panel.start": lambda: True,
            "test.panel.stop": lambda: True,
            "calibrate.start": m.calibrate_start,
            "calibrate.stop": m.calibrate_stop,
            "beeper.enable": lambda: self._beeper("enabled"),
            "beeper.disable": lambda: self._beeper("disabled"),
            "beeper.mute": lambda: self._beeper("muted"),
            "load.off": m.load_off,
            "load.on": m.load_on,
            "load.off.delay": lambda: m.load_off(delay or 0.001),
            "load.on.delay": lambda: m.load_on(delay or 0.001),
            "shutdown.return": lambda: m.shutdown("return"),
            "shutdown.stayoff": lambda: m.shutdown("stayoff"),
            "shutdown.reboot": lambda: m.shutdown("reboot"),
            "shutdown.stop": m.shutdown_stop,
        }
        ok = actions[cmd]()
        log.info("instcmd: %s%s %s", name, f" {param}" if param else "",
                 "done" if ok else "refused")
        self._publish()
        return Stat.HANDLED if ok else Stat.FAILED

    def _beeper(self, state: str) -> bool:
        self.model.beeper = state
        return True

    # -- SET ------------------------------------------------------------------------
    async def setvar(self, name: str, value: str) -> int:
        var = self.dstate.get(name)
        if var is None:
            log.info("setvar: unknown variable [%s]", name)
            return Stat.UNKNOWN
        if not var.writable:
            log.info("setvar: %s is read-only", name)
            return Stat.INVALID
        problem = self._check(name.lower(), value)
        if problem:
            log.info("setvar: %s = %r refused: %s", name, value, problem)
            return Stat.INVALID
        if name.lower() in NUMBER_LIMITS:
            value = str(int(float(value)))
            self._apply_number(name.lower(), int(value))
        self.dstate.set_info(var.name, value)
        self._publish()
        return Stat.HANDLED

    def _check(self, key: str, value: str) -> str | None:
        var = self.dstate.get(key)
        assert var is not None
        if var.enums:
            return None if value in var.enums else f"not one of {', '.join(var.enums)}"
        if var.ranges:
            try:
                number = int(value)
            except ValueError:
                return "not a whole number"
            if any(lo <= number <= hi for lo, hi in var.ranges):
                return None
            return "outside " + ", ".join(f"{lo}..{hi}" for lo, hi in var.ranges)
        if var.is_string:
            return None if len(value) <= var.aux else f"longer than {var.aux} characters"
        low, high = NUMBER_LIMITS.get(key, (-(10**9), 10**9))
        try:
            number_f = float(value)
        except ValueError:
            return "not a number"
        if math.isnan(number_f) or number_f != int(number_f) or not low <= number_f <= high:
            return f"not a whole number in {low}..{high}"
        return None

    def _apply_number(self, key: str, number: int) -> None:
        m = self.model
        if key == "battery.charge.low":
            m.charge_low = number
        elif key == "battery.runtime.low":
            m.runtime_low = number
        elif key == "ups.delay.shutdown":
            m.delay_shutdown = number
        elif key == "ups.delay.start":
            m.delay_start = number

    # -- kill power (-k) -------------------------------------------------------------
    async def shutdown(self) -> None:
        path = self.config.statepath / f"{self.config.progname}-{self.config.upsname}"
        commands = [c.strip() for c in (self.config.get("sdcommands") or "shutdown.return")
                    .split(",") if c.strip()]
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(path)), KILLPOWER_WAIT)
        except (TimeoutError, OSError) as exc:
            raise DriverError(f"no running sim driver for [{self.config.upsname}] at {path}: "
                              f"{exc}") from None
        try:
            for cmd in commands:
                result = await _instcmd_over_socket(reader, writer, cmd)
                log.info("kill power: %s -> %d", cmd, result)
                if result == Stat.HANDLED:
                    return
        finally:
            writer.close()
        raise DriverError(f"kill power failed: none of {', '.join(commands)} succeeded")


async def _instcmd_over_socket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               cmd: str) -> int:
    ident = f"k{os.getpid()}{cmd}"
    writer.write(f"NOBROADCAST\nINSTCMD {quote_word(cmd)} TRACKING {ident}\n".encode())
    await writer.drain()
    tok = Tokenizer()
    deadline = time.monotonic() + KILLPOWER_WAIT
    while (left := deadline - time.monotonic()) > 0:
        data = await asyncio.wait_for(reader.read(4096), left)
        if not data:
            break
        for line in tok.feed(data):
            w = line.words
            if len(w) == 3 and w[0].upper() == "TRACKING" and w[1] == ident and w[2].isdigit():
                return int(w[2])
    raise DriverError(f"no answer to {cmd} from the running driver")
