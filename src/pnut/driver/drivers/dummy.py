"""``dummy-ups``: a UPS played from a file, or repeated from another upsd.

How this works
--------------
The mode comes from ups.conf as in NUT 2.8.0: ``mode = dummy-once``,
``dummy-loop`` (or legacy ``dummy``) or ``repeater``; without ``mode``, a
``port`` containing ``@`` means repeater, ``*.seq`` loop, ``*.dev`` once,
anything else loop (published as ``dummy``).

File modes read the whole file up front (:mod:`.devfile` refuses a bad line
with ``file:line``) and then walk it with a :class:`~.devfile.Sequence`:

* ``dummy-loop`` — apply lines up to the next ``TIMER``, pause that long,
  go on; at the end of the file start again from the top, with the file's
  new contents if it changed (values SET by a client are overwritten on the
  next pass, as in NUT);
* ``dummy-once`` — the same walk once; afterwards the file is read again
  only when its modification time or size changes (SET values persist).

Every value goes through NUT's dummy-ups ``setvar``: ``ups.status`` through
the status builder, an empty value deletes the variable, anything else is
set with the flags of NUT's table (RW, STRING with a length) or RW STRING
length 32 for names the table does not know.  Instant commands are not
simulated: ``load.off`` is listed and every command answers UNKNOWN, as in
NUT.  Where NUT sleeps a second per poll and checks TIMERs only then, pnut
wakes exactly when a TIMER runs out.

Repeater mode lives in :mod:`.repeater`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import ClassVar

from pnut.config.parser import ConfigError
from pnut.driver.base import Driver, DriverConfig, DriverError, VarSpec
from pnut.driver.drivers.devfile import Alarm, Assign, Sequence, Step, check_dev
from pnut.driver.drivers.repeater import Repeater
from pnut.driver.dstate import DriverState
from pnut.driver.sockproto import Stat
from pnut.driver.state import FLAG_RW, FLAG_STRING

log = logging.getLogger("pnut.driver")

MODE_ONCE = "dummy-once"
MODE_LOOP = "dummy-loop"
MODE_REPEATER = "repeater"
#: Accepted ``mode =`` values and the mode each selects.
MODES = {"dummy-once": MODE_ONCE, "dummy-loop": MODE_LOOP, "dummy": MODE_LOOP,
         "repeater": MODE_REPEATER}

#: NUT's dummy-ups table: variable -> (is a string, length).  Numbers are RW only.
KNOWN_VARS: dict[str, tuple[bool, int]] = {
    "ups.mfr": (True, 32), "ups.model": (True, 32), "ups.status": (True, 32),
    "ups.serial": (True, 32), "ups.load": (False, 0), "ups.alarm": (True, 32),
    "ups.time": (True, 16), "ups.date": (True, 16), "ups.mfr.date": (True, 16),
    "ups.firmware": (True, 16), "ups.firmware.aux": (True, 16),
    "ups.temperature": (False, 0), "ups.id": (True, 16), "ups.delay.start": (False, 0),
    "ups.delay.reboot": (False, 0), "ups.delay.shutdown": (False, 0),
    "ups.test.interval": (False, 0), "ups.test.result": (True, 16),
    "input.voltage": (False, 0), "input.voltage.maximum": (False, 0),
    "input.voltage.minimum": (False, 0), "input.voltage.nominal": (False, 0),
    "input.transfer.reason": (True, 1), "input.transfer.low": (False, 0),
    "input.transfer.high": (False, 0), "input.sensitivity": (True, 1),
    "input.quality": (True, 6), "input.frequency": (False, 0),
    "input.transfer.boost.low": (False, 0), "input.transfer.boost.high": (False, 0),
    "input.transfer.trim.low": (False, 0), "input.transfer.trim.high": (False, 0),
    "output.voltage": (False, 0), "output.frequency": (False, 0), "output.current": (False, 0),
    "battery.charge": (False, 0), "battery.charge.low": (False, 0),
    "battery.voltage": (False, 0), "battery.current": (False, 0),
    "battery.runtime": (False, 0), "battery.runtime.low": (False, 0),
    "battery.charge.restart": (False, 0), "battery.temperature": (False, 0),
    "battery.voltage.nominal": (False, 0), "ambient.temperature": (False, 0),
    "ambient.temperature.alarm": (False, 0), "ambient.temperature.high": (False, 0),
    "ambient.temperature.low": (False, 0), "ambient.humidity": (False, 0),
    "ambient.humidity.alarm": (False, 0), "ambient.humidity.high": (False, 0),
    "ambient.humidity.low": (False, 0),
}
#: Variables published before the file is read.
INITIAL_VARS = (("ups.mfr", "Dummy Manufacturer"), ("ups.model", "Dummy UPS"),
                ("ups.status", "OL"))
DEFAULT_STRING_LEN = 32


def choose_mode(config: DriverConfig) -> tuple[str, str]:
    """(mode, value published as driver.parameter.mode)."""
    raw = config.get("mode")
    port = config.port
    if raw is not None:
        mode = MODES.get(raw)
        if mode is None:
            raise config.error("mode", f"unknown mode {raw!r} (use dummy-once, dummy-loop or "
                                       "repeater)")
        return mode, (MODE_LOOP if raw == "dummy" else raw)
    if "@" in port:
        return MODE_REPEATER, MODE_REPEATER
    if port.endswith(".seq"):
        return MODE_LOOP, MODE_LOOP
    if port.endswith(".dev"):
        return MODE_ONCE, MODE_ONCE
    return MODE_LOOP, "dummy"


def dummy_setvar(ds: DriverState, name: str, value: str) -> int:
    """NUT dummy-ups's setvar, used for file lines, SETs and repeated values."""
    if name.lower() == "ups.status":
        ds.status_init()
        ds.status_set(value)
        ds.status_commit()
        return Stat.HANDLED
    if value == "":
        ds.del_info(name)
        return Stat.HANDLED
    ds.set_info(name, value)
    string, length = KNOWN_VARS.get(name.lower(), (True, DEFAULT_STRING_LEN))
    if string:
        ds.set_flags(name, {FLAG_RW, FLAG_STRING})
        ds.set_aux(name, length)
    else:
        ds.set_flags(name, {FLAG_RW})
    return Stat.HANDLED


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class DummyUps(Driver):
    name: ClassVar[str] = "dummy-ups"
    version: ClassVar[str] = "0.15"
    description: ClassVar[str] = "Device simulation and repeater driver"
    #: Identical to NUT 2.8.0's dummy-ups, which has no driver.state.
    publish_state: ClassVar[bool] = False
    vartab: ClassVar[tuple[VarSpec, ...]] = (
        VarSpec("mode", "Specify mode instead of guessing it from port value "
                        "(dummy = dummy-loop, dummy-once, repeater)"),
        VarSpec("repeater_disable_strict_start",
                "Do not fail at start-up if the repeated upsd is unreachable", flag=True),
        VarSpec("username", "Repeater: user for forwarding SET and INSTCMD to the remote upsd"),
        VarSpec("password", "Repeater: password of that user", sensitive=True),
        VarSpec("tls", "Repeater: STARTTLS to the remote upsd: try (default), require, off"),
        VarSpec("cafile", "Repeater: CA to verify the remote upsd's certificate with"),
        VarSpec("certpin", "Repeater: SHA-256 fingerprint the remote certificate must have"),
        VarSpec("certfile", "Repeater: client certificate (PEM with key) for the remote upsd"),
    )

    def __init__(self, config: DriverConfig, dstate: DriverState) -> None:
        super().__init__(config, dstate)
        self.mode = MODE_ONCE
        self.path = Path()
        self.seq = Sequence([])
        self.finished = False
        self.stamp: tuple[int, int] | None = None
        self.uses_alarms = False
        self.repeater: Repeater | None = None
        self.clock = time.monotonic

    # -- set-up ----------------------------------------------------------------
    async def init_ups(self) -> None:
        self.mode, published = choose_mode(self.config)
        self.dstate.set_info("driver.parameter.mode", published)
        if self.mode == MODE_REPEATER:
            self.repeater = Repeater(self.config, self.dstate)
            return
        self.path = self.config.resolve_file(self.config.port)
        self.seq = Sequence(self._load())

    def _load(self) -> list[Step]:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise DriverError(
                f"Can't open dummy-ups definition file {self.path}: {exc.strerror or exc}"
            ) from None
        self.stamp = _file_stamp(self.path)
        try:
            steps = check_dev(data, str(self.path))
        except ConfigError as exc:
            raise DriverError(str(exc)) from None
        self.uses_alarms = any(isinstance(s, Alarm) for s in steps)
        return steps

    async def init_info(self) -> None:
        if self.repeater is not None:
            await self.repeater.start()
            return
        for name, value in INITIAL_VARS:
            self.dstate.set_info(name, value)
            self.dstate.set_flags(name, {FLAG_RW, FLAG_STRING})
            self.dstate.set_aux(name, KNOWN_VARS[name][1])
        self._run_file()
        self.dstate.add_cmd("load.off")
        self.dstate.data_ok()

    async def reload(self, config: DriverConfig) -> None:
        old_mode = self.mode
        self.config = config
        mode, published = choose_mode(config)
        if mode == MODE_REPEATER or old_mode == MODE_REPEATER:
            if mode != old_mode:
                log.error("reload: switching to or from repeater mode needs a restart")
            return
        self.mode = mode
        self.dstate.set_info("driver.parameter.mode", published)
        self.path = config.resolve_file(config.port)
        try:
            self.seq.restart(self._load())
        except DriverError as exc:
            log.error("reload: %s (keeping the previous file)", exc)
            return
        self.finished = False

    # -- polling ---------------------------------------------------------------
    async def update_info(self) -> None:
        if self.repeater is not None:
            await self.repeater.update()
            return
        if self.mode == MODE_ONCE and self.finished:
            stamp = _file_stamp(self.path)
            if stamp is None or stamp == self.stamp:
                self.dstate.data_ok()
                return
            log.info("%s changed; reading it again", self.path)
            try:
                self.seq.restart(self._load())
            except DriverError as exc:
                log.error("%s (keeping the values read before)", exc)
                self.stamp = stamp
                return
            self.finished = False
        self._run_file()
        self.dstate.data_ok()

    def _run_file(self) -> None:
        if self.finished:
            return
        if self.mode == MODE_LOOP and self.seq.at_top and self.seq.passes:
            self._reread_if_changed()
        if self.uses_alarms and self.seq.at_top:
            self.dstate.alarm_init()
        steps, pass_done = self.seq.advance(self.clock())
        for step in steps:
            if isinstance(step, Assign):
                if not step.name.lower().startswith("driver."):
                    dummy_setvar(self.dstate, step.name, step.value)
            elif isinstance(step, Alarm):
                if step.text:
                    self.dstate.alarm_set(step.text)
                else:
                    self.dstate.alarm_init()
        if self.uses_alarms and (steps or pass_done):
            self.dstate.alarm_commit()
            status = self.dstate.value("ups.status") or ""
            words = [w for w in status.split() if w != "ALARM"]
            self.dstate.status_init()
            for word in words:
                self.dstate.status_set(word)
            self.dstate.status_commit()
        if pass_done and self.mode == MODE_ONCE:
            self.finished = True

    def _reread_if_changed(self) -> None:
        """NUT opens the file again for every pass of a loop: edits take effect."""
        stamp = _file_stamp(self.path)
        if stamp is None or stamp == self.stamp:
            return
        try:
            steps = self._load()
        except DriverError as exc:
            log.error("%s (playing the previous version)", exc)
            self.stamp = stamp
            return
        self.seq.restart(steps)

    def wake_at(self) -> float | None:
        if self.repeater is not None or self.finished:
            return None
        return self.seq.pause_until

    # -- commands ----------------------------------------------------------------
    async def setvar(self, name: str, value: str) -> int:
        if self.repeater is not None:
            return await self.repeater.forward_set(name, value)
        if name.lower().startswith("driver."):
            log.info("setvar: %s belongs to the driver and cannot be set", name)
            return Stat.INVALID
        return dummy_setvar(self.dstate, name, value)

    async def instcmd(self, name: str, param: str | None) -> int:
        if self.repeater is not None:
            return await self.repeater.forward_instcmd(name, param)
        return await super().instcmd(name, param)

    async def cleanup(self) -> None:
        if self.repeater is not None:
            await self.repeater.close()
