"""How nutdrv_qx reaches a device: one command out, one reply back.

How this works
--------------
Every Q* dialect is "send a short ASCII command, read one reply" (NUT's
``qx_command``).  :class:`QxTransport` is that one operation plus open and
close, so the protocol engine (:mod:`.engine`) never sees a file
descriptor.  :class:`SerialTransport` is the serial line (pyserial, 2400
baud 8N1, DTR/RTS from ``cablepower``); Q1-over-USB subdrivers (cypress,
phoenix, krauler, ippon, ...) implement the same three methods.

The contract, for every transport:

* ``command(cmd)`` returns the reply bytes (for serial: one line, its
  ``\\r`` included, at most :data:`MAX_REPLY` bytes), or ``b""`` when the
  device said nothing in time — a silent device is not an error here;
* it raises ``OSError`` (or :class:`~pnut.driver.base.DeviceGone`) when the
  device is gone (port vanished, EIO, USB ENODEV): the driver framework
  then marks the data stale and reconnects;
* ``open()`` raises ``OSError`` while the device is absent.

Serial replies are read as NUT reads them in canonical mode: a reply is
complete at the first ``\\r`` or ``\\n``; bytes without one before the
timeout count as no reply; input left over is flushed before the next
command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any, Protocol

log = logging.getLogger("pnut.driver")

#: NUT's reply buffer (SMALLBUF - 1).
MAX_REPLY = 511
#: Bytes kept while waiting for the end of a line (a tty's canonical line limit).
MAX_LINE = 4096
#: Seconds nutdrv_qx waits for a serial reply (NUT's SER_WAIT_SEC).
SER_WAIT_SEC = 1.0
#: DTR/RTS per ``cablepower`` (NUT's table; "normal" is the default).
CABLEPOWER: dict[str, tuple[bool, bool]] = {
    "normal": (True, False),
    "reverse": (False, True),
    "both": (True, True),
    "none": (False, False),
}


class QxTransport(Protocol):
    """One command, one reply; see the module docstring for the contract."""

    async def open(self) -> None: ...

    async def command(self, cmd: bytes) -> bytes: ...

    def close(self) -> None: ...


def split_line(buf: bytes) -> bytes | None:
    """The first complete line of ``buf`` (terminator included, capped), else None."""
    ends = [i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0]
    if not ends:
        return None
    return buf[: min(ends) + 1][:MAX_REPLY]


class SerialTransport:
    """A Q* device on a serial port (or a pty standing in for one)."""

    def __init__(self, path: str, *, baudrate: int = 2400, timeout: float = SER_WAIT_SEC,
                 cablepower: str = "normal", exclusive: bool = True) -> None:
        self.path = path
        self.baudrate = baudrate
        self.timeout = timeout
        self.dtr, self.rts = CABLEPOWER[cablepower]
        self.exclusive = exclusive
        self._ser: Any = None

    async def open(self) -> None:
        try:
            import serial  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - the 'serial' extra
            raise OSError("pyserial is not installed (pip install 'pnut[serial]')") from None
        try:
            self._ser = serial.Serial(self.path, self.baudrate, timeout=0,
                                      exclusive=self.exclusive or None)
        except (serial.SerialException, ValueError) as exc:
            raise OSError(f"cannot open {self.path}: {exc}") from None
        for attr, value in (("dtr", self.dtr), ("rts", self.rts)):
            try:
                setattr(self._ser, attr, value)
            except (OSError, serial.SerialException):
                log.debug("%s: cannot set %s (a pty has no modem lines)", self.path, attr)
        await asyncio.sleep(0.1)  # let the cable power settle, as NUT does

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.close()

    @property
    def fd(self) -> int:
        if self._ser is None:
            raise OSError(f"{self.path} is not open")
        fd: int = self._ser.fileno()
        return fd

    async def command(self, cmd: bytes) -> bytes:
        fd = self.fd
        self._flush(fd)
        self._write(fd, cmd)
        return await self.read_line(fd, self.timeout)

    def _flush(self, fd: int) -> None:
        import termios

        try:
            termios.tcflush(fd, termios.TCIFLUSH)
        except termios.error as exc:
            raise OSError(f"{self.path}: {exc}") from None

    def _write(self, fd: int, data: bytes) -> None:
        deadline = time.monotonic() + self.timeout
        while data:
            try:
                sent = os.write(fd, data)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OSError(f"{self.path}: write timed out") from None
                time.sleep(0.01)
                continue
            data = data[sent:]

    async def read_line(self, fd: int, timeout: float) -> bytes:
        """One reply line, or b"" when none is complete within ``timeout``."""
        loop = asyncio.get_running_loop()
        buf = b""
        deadline = loop.time() + timeout
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        try:
            while True:
                line = split_line(buf)
                if line is not None:
                    return line
                left = deadline - loop.time()
                if left <= 0:
                    return b""
                ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), left)
                if not ready.is_set():
                    continue
                try:
                    chunk = os.read(fd, 1024)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise OSError(f"{self.path}: end of file (device gone)")
                buf = (buf + chunk)[-MAX_LINE:]
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(fd)
