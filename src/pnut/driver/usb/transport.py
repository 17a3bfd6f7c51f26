"""USB HID transport on pyusb (libusb-1.0) and NUT's device matching.

How this works
--------------
:class:`Matcher` is NUT's regex matcher (usb-common.c): each of vendorid,
productid, vendor, product, serial, bus and device is an extended regular
expression, case-insensitive, that must match the *whole* field after
leading/trailing blanks are stripped; an absent field matches as "".
IDs are compared as 4-digit lowercase hex, bus and device as 3 digits.

:func:`open_hid` enumerates the bus, reads each device's strings, asks the
matcher, claims interface 0, reads the HID report descriptor and hands it
to ``accept`` (the subdriver choice); the first device accepted is
returned as a :class:`UsbHid`.  Transfers raise
:class:`~pnut.driver.usbhid.engine.DeviceGone` when the device is gone and
:class:`~pnut.driver.usbhid.engine.HidError` otherwise.
"""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pnut.driver.usbhid.engine import DeviceGone, HidError

log = logging.getLogger("pnut.driver")

USB_TIMEOUT_MS = 5000
#: Errnos that mean the device is no longer there (NUT reconnects on these).
GONE_ERRNOS = {errno.ENODEV, errno.EIO, errno.EPERM, errno.EACCES, errno.ENXIO, errno.ENOENT,
               errno.EBUSY, errno.ESHUTDOWN}
MATCH_FIELDS = ("vendorid", "productid", "vendor", "product", "serial", "bus", "device")


@dataclass
class DeviceInfo:
    vendorid: int
    productid: int
    bcd: int
    vendor: str | None
    product: str | None
    serial: str | None
    bus: str
    device: str

    def field(self, name: str) -> str | None:
        if name == "vendorid":
            return f"{self.vendorid:04x}"
        if name == "productid":
            return f"{self.productid:04x}"
        return getattr(self, name)  # type: ignore[no-any-return]


class Matcher:
    """NUT's regex matcher plus an optional exact matcher after the first open."""

    def __init__(self, values: dict[str, str | None]) -> None:
        self.regex: dict[str, re.Pattern[str]] = {}
        for name in MATCH_FIELDS:
            value = values.get(name)
            if value is None:
                continue
            try:
                self.regex[name] = re.compile(value, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"invalid regular expression for {name}: {value}: {exc}") \
                    from None
        self.exact: DeviceInfo | None = None

    def matches(self, info: DeviceInfo) -> bool:
        for name, pattern in self.regex.items():
            text = (info.field(name) or "").strip(" \t\n")
            if pattern.fullmatch(text) is None:
                return False
        if self.exact is not None:
            e = self.exact
            if (e.vendorid, e.productid, e.vendor, e.product, e.serial) != (
                    info.vendorid, info.productid, info.vendor, info.product, info.serial):
                return False
        return True


def _errno(exc: Exception) -> int | None:
    return getattr(exc, "errno", None)


def _gone(exc: Exception) -> bool:
    code = _errno(exc)
    text = str(exc).lower()
    return code in GONE_ERRNOS or "no such device" in text or "no device" in text


class UsbHid:
    """One opened HID interface."""

    def __init__(self, dev: Any, info: DeviceInfo, report_desc: bytes, ep_in: int,
                 ep_size: int) -> None:
        self.dev = dev
        self.info = info
        self.report_desc = report_desc
        self.ep_in = ep_in
        self.ep_size = ep_size
        self._langid: int | None = None

    def _ctrl(self, rtype: int, req: int, value: int, index: int, data: int | bytes,
              timeout_ms: int = USB_TIMEOUT_MS) -> Any:
        try:
            return self.dev.ctrl_transfer(rtype, req, value, index, data, timeout_ms)
        except Exception as exc:
            if _gone(exc):
                raise DeviceGone(str(exc)) from None
            raise HidError(str(exc)) from None

    def control_out(self, req: int, value: int, data: bytes, timeout_ms: int) -> int:
        """A class request to interface 0 (host to device); bytes sent."""
        sent = self._ctrl(0x21, req, value, 0, data, timeout_ms)
        return int(sent)

    def get_report(self, report_id: int, length: int) -> bytes:
        return bytes(self._ctrl(0xA1, 0x01, 0x0300 | report_id, 0, length))

    def set_report(self, report_id: int, data: bytes) -> None:
        self._ctrl(0x21, 0x09, 0x0300 | report_id, 0, data)

    def get_string(self, index: int, maxlen: int = 255) -> str:
        """libusb_get_string_descriptor_ascii: first language, non-ASCII as '?'."""
        if index <= 0:
            return ""
        try:
            if self._langid is None:
                langs = bytes(self._ctrl(0x80, 6, 0x0300, 0, 255))
                if len(langs) < 4:
                    return ""
                self._langid = langs[2] | (langs[3] << 8)
            raw = bytes(self._ctrl(0x80, 6, 0x0300 | (index & 0xFF), self._langid, 255))
        except DeviceGone:
            raise
        except HidError:
            return ""
        if len(raw) < 2 or raw[1] != 3:
            return ""
        chars: list[str] = []
        for i in range(2, min(raw[0], len(raw)) - 1, 2):
            if len(chars) >= maxlen - 1:
                break
            code = raw[i] | (raw[i + 1] << 8)
            chars.append(chr(code) if code < 0x80 else "?")
        return "".join(chars)

    def get_interrupt(self, size: int, timeout_ms: int) -> bytes:
        try:
            return bytes(self.dev.read(self.ep_in, size, timeout_ms))
        except Exception as exc:
            if _errno(exc) == errno.ETIMEDOUT or "timed out" in str(exc).lower():
                return b""
            if _gone(exc):
                raise DeviceGone(str(exc)) from None
            raise HidError(str(exc)) from None

    def close(self) -> None:
        try:
            import usb.util

            usb.util.dispose_resources(self.dev)
        except Exception:
            pass


def libusb_version() -> str:
    """``driver.version.usb`` as NUT words it."""
    try:
        import ctypes

        import usb.backend.libusb1 as lb

        backend = lb.get_backend()
        lib = getattr(backend, "lib", None)
        if lib is None:
            return "libusb-1.0"

        class Version(ctypes.Structure):
            _fields_ = [("major", ctypes.c_uint16), ("minor", ctypes.c_uint16),
                        ("micro", ctypes.c_uint16), ("nano", ctypes.c_uint16),
                        ("rc", ctypes.c_char_p), ("describe", ctypes.c_char_p)]

        lib.libusb_get_version.restype = ctypes.POINTER(Version)
        v = lib.libusb_get_version().contents
        return f"libusb-{v.major}.{v.minor}.{v.micro}"
    except Exception:
        return "libusb-1.0"


def _strings(dev: Any, handle: UsbHid) -> tuple[str | None, str | None, str | None]:
    out: list[str | None] = []
    for index in (dev.iManufacturer, dev.iProduct, dev.iSerialNumber):
        text = handle.get_string(index) if index else ""
        out.append(text if text else None)
    return out[0], out[1], out[2]


def _hid_interface(dev: Any) -> tuple[int, int, int] | None:
    """(report descriptor length, IN endpoint, its packet size) of interface 0; None if not HID."""
    cfg = dev.get_active_configuration() if _has_config(dev) else dev[0]
    intf = cfg[(0, 0)]
    extra = bytes(getattr(intf, "extra_descriptors", b"") or b"")
    length = None
    i = 0
    while i + 1 < len(extra):
        size = extra[i]
        if size < 2:
            break
        if extra[i + 1] == 0x21 and size >= 9:
            length = extra[i + 7] | (extra[i + 8] << 8)
            break
        i += size
    ep_in, ep_size = 0x81, 8
    for ep in intf:
        if ep.bEndpointAddress & 0x80 and (ep.bmAttributes & 3) == 3:
            ep_in, ep_size = ep.bEndpointAddress, ep.wMaxPacketSize
            break
    if length is None:
        return None
    return length, ep_in, ep_size


def _has_config(dev: Any) -> bool:
    try:
        dev.get_active_configuration()
        return True
    except Exception:
        return False


def open_hid(matcher: Matcher, accept: Callable[[UsbHid], bool], *,
             hid: bool = True) -> UsbHid | None:
    """The first matching device ``accept`` takes, opened; None if there is none.

    With ``hid`` the HID report descriptor is read first (usbhid-ups);
    without, interface 0 is only claimed (nutdrv_qx's serial-over-USB).
    """
    import usb.core

    try:
        devices = list(usb.core.find(find_all=True))
    except Exception as exc:
        log.debug("USB enumeration failed: %s", exc)
        return None
    for dev in devices:
        handle = None
        try:
            info = DeviceInfo(dev.idVendor, dev.idProduct, dev.bcdDevice, None, None, None,
                              f"{dev.bus or 0:03d}", f"{dev.address or 0:03d}")
            handle = UsbHid(dev, info, b"", 0x81, 8)
            info.vendor, info.product, info.serial = _strings(dev, handle)
            if not matcher.matches(info):
                handle.close()
                continue
            try:
                if dev.is_kernel_driver_active(0):
                    dev.detach_kernel_driver(0)
            except Exception:
                pass
            import usb.util

            usb.util.claim_interface(dev, 0)
            found = _hid_interface(dev)
            if found is None and hid:
                handle.close()
                continue
            if found is not None:
                length, handle.ep_in, handle.ep_size = found
                if hid:
                    handle.report_desc = bytes(handle._ctrl(0x81, 6, 0x2200, 0, length))
            if accept(handle):
                return handle
            handle.close()
        except (HidError, usb.core.USBError, ValueError, IndexError, KeyError) as exc:
            log.debug("skipping USB device: %s", exc)
            if handle is not None:
                handle.close()
    return None
