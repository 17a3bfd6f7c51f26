"""Serial ports that answer a UPS probe: Megatec ``Q1`` or APC Smart ``Y``.

:func:`probe_port` opens the port raw at 2400 8N1 (both protocols' speed),
sends ``Q1\\r`` and accepts a ``(``-reply of at least eight fields
(nutdrv_qx); otherwise sends ``Y`` and accepts ``SM`` (apcsmart).  Every
read has a deadline and a size bound, so a silent or chattering port costs
at most a few timeouts.  The drivers' own detection may share this probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import select
import termios
import time
from collections.abc import Iterable

from pnut.scan import Found

#: Longest reply read from a port (a Q1 line is 46 bytes).
MAX_REPLY = 256
DEFAULT_GLOBS = ("/dev/ttyS*", "/dev/ttyUSB*", "/dev/ttyACM*")


def default_ports() -> list[str]:
    return sorted(p for pattern in DEFAULT_GLOBS for p in glob.glob(pattern))


def _configure(fd: int) -> None:
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0  # iflag
    attrs[1] = 0  # oflag
    attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL  # cflag
    attrs[3] = 0  # lflag
    attrs[4] = attrs[5] = termios.B2400
    attrs[6][termios.VMIN] = 0
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    termios.tcflush(fd, termios.TCIOFLUSH)


def _ask(fd: int, command: bytes, timeout: float, end: bytes) -> bytes:
    """Send ``command``; the reply up to ``end`` (or what came before the deadline)."""
    os.write(fd, command)
    deadline = time.monotonic() + timeout
    buf = b""
    while len(buf) < MAX_REPLY:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, MAX_REPLY - len(buf))
        if not chunk:
            break
        buf += chunk
        if end in buf:
            break
    return buf


def probe_port(path: str, timeout: float = 1.0) -> Found | None:
    """What answers on ``path``: a Q1 UPS (nutdrv_qx), an APC Smart UPS (apcsmart) or nothing."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with contextlib.suppress(termios.error):
            _configure(fd)
        reply = _ask(fd, b"Q1\r", timeout, b"\r")
        if reply.startswith(b"(") and len(reply.split()) >= 8:
            return Found("SERIAL", "nutdrv_qx", path)
        with contextlib.suppress(termios.error):
            termios.tcflush(fd, termios.TCIFLUSH)
        reply = _ask(fd, b"Y", timeout, b"\n")
        if reply.strip() == b"SM":
            return Found("SERIAL", "apcsmart", path)
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


async def scan_serial(ports: Iterable[str], timeout: float = 1.0) -> list[Found]:
    """Probe each port (in threads, a few at a time); the ones that answered."""
    sem = asyncio.Semaphore(8)

    async def one(path: str) -> Found | None:
        async with sem:
            return await asyncio.to_thread(probe_port, path, timeout)

    results = await asyncio.gather(*(one(p) for p in ports))
    return [r for r in results if r is not None]
