"""The Smart-protocol serial line: one-character queries, line replies, alerts in between.

How this works
--------------
Replies end with CR LF (the CR is dropped, as NUT's IGNCR tty setting
does); ``*`` also ends a chunk (old models answer shutdown commands with
it).  Characters of the *ignore set* are dropped; *alert* characters
(``!$%+#?=``: on battery, back on line, low battery, ...) can arrive in
the middle of anything and are handed to a callback when the caller is
"alert aware" (NUT's SER_AA), as NUT's apc_read does.  The flags select
the timeout and the sets exactly as NUT's do (``D0``/``DX``/``D1``/``D3``,
``AA``, ``CC`` for the capability string, ``CS`` for the command set,
``TO`` to allow a timeout, ``HA`` to take ``*`` as "OK").

:meth:`ApcLink.read` returns ``(n, text)``: n > 0 characters, 0 for a
timeout (or an empty line), -1 for a broken reply (overflow, a partial line
then silence).  ``OSError`` means the port is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from pnut.driver.qx.transport import SerialTransport

D0, DX, D1, D3, AA, CC, CS, TO, HA = (1 << i for i in range(9))
IGN_AA = "\r|&"
ALERTS = "$!%+#?="
IGN_ALL = IGN_AA + ALERTS
IGN_CC = "\r|&$!%+?="
#: NUT's APC_LBUF: the longest reply kept.
LBUF = 512


class ApcLink:
    """A Smart-UPS on a serial port (or a pty)."""

    def __init__(self, path: str, *, cable_0095b: bool = False) -> None:
        self.port = SerialTransport(path, cablepower="normal" if cable_0095b else "none")
        self.on_alert: Callable[[str], None] = lambda ch: None
        self._pending = b""

    async def open(self) -> None:
        await self.port.open()
        self._pending = b""

    def close(self) -> None:
        self.port.close()

    # -- writing --------------------------------------------------------------
    def write(self, ch: str) -> int:
        self.port._write(self.port.fd, ch.encode("latin-1"))
        return 1

    async def write_long(self, text: str) -> int:
        """First character, check nothing came back, then the rest 50 ms apart."""
        self.write(text[0])
        n, _ = await self.read(DX | TO)
        if n:
            return -1
        for ch in text[1:]:
            await asyncio.sleep(0.05)
            self.write(ch)
        return len(text)

    async def write_rep(self, ch: str) -> int:
        """A character twice, 1.3 s apart (commands that must be confirmed)."""
        self.write(ch)
        n, _ = await self.read(DX | TO)
        if n:
            return -1
        await asyncio.sleep(1.3)
        self.write(ch)
        return 2

    async def flush(self, flags: int = 0) -> None:
        if flags & AA:
            while (await self.read(D0 | TO | AA))[0] > 0:
                pass
        else:
            self.port._flush(self.port.fd)
            self._pending = b""

    # -- reading ----------------------------------------------------------------
    async def read(self, flags: int) -> tuple[int, str]:
        timeout, ignore, alerts = 3.0, IGN_ALL, ""
        if flags & D0:
            timeout = 0.0
        if flags & DX:
            timeout = 0.2
        if flags & D1:
            timeout = 1.5
        if flags & D3:
            timeout = 3.0
        if flags & AA:
            ignore, alerts = IGN_AA, ALERTS
        if flags & CC:
            ignore, alerts, timeout = IGN_CC, "", 6.0
        if flags & CS:
            ignore, alerts, timeout = "", "", 6.0
        out: list[str] = []
        while True:
            chunk = self._take_chunk()
            if chunk is None:
                data = await self._receive(timeout)
                if not data:
                    return (-1, "") if out else (0, "")
                self._pending += data
                continue
            for byte in chunk:
                ch = chr(byte)
                if len(out) == LBUF - 1:
                    await self.flush()
                    return -1, ""
                if ch == "\n":
                    return len(out), "".join(out)
                if flags & HA and ch == "*":
                    await self._receive(1.0)
                    self._pending = b""
                    return 2, "OK"
                if ch == "\r" or ch in ignore or ch == "*":
                    continue
                if ch in alerts:
                    self.on_alert(ch)
                    continue
                out.append(ch)

    def _take_chunk(self) -> bytes | None:
        """The pending bytes up to a line end (LF or '*'), as a canonical tty gives them."""
        ends = [i for i in (self._pending.find(b"\n"), self._pending.find(b"*")) if i >= 0]
        if not ends:
            return None
        cut = min(ends) + 1
        chunk, self._pending = self._pending[:cut], self._pending[cut:]
        return chunk

    async def _receive(self, timeout: float) -> bytes:
        """Bytes that arrive within ``timeout`` (b"" if none); OSError if the port died."""
        fd = self.port.fd
        try:  # what is there already needs no wait (and no reader registration)
            data = os.read(fd, LBUF)  # b"" here is "nothing yet" (VMIN=0), not EOF
        except BlockingIOError:
            data = b""
        if data:
            return data
        if timeout <= 0:
            return b""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), timeout)
            if not ready.is_set():
                return b""
            try:
                data = os.read(fd, LBUF)
            except BlockingIOError:
                return b""
            if not data:
                raise OSError(f"{self.port.path}: end of file (device gone)")
            return data
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(fd)
