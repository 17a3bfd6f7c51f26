"""Q1 over USB for nutdrv_qx / blazer_usb: NUT's serial-over-USB subdrivers.

How this works
--------------
Cheap UPSes put a USB-to-serial converter in front of the Megatec/Q1
protocol; NUT knows several such converters (nutdrv_qx.c), each with its own
way to carry one command and its reply:

* ``cypress`` - the command in 8-byte HID SET_REPORTs (wValue 0x200), the
  reply in 8-byte interrupt-IN packets until a ``\\r`` arrives;
* ``phoenix`` - the same, after draining stale interrupt packets first;
* ``ippon`` - SET_REPORTs with wValue 0x2, the reply in one 64-byte packet;
* ``krauler`` - no command bytes at all: each Megatec command is a USB
  string descriptor index, and the reply's first byte is replaced by the
  character the protocol expects.

:class:`UsbQxTransport` is the :class:`~pnut.driver.qx.transport.QxTransport`
for them: the device is chosen like NUT does (ups.conf's USB regexes, then
NUT's table of known IDs, or ``subdriver`` with ``vendorid``+``productid``),
blocking USB I/O runs in a worker thread, a timeout is "no reply" (``b""``)
and a vanished device raises DeviceGone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pnut.driver.base import DeviceGone, DriverConfig, DriverError
from pnut.driver.usb.transport import MATCH_FIELDS, Matcher, UsbHid, open_hid
from pnut.driver.usbhid.engine import HidError

log = logging.getLogger("pnut.driver")

#: NUT's reply buffer (SMALLBUF).
BUFLEN = 512
CHUNK = 8
READ_TIMEOUT_MS = 1000
CYPRESS_WRITE_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class KnownDevice:
    """One row of nutdrv_qx.c's qx_usb_id table."""

    vendorid: int
    productid: int
    vendor: str | None
    product: str | None
    subdriver: str


#: nutdrv_qx.c (NUT 2.8.0) qx_usb_id, in its order; the first supported row wins.
KNOWN: tuple[KnownDevice, ...] = (
    KnownDevice(0x05B8, 0x0000, None, None, "cypress"),
    KnownDevice(0xFFFF, 0x0000, None, None, "ablerex"),
    KnownDevice(0x1CB0, 0x0035, None, None, "krauler"),
    KnownDevice(0x0665, 0x5161, None, None, "cypress"),
    KnownDevice(0x06DA, 0x0002, "Phoenixtec Power", "USB Cable (V2.00)", "phoenixtec"),
    KnownDevice(0x06DA, 0x0002, None, None, "cypress"),
    KnownDevice(0x06DA, 0x0003, None, None, "ippon"),
    KnownDevice(0x06DA, 0x0004, None, None, "cypress"),
    KnownDevice(0x06DA, 0x0005, None, None, "cypress"),
    KnownDevice(0x06DA, 0x0201, None, None, "cypress"),
    KnownDevice(0x06DA, 0x0601, None, None, "phoenix"),
    KnownDevice(0x0F03, 0x0001, None, None, "cypress"),
    KnownDevice(0x14F0, 0x00C9, None, None, "phoenix"),
    KnownDevice(0x0483, 0x0035, None, None, "sgs"),
    KnownDevice(0x0001, 0x0000, "MEC", "MEC0003", "fabula"),
    KnownDevice(0x0001, 0x0000, None, "MEC0003", "hunnox"),
    KnownDevice(0x0001, 0x0000, "ATCL FOR UPS", "ATCL FOR UPS", "fuji"),
    KnownDevice(0x0001, 0x0000, None, None, "krauler"),
    KnownDevice(0x0001, 0x0000, None, "MEC0003", "snr"),
    KnownDevice(0x0925, 0x1234, None, None, "armac"),
)
#: NUT's subdriver names (for ``subdriver =``), pnut implementing the first four.
SUBDRIVER_NAMES = ("cypress", "phoenixtec", "phoenix", "ippon", "krauler", "fabula", "hunnox",
                   "fuji", "sgs", "snr", "ablerex", "armac")

#: krauler: Megatec command -> (string descriptor index, first byte of the reply).
KRAULER = {"Q1\r": (0x03, "("), "F\r": (0x0D, "#"), "I\r": (0x0C, "#"), "T\r": (0x04, "\r"),
           "TL\r": (0x05, "\r"), "Q\r": (0x07, "\r"), "C\r": (0x0B, "\r"),
           "CT\r": (0x0B, "\r")}


def known_subdriver(vid: int, pid: int, vendor: str | None, product: str | None) -> str | None:
    """NUT's qx_is_usb_device_supported: the subdriver of the first matching row."""
    for row in KNOWN:
        if (row.vendorid, row.productid) != (vid, pid):
            continue
        if row.vendor is not None and (vendor or "").lower() != row.vendor.lower():
            continue
        if row.product is not None and (product or "").lower() != row.product.lower():
            continue
        return row.subdriver
    return None


def usb_ids() -> list[tuple[int, int, str]]:
    """(vendor ID, product ID, subdriver) nutdrv_qx knows, for ``pnut scan``."""
    return [(r.vendorid, r.productid, r.subdriver) for r in KNOWN]


def _line(buf: bytes) -> bytes:
    """The reply as NUT's C string sees it: up to a NUL, through the first CR."""
    text = buf.split(b"\0", 1)[0]
    cut = text.find(b"\r")
    return text[: cut + 1] if cut >= 0 else text


def _send_chunks(dev: UsbHid, cmd: bytes, value: int, timeout_ms: int) -> None:
    padded = cmd + b"\0" * (-len(cmd) % CHUNK or 0)
    for i in range(0, len(cmd), CHUNK):
        dev.control_out(0x09, value, padded[i:i + CHUNK].ljust(CHUNK, b"\0"), timeout_ms)


def _read_until_cr(dev: UsbHid) -> bytes:
    buf = b""
    while len(buf) <= BUFLEN - CHUNK and b"\r" not in buf:
        part = dev.get_interrupt(CHUNK, READ_TIMEOUT_MS)
        if not part:
            return b""  # NUT gives up on the whole reply
        buf += part
    return _line(buf)


def cypress_command(dev: UsbHid, cmd: bytes) -> bytes:
    _send_chunks(dev, cmd, 0x200, CYPRESS_WRITE_TIMEOUT_MS)
    return _read_until_cr(dev)


def phoenix_command(dev: UsbHid, cmd: bytes) -> bytes:
    for _ in range(8):  # the converter keeps stale bytes: drain them first
        if not dev.get_interrupt(CHUNK, READ_TIMEOUT_MS):
            break
    _send_chunks(dev, cmd, 0x200, READ_TIMEOUT_MS)
    return _read_until_cr(dev)


def ippon_command(dev: UsbHid, cmd: bytes) -> bytes:
    _send_chunks(dev, cmd[:63], 0x2, READ_TIMEOUT_MS)
    reply = dev.get_interrupt(64, READ_TIMEOUT_MS)
    if not reply:
        return b""
    cut = reply.find(b"\r")
    data = reply[: cut + 1] if cut >= 0 else reply.split(b"\0", 1)[0]
    data = data[: BUFLEN - 1]
    if data and b"\r" not in data and len(data) < BUFLEN - 1:
        data += b"\r"
    return data


def krauler_command(dev: UsbHid, cmd: bytes) -> bytes:
    text = cmd.decode("ascii", "replace")
    entry = KRAULER.get(text)
    if entry is None:
        return cmd[: BUFLEN - 1]  # NUT echoes commands krauler has no index for
    index, prefix = entry
    for _ in range(10):
        reply = dev.get_string(index, BUFLEN)
        if not reply:
            return b""
        if "\r" not in reply and len(reply) < BUFLEN - 1:
            reply += "\r"
        if reply.find("\r") == 10 and reply[:10].lower() == "ups no ack":
            continue
        return (prefix + reply[1:]).encode("ascii", "replace")
    return b""


COMMANDS: dict[str, Callable[[UsbHid, bytes], bytes]] = {
    "cypress": cypress_command, "phoenix": phoenix_command, "ippon": ippon_command,
    "krauler": krauler_command,
}


class UsbQxTransport:
    """A Q* UPS behind one of NUT's serial-over-USB converters."""

    def __init__(self, config: DriverConfig) -> None:
        self.config = config
        try:
            import usb.core  # noqa: F401 - only to say clearly when pyusb is missing
        except ImportError:
            raise DriverError("Q1 over USB needs pyusb (pip install 'pnut[usb]')") from None
        values = {name: config.get(name) for name in MATCH_FIELDS}
        try:
            self.matcher = Matcher(values)
        except ValueError as exc:
            raise DriverError(f"Invalid regular expression: {exc}") from None
        self.forced: str | None = None
        name = config.get("subdriver")
        if name is not None:
            if config.get("vendorid") is None or config.get("productid") is None:
                raise DriverError("When specifying a subdriver, 'vendorid' and 'productid' "
                                  "are mandatory.")
            if name.lower() not in SUBDRIVER_NAMES:
                raise DriverError(f"Subdriver '{name}' not found!")
            if name.lower() not in COMMANDS:
                raise DriverError(f"Subdriver '{name}' is not implemented in pnut "
                                  f"(pnut has: {', '.join(COMMANDS)})")
            self.forced = name.lower()
        self.dev: UsbHid | None = None
        self.subdriver: str | None = None
        #: Variables NUT publishes for a USB device (ups.vendorid/productid).
        self.published: dict[str, str] = {}

    def _open(self) -> None:
        chosen: list[str] = []

        def accept(handle: UsbHid) -> bool:
            info = handle.info
            sub = self.forced or known_subdriver(info.vendorid, info.productid, info.vendor,
                                                 info.product)
            if sub is None:
                return False
            if sub not in COMMANDS:
                log.warning("%04x:%04x needs NUT's '%s' subdriver, which pnut lacks",
                            info.vendorid, info.productid, sub)
                return False
            chosen.append(sub)
            return True

        handle = open_hid(self.matcher, accept, hid=False)
        if handle is None:
            raise OSError("No supported devices found. Please check your device availability "
                          "with 'lsusb'")
        self.dev, self.subdriver = handle, chosen[0]
        if self.matcher.exact is None:
            self.matcher.exact = handle.info
        self.published = {"ups.vendorid": f"{handle.info.vendorid:04x}",
                          "ups.productid": f"{handle.info.productid:04x}"}
        log.debug("Q1 over USB: %s subdriver", self.subdriver)

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _command(self, cmd: bytes) -> bytes:
        dev, sub = self.dev, self.subdriver
        if dev is None or sub is None:
            raise DeviceGone("device not open")
        try:
            return COMMANDS[sub](dev, cmd)
        except DeviceGone:
            self.close()
            raise
        except HidError as exc:
            log.debug("%s: %s", cmd.strip(), exc)
            return b""

    async def command(self, cmd: bytes) -> bytes:
        return await asyncio.to_thread(self._command, cmd)

    def close(self) -> None:
        dev, self.dev = self.dev, None
        if dev is not None:
            dev.close()


def make_transport(config: DriverConfig) -> UsbQxTransport:
    return UsbQxTransport(config)
