"""``apcsmart``: APC Smart-protocol UPSes on a serial port.

How this works
--------------
``init_ups`` checks the settings as NUT does and opens the port; the
engine (:mod:`pnut.driver.apc.engine`) enters smart mode and finds what the
UPS can do at ``init_info``.  Each poll reads the status and the POLL
variables (all variables once an hour).  A poll that fails is tried once
more at once, then the device counts as gone: the framework marks the data
stale and calls :meth:`ApcSmart.reconnect`, which reopens the port and asks
for smart mode again (NUT retries smart mode every tenth poll on the same
file descriptor).
"""

from __future__ import annotations

import logging
import re
import time
from typing import ClassVar

from pnut.driver.apc.engine import ApcEngine
from pnut.driver.apc.link import TO, ApcLink
from pnut.driver.base import DeviceGone, Driver, DriverConfig, DriverError, VarSpec
from pnut.driver.dstate import DriverState

log = logging.getLogger("pnut.driver")

ALT_CABLE = "940-0095B"
#: Seconds between full reads of every variable (NUT: hourly).
FULL_EVERY = 3600
CHECKS = {
    "awd": r"^[0-9]{1,3}\Z",
    "sdtype": r"^[0-5]\Z",
    "advorder": r"^([0-4]{1,5}|[Nn][Oo])\Z",
    "cshdelay": r"^([0-9]\.?|[0-9]?\.[0-9])\Z",
}


class ApcSmart(Driver):
    name: ClassVar[str] = "apcsmart"
    version: ClassVar[str] = "3.2"
    description: ClassVar[str] = "APC Smart protocol driver"
    vartab: ClassVar[tuple[VarSpec, ...]] = (
        VarSpec("ttymode", "tty discipline selection"),
        VarSpec("cable", "alternate cable (940-0095B) selection"),
        VarSpec("awd", "hard hibernate's additional wakeup delay"),
        VarSpec("sdtype", "simple shutdown method"),
        VarSpec("advorder", "advanced shutdown control"),
        VarSpec("cshdelay", "CS hack delay"),
    )

    def __init__(self, config: DriverConfig, dstate: DriverState) -> None:
        super().__init__(config, dstate)
        cable = (config.get("cable") or "").lower() == ALT_CABLE.lower()
        self.link = ApcLink(config.port, cable_0095b=cable)
        self.engine = ApcEngine(self.link, dstate, config.values)

    async def init_ups(self) -> None:
        for key, pattern in CHECKS.items():
            value = self.config.get(key)
            if value is not None and not re.search(pattern, value):
                raise self.config.error(key, f"invalid value ({value}) for option '{key}'")
        await self.link.open()

    async def init_info(self) -> None:
        if not await self.engine.smartmode(5):
            raise DriverError(f"unable to detect an APC Smart protocol UPS on port "
                              f"{self.config.port}; check the cabling, port name or model "
                              "name and try again")
        if not await self.engine.base_info():
            raise DriverError(f"Problems with communicating APC UPS on port {self.config.port}")
        self.dstate.set_info("ups.mfr", "APC")
        self.dstate.data_ok()

    async def update_info(self) -> None:
        engine = self.engine
        now = time.time()
        full = now - engine.last_full > FULL_EVERY
        if full:
            engine.last_full = now
        if await engine.update(full) or await engine.update(full):
            self.dstate.data_ok()
            return
        raise DeviceGone("no valid reply from the UPS")

    async def reconnect(self) -> None:
        self.link.close()
        await self.link.open()
        if not await self.engine.smartmode(1):
            raise DeviceGone("no answer to smart mode (Y)")
        self.engine.last_full = 0.0

    async def instcmd(self, name: str, param: str | None) -> int:
        return await self.engine.instcmd(name, param)

    async def setvar(self, name: str, value: str) -> int:
        return await self.engine.setvar(name, value)

    async def shutdown(self) -> None:
        await self.engine.shutdown()

    async def cleanup(self) -> None:
        """Leave smart mode (R), as NUT does, then close the port."""
        try:
            await self.link.flush()
            self.link.write("R")
            await self.link.read(TO)
        except OSError:
            pass
        self.link.close()
