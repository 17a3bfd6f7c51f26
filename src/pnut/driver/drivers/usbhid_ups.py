"""``usbhid-ups``: USB HID Power Device UPSes (APC, CyberPower, Eaton/MGE, ...).

How this works
--------------
``init_ups`` opens the first USB HID device that NUT's matcher accepts
(ups.conf ``vendorid``, ``productid``, ``vendor``, ``product``, ``serial``,
``bus``, ``device``, all regexes) and that a subdriver claims, parses its
report descriptor, applies the subdriver's descriptor fixes and runs the
first walk (:mod:`pnut.driver.usbhid.engine`).  Each poll first waits up to
750 ms for an interrupt report (unless ``pollonly``), applies it, then
re-reads the quick-poll rows — or every row once ``pollfreq`` seconds have
passed or a SET/INSTCMD changed something — and rebuilds ``ups.status``.

A lost device raises DeviceGone; the framework makes the data stale and
calls :meth:`UsbHidUps.reconnect` on its back-off until the same device
(vendor, product, serial) is back.  Instant commands and SETs follow
usbhid-ups.c, including the ``load.off``/``shutdown.return`` fall-backs
built from ``load.off.delay``/``load.on.delay``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import ClassVar

from pnut.driver.base import DeviceGone, Driver, DriverConfig, DriverError, VarSpec
from pnut.driver.dstate import DriverState
from pnut.driver.hid.parser import parse
from pnut.driver.sockproto import Stat
from pnut.driver.usb.transport import MATCH_FIELDS, Matcher, UsbHid, libusb_version, open_hid
from pnut.driver.usbhid import tab_mge
from pnut.driver.usbhid.engine import FULL, INIT, QUICK, HidError, HidUps
from pnut.driver.usbhid.quirks import DeviceQuirks
from pnut.driver.usbhid.subdrivers import HU_ABSENT, HU_CMD, ST_RW, find_subdriver
from pnut.protocol.cnum import atoi

log = logging.getLogger("pnut.driver")

DEFAULT_POLLFREQ = 30
INTERRUPT_TIMEOUT_MS = 750
INTERRUPT_BUFFER = 255


class UsbHidUps(Driver):
    name: ClassVar[str] = "usbhid-ups"
    version: ClassVar[str] = "0.47"
    description: ClassVar[str] = "Generic HID driver"
    vartab: ClassVar[tuple[VarSpec, ...]] = (
        VarSpec("lowbatt", "Set low battery level, in % (default=30)"),
        VarSpec("offdelay", "Set shutdown delay, in seconds (default=20)"),
        VarSpec("ondelay", "Set startup delay, in seconds (default=30)"),
        VarSpec("pollfreq", "Set polling frequency, in seconds, to reduce data flow (default=30)"),
        VarSpec("pollonly", "Don't use interrupt pipe, only use polling", flag=True),
        VarSpec("onlinedischarge", "Set to treat discharging while online as being offline",
                flag=True),
        VarSpec("vendor", "Regular expression to match UPS Manufacturer string"),
        VarSpec("product", "Regular expression to match UPS Product string"),
        VarSpec("serial", "Regular expression to match UPS Serial number"),
        VarSpec("vendorid", "Regular expression to match UPS Manufacturer numerical ID "
                            "(4 digits hexadecimal)"),
        VarSpec("productid", "Regular expression to match UPS Product numerical ID "
                             "(4 digits hexadecimal)"),
        VarSpec("bus", "Regular expression to match USB bus name"),
        VarSpec("device", "Regular expression to match USB device name"),
        VarSpec("subdriver", "Explicit USB HID subdriver selection"),
        VarSpec("explore", "Diagnostic matching of unsupported UPS", flag=True),
        VarSpec("maxreport", "Activate tweak for buggy APC Back-UPS firmware", flag=True),
        VarSpec("interruptonly", "Don't use polling, only use interrupt pipe", flag=True),
        VarSpec("interruptsize", "Number of bytes to read from interrupt pipe"),
        VarSpec("notification", "Set notification type, (ignored, only for backward "
                                "compatibility)"),
    )

    def __init__(self, config: DriverConfig, dstate: DriverState) -> None:
        super().__init__(config, dstate)
        self.usb: UsbHid | None = None
        self.hid: HidUps | None = None
        self.matcher: Matcher | None = None
        self.pollfreq = DEFAULT_POLLFREQ
        self.use_interrupt = True
        self.interrupt_size = 0
        self.lastpoll = 0.0
        self.clock = time.time

    # -- opening -------------------------------------------------------------
    def _make_matcher(self) -> Matcher:
        values = {name: self.config.get(name) for name in MATCH_FIELDS}
        try:
            return Matcher(values)
        except ValueError as exc:
            raise DriverError(str(exc)) from None

    def _open(self) -> bool:
        """Find and open the UPS; False when no matching device is there."""
        assert self.matcher is not None
        cfg = self.config
        chosen: dict[str, HidUps] = {}

        def accept(handle: UsbHid) -> bool:
            info = handle.info
            sub = find_subdriver(info.vendorid, info.productid, cfg.get("productid") is not None,
                                 cfg.get("subdriver"), info.vendor, info.product)
            if sub is None:
                log.debug("%04x:%04x: no subdriver claims it", info.vendorid, info.productid)
                return False
            desc = parse(handle.report_desc)
            if not desc.fields:
                log.debug("%04x:%04x: report descriptor has no fields", info.vendorid,
                          info.productid)
                return False
            q = DeviceQuirks(info.vendorid, info.productid, info.product or "",
                             getinfo=self.dstate.value, get_string=handle.get_string)
            sub.on_claim(q)
            if "maxreport" in cfg.flags:
                q.max_report = True
            if sub.fix(desc, q):
                log.debug("report descriptor fixed for %04x:%04x", info.vendorid,
                          info.productid)
            old = self.hid
            hid = HidUps(sub, desc, handle, self.dstate, q, pollinterval=cfg.pollinterval,
                         onlinedischarge="onlinedischarge" in cfg.flags,
                         interrupt_only="interruptonly" in cfg.flags)
            if old is not None and old.sub is sub:
                hid.active = old.active
                hid.status_bits = old.status_bits
                q.status_bits = hid.status_bits
                q.abm, q.country_code = old.q.abm, old.q.country_code
                q.nominal_output = old.q.nominal_output
                hid.warned_ol_dischrg = old.warned_ol_dischrg
            chosen["hid"] = hid
            return True

        handle = open_hid(self.matcher, accept)
        if handle is None:
            return False
        hid = chosen["hid"]
        self.usb, self.hid = handle, hid
        hid.dev = handle
        if not hid.q.interrupt_pipe:
            self.use_interrupt = False
        info = handle.info
        if self.matcher.exact is None:
            self.matcher.exact = info
        ds = self.dstate
        mfr = hid.sub.format_mfr(info.vendor)
        model = hid.sub.format_model(info.product, ds.set_info)
        if hid.sub.key == "mge" and info.vendorid != 0x413C:  # Dell's iProduct is complete
            model = _mge_model(hid, info.product)
        elif hid.sub.key == "delta_ups":
            model = _item_string(hid, "UPS.DeltaCustom.[1].DeltaModelName") or info.product
        for name, value in (("ups.mfr", mfr), ("ups.model", model), ("ups.serial", info.serial)):
            if value is not None:
                ds.set_info(name, value)
            else:
                ds.del_info(name)
        ds.set_info("ups.vendorid", f"{info.vendorid:04x}")
        ds.set_info("ups.productid", f"{info.productid:04x}")
        return True

    async def init_ups(self) -> None:
        cfg = self.config
        if "explore" in cfg.flags and cfg.get("vendorid") is None:
            raise DriverError('must specify "vendorid" when using "explore"')
        self.matcher = self._make_matcher()
        size = cfg.get("interruptsize")
        if size is not None:
            self.interrupt_size = cfg.get_int("interruptsize", 0, 1, 4096)
        try:
            import usb.core  # noqa: F401 - only to say clearly when pyusb is missing
        except ImportError:
            raise DriverError("usbhid-ups needs pyusb (pip install 'pnut[usb]')") from None
        self.dstate.set_info("driver.version.usb", libusb_version())
        if not self._open():
            raise DriverError("No matching HID UPS found")
        assert self.hid is not None
        try:
            self.hid.walk(INIT)
        except HidError as exc:
            raise DriverError(f"Can't initialize data from HID UPS: {exc}") from None
        ds = self.dstate
        for var, key in (("battery.charge.low", "lowbatt"), ("ups.delay.start", "ondelay"),
                         ("ups.delay.shutdown", "offdelay")):
            raw = cfg.get(key)
            if ds.value(var) is not None and raw is not None:
                ds.set_info(var, str(atoi(raw)))
        hid = self.hid
        if hid.find_row("load.off.delay"):
            ds.add_cmd("load.off")
        if hid.find_row("load.on.delay"):
            ds.add_cmd("load.on")
        if hid.find_row("load.off.delay") and hid.find_row("load.on.delay"):
            ds.add_cmd("shutdown.return")
            ds.add_cmd("shutdown.stayoff")

    async def init_info(self) -> None:
        assert self.hid is not None
        ds = self.dstate
        ds.set_info("driver.version.data", self.hid.sub.name)
        raw = self.config.get("pollfreq")
        if raw is not None:
            self.pollfreq = atoi(raw)
        ds.set_info("driver.parameter.pollfreq", str(self.pollfreq))
        if "pollonly" in self.config.flags:
            self.use_interrupt = False
        self.lastpoll = int(self.clock())

    # -- polling -----------------------------------------------------------------
    async def update_info(self) -> None:
        hid, usb = self.hid, self.usb
        if hid is None or usb is None:
            raise DeviceGone("no device")
        if self.use_interrupt:
            size = self.interrupt_size or INTERRUPT_BUFFER
            data = await asyncio.to_thread(usb.get_interrupt, size, INTERRUPT_TIMEOUT_MS)
            for f in hid.file_interrupt(data):
                try:
                    value = hid.read(f)
                except HidError:
                    continue
                entry = None
                for kind_path in (hid.desc.find(f.path, 0x80 if hid.interrupt_only else 0xB0),
                                  None if hid.interrupt_only else hid.desc.find(f.path, 0x80)):
                    if kind_path is not None:
                        entry = hid.find_by_field(kind_path)
                        break
                if entry is not None:
                    hid.infoval_set(entry.row, value)
        ds = self.dstate
        now = int(self.clock())
        ds.status_init()
        if now > self.lastpoll + self.pollfreq or hid.data_has_changed:
            ds.alarm_init()
            hid.walk(FULL)
            self.lastpoll = now
            hid.data_has_changed = False
            for text in hid.alarms():
                ds.alarm_set(text)
            ds.alarm_commit()
        else:
            hid.walk(QUICK)
        reason = hid.transfer_reason()
        if reason is None:
            ds.del_info("input.transfer.reason")
        else:
            ds.set_info("input.transfer.reason", reason)
        for word in hid.status_words():
            ds.status_set(word)
        ds.status_commit()
        ds.data_ok()

    async def reconnect(self) -> None:
        await self.cleanup()
        if self.matcher is None:
            self.matcher = self._make_matcher()
        if not self._open():
            raise DeviceGone("UPS not found on the USB bus")
        assert self.hid is not None
        self.hid.walk(INIT)

    async def cleanup(self) -> None:
        if self.usb is not None:
            self.usb.close()
        self.usb = None

    # -- commands -------------------------------------------------------------------
    async def instcmd(self, name: str, param: str | None) -> int:
        hid = self.hid
        if hid is None or self.usb is None:
            return Stat.FAILED
        cmd = name.lower()
        if cmd == "beeper.off":
            return await self.instcmd("beeper.disable", None)
        if cmd == "beeper.on":
            return await self.instcmd("beeper.enable", None)
        entry = hid.find_row(cmd)
        if entry is None:
            ds = self.dstate
            if cmd == "load.on":
                return await self.instcmd("load.on.delay", "0")
            if cmd == "load.off":
                return await self.instcmd("load.off.delay", "0")
            if cmd in ("shutdown.return", "shutdown.stayoff"):
                if ds.value("ups.start.auto") is not None:
                    self._setvar("ups.start.auto", "yes" if cmd == "shutdown.return" else "no")
                start = ds.value("ups.delay.start") if cmd == "shutdown.return" else "-1"
                ret = await self.instcmd("load.on.delay", start)
                if ret != Stat.HANDLED:
                    return ret
                await asyncio.sleep(0.125)  # NUT: some UPSes refuse commands sent too fast
                return await self.instcmd("load.off.delay", ds.value("ups.delay.shutdown"))
            return Stat.INVALID
        row = entry.row
        if not row.hidflags & HU_CMD:
            return Stat.INVALID
        value = hid.to_hid(row, param if param is not None else row.dfl)
        if hid.write(entry.field, value):
            hid.data_has_changed = True
            return Stat.HANDLED
        return Stat.FAILED

    async def setvar(self, name: str, value: str) -> int:
        return self._setvar(name, value)

    def _setvar(self, name: str, value: str) -> int:
        hid = self.hid
        if hid is None or self.usb is None:
            return Stat.FAILED
        entry = hid.find_row(name)
        if entry is None or not entry.row.flags & ST_RW:
            return Stat.UNKNOWN
        if entry.row.hidflags & HU_ABSENT:
            self.dstate.set_info(entry.row.var, value)
            return Stat.HANDLED
        if hid.write(entry.field, hid.to_hid(entry.row, value)):
            hid.data_has_changed = True
            return Stat.HANDLED
        return Stat.UNKNOWN

    async def shutdown(self) -> None:
        for cmd in ("shutdown.return", "shutdown.reboot", "load.off.delay"):
            if await self.instcmd(cmd, None) == Stat.HANDLED:
                return
        raise DriverError("Shutdown failed!")


def _item_string(hid: HidUps, path: str) -> str:
    """NUT's HIDGetItemString: the string descriptor a feature item points at, or ""."""
    nodes = hid.sub.string_to_path(path)
    f = None if nodes is None else hid.desc.find(nodes, 0xB0)
    if f is None:
        return ""
    try:
        return hid.dev.get_string(int(hid.read(f, age=1e9)), 512)
    except HidError:
        return ""


def _mge_model(hid: HidUps, product: str | None) -> str:
    """mge-hid.c: iProduct plus iModel (or the nominal VA), e.g. "Ellipse MAX 1500".

    A pair in NUT's model table (tab_mge.MODELS) gets that table's name, and
    its model type decides which battery voltages the unit reports.
    """
    base = product if product is not None else "unknown"
    model = ""
    for path, as_string in (("UPS.PowerSummary.iModel", True),
                            ("UPS.Flow.[4].ConfigApparentPower", False)):
        nodes = hid.sub.string_to_path(path)
        f = None if nodes is None else hid.desc.find(nodes, 0xB0)
        if f is None:
            continue
        try:
            value = hid.read(f, age=1e9)
        except HidError:
            continue
        model = hid.dev.get_string(int(value), 512) if as_string else str(int(value))
        if model:
            break
    if not model:
        return base
    for product, imodel, mtype, name in tab_mge.MODELS:
        if product == base and imodel == model:  # NUT compares case-sensitively
            hid.q.mge_type = mtype
            return name if name is not None else f"{base} {model}"[:511]
    return f"{base} {model}"[:511]
