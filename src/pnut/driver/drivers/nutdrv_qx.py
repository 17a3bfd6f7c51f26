"""``nutdrv_qx`` (and its aliases ``blazer_ser``, ``blazer_usb``): Q* UPSes.

How this works
--------------
``init_ups`` opens the transport (the serial port named by ``port``; USB
when ``port = auto`` or a USB matching setting is given) and finds the
dialect as NUT does (:func:`~pnut.driver.qx.engine.detect`, NUT's order, or
only ``protocol =``); the engine (:mod:`pnut.driver.qx.engine`) does the
rest.  A poll that gets no valid status reply is tried once more at once;
if that fails too the device counts as gone (DeviceGone): the framework
marks the data stale and reconnects, reopening the port.  NUT instead
keeps the old data "fresh" for four failed polls and never reopens the
port (docs/compat.md).
"""

from __future__ import annotations

import logging
from typing import ClassVar

from pnut.driver.base import DeviceGone, Driver, DriverConfig, DriverError, VarSpec
from pnut.driver.dstate import DriverState
from pnut.driver.qx import DIALECTS
from pnut.driver.qx.engine import DEFAULT_OFFDELAY, DEFAULT_ONDELAY, Dialect, QxEngine, detect
from pnut.driver.qx.transport import CABLEPOWER, QxTransport, SerialTransport
from pnut.driver.qx.voltronic import SETTINGS as VOLTRONIC_SETTINGS
from pnut.driver.sockproto import Stat

log = logging.getLogger("pnut.driver")

#: Settings that make nutdrv_qx talk USB instead of serial (NUT's list).
USB_KEYS = ("subdriver", "vendorid", "productid", "vendor", "product", "serial", "bus",
            "langid_fix")


class NutdrvQx(Driver):
    name: ClassVar[str] = "nutdrv_qx"
    version: ClassVar[str] = "0.32"
    description: ClassVar[str] = "Generic Q* USB/Serial driver"
    vartab: ClassVar[tuple[VarSpec, ...]] = (
        VarSpec("ondelay", f"Set startup delay, in seconds (default={DEFAULT_ONDELAY})"),
        VarSpec("offdelay", f"Set shutdown delay, in seconds (default={DEFAULT_OFFDELAY})"),
        VarSpec("stayoff", "If invoked the UPS won't return after a shutdown when FSD arises",
                flag=True),
        VarSpec("pollfreq", "Set polling frequency, in seconds, to reduce data flow "
                            "(default=30)"),
        VarSpec("protocol", "Preselect communication protocol (skip autodetection)"),
        VarSpec("runtimecal", "Parameters used for runtime calculation"),
        VarSpec("chargetime", "Nominal charge time for UPS battery"),
        VarSpec("idleload", "Minimum load to be used for runtime calculation"),
        VarSpec("cablepower", "Set cable power for serial interface"),
        VarSpec("norating", "Skip reading rating information from UPS", flag=True),
        VarSpec("novendor", "Skip reading vendor information from UPS", flag=True),
        VarSpec("ignoresab", "Ignore 'Shutdown Active' bit in UPS status", flag=True),
        VarSpec("pins_shutdown_mode", "Set shutdown mode functionality of Pin 1 and Pin 7 "
                                      "on the UPS DB9 communication port (Per Best Power's "
                                      "EPS-0059) to n (integer, 0-6)"),
        *(VarSpec(key, "USB matching / subdriver (Q1 over USB)") for key in USB_KEYS),
        VarSpec("noscanlangid", "Don't autoscan valid range for langid", flag=True),
        *(VarSpec(key, text, flag=flag) for key, text, flag in VOLTRONIC_SETTINGS),
    )

    def __init__(self, config: DriverConfig, dstate: DriverState) -> None:
        super().__init__(config, dstate)
        self.transport: QxTransport | None = None
        self._engine: QxEngine | None = None

    @property
    def engine(self) -> QxEngine:
        if self._engine is None:
            raise DeviceGone("no device")
        return self._engine

    def uses_usb(self) -> bool:
        c = self.config
        return c.port.lower() == "auto" or any(c.get(k) is not None for k in USB_KEYS)

    def make_transport(self) -> QxTransport:
        """Serial by default; Q1 over USB comes from pnut.driver.qx.usb when present."""
        if self.uses_usb():
            try:
                from pnut.driver.qx import usb  # type: ignore[attr-defined, unused-ignore]
            except ImportError:
                raise DriverError("Q1 over USB is not available in this pnut "
                                  "(use a serial port as 'port')") from None
            transport: QxTransport = usb.make_transport(self.config)
            return transport
        power = (self.config.get("cablepower") or "normal").lower()
        if power not in CABLEPOWER:
            raise self.config.error("cablepower", f"Value '{power}' not valid for 'cablepower'")
        return SerialTransport(self.config.port, cablepower=power,
                               exclusive="nolock" not in self.config.flags)

    async def init_ups(self) -> None:
        protocol = self.config.get("protocol")
        if protocol is not None and not any(d.protocol.lower() == protocol.lower()
                                            for d in DIALECTS):
            known = ", ".join(d.protocol for d in DIALECTS)
            raise self.config.error("protocol", f"unknown protocol {protocol!r} "
                                                f"(pnut knows: {known})")
        self.transport = self.make_transport()
        await self.transport.open()
        transport = self.transport
        # A USB transport names the device (ups.vendorid/productid), as NUT does.
        for name, value in getattr(transport, "published", {}).items():
            self.dstate.set_info(name, value)
        flags = frozenset(self.config.flags)

        def make(dialect: Dialect) -> QxEngine:
            return QxEngine(dialect, transport, self.dstate, self.config.values, flags)

        engine = await detect(DIALECTS, protocol, make)
        if engine is None:
            raise DriverError("Device not supported!")
        if engine.dialect.initups is not None:
            engine.dialect.initups(engine)
        self._engine = engine

    async def init_info(self) -> None:
        await self.engine.init_info()

    async def update_info(self) -> None:
        engine = self.engine
        if await engine.update() or await engine.update():
            return
        raise DeviceGone("no valid status reply from the UPS")

    async def reconnect(self) -> None:
        if self.transport is None:
            raise DeviceGone("no transport")
        self.transport.close()
        await self.transport.open()
        self.engine.data_has_changed = True  # a full update brings every value back

    async def instcmd(self, name: str, param: str | None) -> int:
        return await self.engine.instcmd(name, param)

    async def setvar(self, name: str, value: str) -> int:
        return await self.engine.setvar(name, value)

    async def shutdown(self) -> None:
        await self.engine.shutdown("stayoff" in self.config.flags)

    async def cleanup(self) -> None:
        if self.transport is not None:
            self.transport.close()


class BlazerSer(NutdrvQx):
    """NUT's older Megatec serial driver name, served by the nutdrv_qx engine.

    NUT's blazer drivers publish the vendor line as ``ups.mfr``/``ups.model``
    as well, and their delays (``ondelay``/``offdelay`` in ups.conf) cannot be
    SET; so do these, which makes their variables equal to C blazer_ser's on
    a Megatec UPS.
    """

    name: ClassVar[str] = "blazer_ser"
    version: ClassVar[str] = "1.58"
    description: ClassVar[str] = "Megatec/Q1 protocol serial driver"

    async def init_info(self) -> None:
        await super().init_info()
        ds = self.dstate
        for leaf in ("mfr", "model"):
            value = ds.value(f"device.{leaf}")
            if value is not None:
                ds.set_info(f"ups.{leaf}", value)
        for name in ("ups.delay.start", "ups.delay.shutdown"):
            var = ds.get(name)
            if var is not None:
                for low, high in list(var.ranges):
                    ds.del_range(name, low, high)
                ds.set_flags(name, set())

    async def setvar(self, name: str, value: str) -> int:
        log.info("setvar: %s: the blazer drivers have no settable variables", name)
        return Stat.UNKNOWN


class BlazerUsb(BlazerSer):
    """NUT's older Megatec USB driver name, served by the nutdrv_qx engine."""

    name: ClassVar[str] = "blazer_usb"
    version: ClassVar[str] = "0.14"
    description: ClassVar[str] = "Megatec/Q1 protocol USB driver"

    def uses_usb(self) -> bool:
        return True
