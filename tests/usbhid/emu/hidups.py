#!/usr/bin/python3
"""A USB HID UPS played back from a fixture, on umockdev (user-space fake USB).

How this works
--------------
This script runs under Debian's ``/usr/bin/python3`` (it needs ``gi`` and
umockdev's typelib, not pnut).  It builds a umockdev testbed holding one USB
device: the sysfs entry (with the binary ``descriptors`` file libusb reads)
and ``/dev/bus/usb/BBB/DDD``, whose ioctls (usbfs: SUBMITURB, REAPURB,
CLAIMINTERFACE, ...) arrive here through umockdev's socket.  A driver run with
``LD_PRELOAD=libumockdev-preload.so.0`` and ``UMOCKDEV_DIR=<root>`` sees that
device and nothing else, so NUT's C ``usbhid-ups`` and pnut's driver can be
pointed at the same recorded UPS.

Control transfers are answered at once from the fixture: standard
GET_DESCRIPTOR (device, configuration, string, HID, report), HID GET_REPORT
(the recorded bytes, even when the recording was shorter than the report the
descriptor declares) and SET_REPORT (stored, and echoed on stdout so tests can
check the bytes a driver wrote).  Interrupt-IN URBs stay pending until a test
queues an input report.

Commands on stdin, one per line; every answer is one line on stdout:

* ``feature ID HEX`` / ``input ID HEX`` - replace a stored report (HEX includes
  the report ID byte)
* ``interrupt HEX`` - queue an interrupt-IN report
* ``sync`` - just ``ok``: every event printed before it has been read by then
* ``unplug`` / ``plug`` - the device vanishes (ioctls fail with ENODEV, sysfs
  entry removed) and comes back with the next device number
* ``quit``

Events written: ``ready ROOT BUS DEV``, ``setreport TYPE ID HEX``, ``ok``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import struct
import sys
import threading

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import GLib, UMockdev  # noqa: E402

# usbfs ioctl numbers (the 'U' type's nr field).
NR_SETINTERFACE = 4
NR_SETCONFIGURATION = 5
NR_GETDRIVER = 8
NR_SUBMITURB = 10
NR_DISCARDURB = 11
NR_REAPURB = 12
NR_REAPURBNDELAY = 13
NR_CLAIMINTERFACE = 15
NR_RELEASEINTERFACE = 16
NR_CONNECTINFO = 17
NR_IOCTL = 18
NR_RESET = 20
NR_CLEAR_HALT = 21
NR_DISCONNECT = 22
NR_CONNECT = 23
NR_GET_CAPABILITIES = 26
NR_DISCONNECT_CLAIM = 27
NR_GET_SPEED = 31

#: krauler: string descriptor index -> the Megatec command it stands for (nutdrv_qx.c).
KRAULER_INDEX = {0x03: "Q1\r", 0x0D: "F\r", 0x0C: "I\r", 0x04: "T\r", 0x05: "TL\r",
                 0x07: "Q\r", 0x0B: "C\r"}

URB_SIZE = 56  # struct usbdevfs_urb on 64-bit Linux
URB_INTERRUPT = 1
URB_CONTROL = 2
CAPS = 0x01 | 0x04  # ZERO_PACKET | NO_PACKET_SIZE_LIM
EP_IN = 0x81


def _hex(data: bytes) -> str:
    return data.hex()


class Fixture:
    """The recorded device: descriptors, strings and reports."""

    def __init__(self, doc: dict) -> None:
        self.vid = int(doc["vendorid"], 16)
        self.pid = int(doc["productid"], 16)
        self.bcd = int(doc.get("bcddevice", "0100"), 16)
        self.strings: dict[int, str] = {int(k): v for k, v in doc.get("strings", {}).items()}
        self.imanufacturer = int(doc.get("imanufacturer", 1))
        self.iproduct = int(doc.get("iproduct", 2))
        self.iserial = int(doc.get("iserial", 3))
        self.report_desc = bytes.fromhex(doc["report_descriptor"])
        self.feature: dict[int, bytes] = {
            int(k): bytes.fromhex(v) for k, v in doc.get("feature", {}).items()}
        self.input: dict[int, bytes] = {
            int(k): bytes.fromhex(v) for k, v in doc.get("input", {}).items()}
        self.interrupt: list[bytes] = [bytes.fromhex(v) for v in doc.get("interrupt", [])]
        self.ep_size = int(doc.get("ep_size", 8))
        self.hid_version = int(doc.get("bcdhid", "0110"), 16)
        # Q1 over USB (nutdrv_qx): "cypress", "phoenix", "ippon" or "krauler".
        self.qx: str | None = doc.get("qx")
        self.answers: dict[str, str] = doc.get("answers", {})
        self.echo_unknown = bool(doc.get("echo_unknown", True))
        # Answer an interrupt read with a zero-length packet when nothing is queued
        # (instead of NAKing until the host's timeout): keeps phoenix's drain fast.
        self.idle_zlp = bool(doc.get("idle_zlp", False))
        self.pollable = bool(doc.get("pollable", os.environ.get("PNUT_EMU_POLLABLE", "1") != "0"))

    def device_descriptor(self) -> bytes:
        return struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0110, 0, 0, 0, 8, self.vid, self.pid,
                           self.bcd, self.imanufacturer, self.iproduct, self.iserial, 1)

    def hid_descriptor(self) -> bytes:
        return struct.pack("<BBHBBBH", 9, 0x21, self.hid_version, 0, 1, 0x22,
                           len(self.report_desc))

    def config_descriptor(self) -> bytes:
        iface = struct.pack("<BBBBBBBBB", 9, 4, 0, 0, 1, 3, 0, 0, 0)
        ep = struct.pack("<BBBBHB", 7, 5, EP_IN, 3, self.ep_size, 10)
        body = iface + self.hid_descriptor() + ep
        head = struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), 1, 1, 0, 0xA0, 50)
        return head + body

    def string_descriptor(self, index: int) -> bytes | None:
        if index == 0:
            return bytes([4, 3, 0x09, 0x04])
        text = self.strings.get(index)
        if text is None:
            return None
        raw = text.encode("utf-16-le")[:252]
        return bytes([len(raw) + 2, 3]) + raw


class Pending:
    """One submitted URB, kept until the driver reaps it."""

    def __init__(self, urb: object, buf: object | None, kind: int, ep: int, length: int) -> None:
        self.urb = urb
        self.buf = buf
        self.kind = kind
        self.ep = ep
        self.length = length
        self.addr: int = urb.client_addr  # type: ignore[attr-defined]
        self.status = 0
        self.actual = 0
        self.done = False


class Doorbell:
    """Makes the fake device node pollable like usbfs: writable only when a URB is reapable.

    umockdev's device node is a plain file, so libusb's poll() for POLLOUT would
    always return at once and its event loop would spin while waiting for an
    interrupt report.  Here the node is a FIFO whose buffer the emulator keeps
    full while nothing is reapable (poll blocks) and drains when something is.
    """

    F_SETPIPE_SZ = 1031

    def __init__(self, path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)
        os.mkfifo(path, 0o666)
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        with contextlib.suppress(OSError):  # smaller buffer: less to fill and drain
            fcntl.fcntl(self.fd, self.F_SETPIPE_SZ, 4096)
        self.full = False
        self.quiet()

    def ring(self) -> None:
        if not self.full:
            return
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass
        self.full = False

    def quiet(self) -> None:
        if self.full:
            return
        block = b"\0" * 4096
        try:
            while True:
                os.write(self.fd, block)
        except BlockingIOError:
            pass
        self.full = True

    def close(self) -> None:
        os.close(self.fd)


class Device:
    """The usbfs side of the fake device: answers ioctls from the fixture."""

    def __init__(self, fx: Fixture, out: Output, bell: Doorbell | None = None) -> None:
        self.bell = bell
        self.fx = fx
        self.out = out
        self.lock = threading.Lock()
        self.present = True
        self.pending: list[Pending] = []
        self.reapable: list[Pending] = []
        self.queue: list[bytes] = list(fx.interrupt)

    # -- control requests -------------------------------------------------
    def control(self, setup: bytes, payload: bytes) -> tuple[int, bytes]:
        """(status, data for an IN request) for one control transfer."""
        rtype, req, wvalue, _windex, wlength = struct.unpack("<BBHHH", setup)
        fx = self.fx
        if rtype == 0x80 and req == 6:  # GET_DESCRIPTOR (device)
            dtype, dindex = wvalue >> 8, wvalue & 0xFF
            data: bytes | None = None
            if dtype == 1:
                data = fx.device_descriptor()
            elif dtype == 2:
                data = fx.config_descriptor()
            elif dtype == 3 and fx.qx == "krauler" and dindex in KRAULER_INDEX:
                data = self.krauler(dindex)
            elif dtype == 3:
                data = fx.string_descriptor(dindex)
            if data is None:
                return -errno.EPIPE, b""
            return 0, data[:wlength]
        if rtype == 0x81 and req == 6:  # GET_DESCRIPTOR (interface): HID, report
            dtype = wvalue >> 8
            if dtype == 0x21:
                return 0, fx.hid_descriptor()[:wlength]
            if dtype == 0x22:
                return 0, fx.report_desc[:wlength]
            return -errno.EPIPE, b""
        if rtype == 0x80 and req == 0:  # GET_STATUS
            return 0, b"\x01\x00"[:wlength]
        if rtype == 0x00 and req in (9, 3, 1):  # SET_CONFIGURATION, SET/CLEAR_FEATURE
            return 0, b""
        if rtype == 0x21 and req == 0x0A:  # SET_IDLE
            return 0, b""
        if rtype == 0xA1 and req == 0x01:  # GET_REPORT
            rep_type, rep_id = wvalue >> 8, wvalue & 0xFF
            table = fx.feature if rep_type == 3 else fx.input
            data = table.get(rep_id)
            if data is None:
                return -errno.EPIPE, b""
            return 0, data[:wlength]
        if rtype == 0x21 and req == 0x09 and fx.qx is not None:  # Q1 command bytes
            self.qx_write(payload[:wlength])
            return 0, b""
        if rtype == 0x21 and req == 0x09:  # SET_REPORT
            rep_type, rep_id = wvalue >> 8, wvalue & 0xFF
            body = payload[:wlength]
            if (rep_type == 3 and rep_id in fx.feature) or rep_type == 2:
                fx.feature[rep_id] = body
            else:
                return -errno.EPIPE, b""
            self.out.line(f"setreport {rep_type} {rep_id} {_hex(body)}")
            return 0, b""
        return -errno.EPIPE, b""

    # -- Q1 over USB ------------------------------------------------------
    def answer(self, cmd: str) -> str | None:
        self.out.line(f"qxcmd {cmd.encode().hex()}")
        reply = self.fx.answers.get(cmd)
        if reply is None and self.fx.echo_unknown:
            reply = cmd
        return reply

    def qx_write(self, chunk: bytes) -> None:
        """cypress/phoenix/ippon: commands arrive in 8-byte SET_REPORTs."""
        # The converter forwards bytes up to the command's NUL; NUT's ippon code
        # leaves uninitialised bytes after it in the 8-byte chunk.
        self.qx_buf = (getattr(self, "qx_buf", b"") + chunk.split(b"\0", 1)[0])[-512:]
        while b"\r" in self.qx_buf:
            cmd, _, self.qx_buf = self.qx_buf.partition(b"\r")
            reply = self.answer(cmd.decode("latin-1") + "\r")
            if reply is None:
                continue
            data = reply.encode("latin-1")
            if self.fx.qx == "ippon":
                self.queue.append(data[:64].ljust(64, b"\0"))
            else:
                data += b"\0" * (-len(data) % 8)
                self.queue.extend(data[i:i + 8] for i in range(0, len(data), 8))
            self._feed()

    def krauler(self, index: int) -> bytes:
        """krauler: each command is a string descriptor index."""
        reply = self.answer(KRAULER_INDEX[index]) or ""
        raw = reply.encode("utf-16-le")[:252]
        return bytes([len(raw) + 2, 3]) + raw

    # -- URBs -------------------------------------------------------------
    def submit(self, client: object) -> tuple[int, int]:
        arg = client.get_arg()  # type: ignore[attr-defined]
        urb = arg.resolve(0, URB_SIZE)
        raw = bytes(urb.retrieve())
        kind, ep = raw[0], raw[1]
        (length,) = struct.unpack_from("<i", raw, 24)
        buf = urb.resolve(16, length) if length > 0 else None
        p = Pending(urb, buf, kind, ep, length)
        if kind == URB_CONTROL:
            data = bytes(buf.retrieve()) if buf is not None else b""
            status, answer = self.control(data[:8], data[8:])
            p.status = status
            if status == 0 and data[0] & 0x80 and answer:
                buf.update(8, answer)
                p.actual = len(answer)
            elif status == 0:
                p.actual = max(0, length - 8)
            p.done = True
            self.reapable.append(p)
        elif kind == URB_INTERRUPT and ep & 0x80:
            self.pending.append(p)
            self._feed()
            if self.fx.idle_zlp and p in self.pending:
                self.pending.remove(p)
                p.done = True
                self.reapable.append(p)
        else:
            p.status = -errno.EPIPE
            p.done = True
            self.reapable.append(p)
        return 0, 0

    def _feed(self) -> None:
        while self.pending and self.queue:
            p = self.pending.pop(0)
            report = self.queue.pop(0)[: p.length]
            if report and p.buf is not None:
                p.buf.update(0, report)
            p.actual = len(report)
            p.done = True
            self.reapable.append(p)

    def reap(self, client: object) -> tuple[int, int]:
        if not self.reapable:
            if not self.present:
                return -1, errno.ENODEV
            return -1, errno.EAGAIN
        p = self.reapable.pop(0)
        p.urb.update(4, struct.pack("<i", p.status))  # type: ignore[attr-defined]
        p.urb.update(28, struct.pack("<i", p.actual))  # type: ignore[attr-defined]
        arg = client.get_arg()  # type: ignore[attr-defined]
        slot = arg.resolve(0, 8)
        slot.set_ptr(0, p.urb)
        return 0, 0

    def discard(self, client: object) -> tuple[int, int]:
        (addr,) = struct.unpack("<Q", bytes(client.get_arg().retrieve())[:8])  # type: ignore[attr-defined]
        for p in self.pending:
            if p.addr == addr:
                self.pending.remove(p)
                p.status = -errno.ENOENT
                p.done = True
                self.reapable.append(p)
                return 0, 0
        return -1, errno.EINVAL

    def signal(self) -> None:
        """Node writable (for poll) exactly while something can be reaped."""
        if self.bell is None:
            return
        if self.reapable or not self.present:
            self.bell.ring()
        else:
            self.bell.quiet()

    def ioctl(self, client: object) -> tuple[int, int]:
        with self.lock:
            try:
                return self._ioctl(client)
            finally:
                self.signal()

    def _ioctl(self, client: object) -> tuple[int, int]:
        request = client.get_request()  # type: ignore[attr-defined]
        nr = request & 0xFF
        if nr in (NR_REAPURB, NR_REAPURBNDELAY):
            return self.reap(client)
        if not self.present:
            return -1, errno.ENODEV
        if nr == NR_SUBMITURB:
            return self.submit(client)
        if nr == NR_DISCARDURB:
            return self.discard(client)
        if nr == NR_GET_CAPABILITIES:
            arg = client.get_arg()  # type: ignore[attr-defined]
            arg.resolve(0, 4).update(0, struct.pack("<I", CAPS))
            return 0, 0
        if nr == NR_GETDRIVER:
            return -1, errno.ENODATA
        if nr == NR_CONNECTINFO:
            arg = client.get_arg()  # type: ignore[attr-defined]
            arg.resolve(0, 8).update(0, struct.pack("<IB3x", 2, 0))
            return 0, 0
        if nr == NR_GET_SPEED:
            return 2, 0  # full speed
        if nr in (NR_SETINTERFACE, NR_SETCONFIGURATION, NR_CLAIMINTERFACE,
                  NR_RELEASEINTERFACE, NR_RESET, NR_CLEAR_HALT, NR_DISCONNECT_CLAIM,
                  NR_CONNECT):
            return 0, 0
        if nr in (NR_IOCTL, NR_DISCONNECT):
            return -1, errno.ENODATA
        return -1, errno.ENOTTY

    def unplug(self) -> None:
        with self.lock:
            self.present = False
            for p in self.pending:
                p.status = -errno.ESHUTDOWN
                p.done = True
                self.reapable.append(p)
            self.pending.clear()
            self.signal()

    def queue_interrupt(self, data: bytes) -> None:
        with self.lock:
            self.queue.append(data)
            self._feed()
            self.signal()


class Output:
    """Serialised stdout lines (handlers run on umockdev's worker thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


class Emulator:
    """The testbed and the plug/unplug life of the one device."""

    def __init__(self, fx: Fixture, bus: int = 1, devnum: int = 2) -> None:
        self.fx = fx
        self.out = Output()
        self.testbed = UMockdev.Testbed.new()
        self.bus = bus
        self.devnum = devnum
        self.syspath: str | None = None
        self.device: Device | None = None
        self.handler: UMockdev.IoctlBase | None = None
        self.plugged_before = False
        self.pollable = bool(fx.pollable)

    @property
    def devnode(self) -> str:
        return f"/dev/bus/usb/{self.bus:03d}/{self.devnum:03d}"

    def plug(self) -> None:
        fx = self.fx
        descriptors = fx.device_descriptor() + fx.config_descriptor()
        lines = [
            f"P: /devices/pci0000:00/0000:00:14.0/usb{self.bus}/{self.bus}-1",
            f"N: bus/usb/{self.bus:03d}/{self.devnum:03d}",
            "E: SUBSYSTEM=usb",
            "E: DEVTYPE=usb_device",
            f"E: DEVNAME={self.devnode}",
            f"E: BUSNUM={self.bus:03d}",
            f"E: DEVNUM={self.devnum:03d}",
            f"E: PRODUCT={fx.vid:x}/{fx.pid:x}/{fx.bcd:x}",
            f"A: busnum={self.bus}",
            f"A: devnum={self.devnum}",
            f"A: idVendor={fx.vid:04x}",
            f"A: idProduct={fx.pid:04x}",
            f"A: bcdDevice={fx.bcd:04x}",
            "A: speed=12",
            "A: bConfigurationValue=1",
            "A: bNumConfigurations=1",
            "A: bNumInterfaces= 1",
            f"H: descriptors={descriptors.hex()}",
        ]
        for attr, index in (("manufacturer", fx.imanufacturer), ("product", fx.iproduct),
                            ("serial", fx.iserial)):
            if index in fx.strings:
                lines.append(f"A: {attr}={fx.strings[index]}")
        self.testbed.add_from_string("\n".join(lines) + "\n")
        self.syspath = f"/sys/devices/pci0000:00/0000:00:14.0/usb{self.bus}/{self.bus}-1"
        bell = None
        if self.pollable:
            try:
                bell = Doorbell(self.testbed.get_root_dir() + self.devnode)
            except OSError as exc:
                self.out.line(f"error no pollable node: {exc}")
        self.device = Device(fx, self.out, bell)
        handler = UMockdev.IoctlBase()
        device = self.device

        def on_ioctl(_handler: object, client: object) -> bool:
            try:
                res, err = device.ioctl(client)
            except Exception as exc:  # a bug here must not hang the driver
                self.out.line(f"error {type(exc).__name__}: {exc}")
                res, err = -1, errno.EIO
            client.complete(res, err)  # type: ignore[attr-defined]
            return True

        handler.connect("handle-ioctl", on_ioctl)
        self.testbed.attach_ioctl(self.devnode, handler)
        self.handler = handler
        if self.plugged_before:
            self.testbed.uevent(self.syspath, "add")  # libusb's hotplug monitor sees it
        self.plugged_before = True

    def unplug(self) -> None:
        if self.device is None:
            return
        self.device.unplug()
        self.testbed.detach_ioctl(self.devnode)
        if self.device.bell is not None:
            self.device.bell.close()
        if self.syspath:
            self.testbed.uevent(self.syspath, "remove")
            self.testbed.remove_device(self.syspath)
        self.device = None
        self.syspath = None
        self.devnum += 1

    def command(self, words: list[str]) -> bool:
        if not words:
            return True
        cmd = words[0]
        if cmd == "quit":
            return False
        if cmd == "sync":  # "ok" comes after every event printed before it
            pass
        elif cmd == "unplug":
            self.unplug()
        elif cmd == "plug":
            if self.device is None:
                self.plug()
        elif cmd in ("feature", "input") and len(words) == 3:
            table = self.fx.feature if cmd == "feature" else self.fx.input
            table[int(words[1], 0)] = bytes.fromhex(words[2])
        elif cmd == "interrupt" and len(words) == 2:
            if self.device is not None:
                self.device.queue_interrupt(bytes.fromhex(words[1]))
        else:
            self.out.line(f"error unknown command {cmd}")
            return True
        self.out.line("ok")
        return True


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: hidups.py FIXTURE.json\n")
        return 2
    with open(sys.argv[1], encoding="utf-8") as fh:
        fx = Fixture(json.load(fh))
    emu = Emulator(fx)
    emu.plug()
    loop = GLib.MainLoop()
    threading.Thread(target=loop.run, daemon=True).start()
    emu.out.line(f"ready {emu.testbed.get_root_dir()} {emu.bus} {emu.devnum}")
    for line in sys.stdin:
        if not emu.command(line.split()):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
