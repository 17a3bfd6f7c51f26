"""A Q* (Megatec family) UPS on a pty, for tests and benchmarks.

How this works
--------------
Written from the Megatec protocol document (NUT website, protocols/
megatec.txt) and the dialect notes in NUT's driver sources, not from pnut's
driver, so the two check each other.
:class:`~pnut.driver.emulators.qxdevice.QxDevice` is the device without
I/O: its ``handle`` takes one command line and returns the reply bytes
(``b""`` = silence).  Per dialect only three things move:
the status command (``Q1``, ``D``, ``QS``), the vendor command (``I``,
``FW?`` or none) and whether ``M`` answers ``V`` (Voltronic-QS).  As the
document asks, an unknown command is echoed back; control commands
(``Q``, ``S..``, ``C``, ``T..``, ``CT``) change the state and answer nothing
— except on Mecer units, which answer ``(ACK``/``(NAK`` and ``QPI`` with
``(PI98`` (NUT's mecer subdriver notes).

The state is a JSON file (``--state``) read again whenever it changes:
readings, the eight status bits, and ``fault`` — ``garbage`` (random bytes
and ``\\r``), ``truncated`` (the reply cut in half), ``nonnumeric`` (letters
in the numbers), ``silent`` (no reply at all) or ``none``.  Every command
received is appended to ``--log`` byte for byte (as Python bytes reprs, one
per line), so tests can check what a driver really sent.

:func:`serve` runs it on a pty pair whose slave is linked at ``--link``;
stopping the process (SIGTERM) is "unplugging": the link goes and the
driver's reads fail; starting it again at the same link is "plugging in".

    python -m pnut.driver.emulators.qx --dialect megatec --link /tmp/ttyQX0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import termios
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pnut.driver.emulators.qxdevice import DIALECTS, MAX_COMMAND, QxDevice
from pnut.driver.emulators.voltronic import VoltronicDevice


class HasState(Protocol):
    state: dict[str, Any]


class StateFile:
    """The JSON state, re-read when its modification time changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.mtime = 0

    def refresh(self, device: HasState) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime_ns
            if mtime == self.mtime:
                return
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        self.mtime = mtime
        if isinstance(data, dict):
            device.state.update(data)


def open_pty(link: Path) -> tuple[int, int]:
    """A raw pty pair with its slave linked at ``link``; (master, slave)."""
    master, slave = os.openpty()
    tty.setraw(master)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    tmp = link.with_name(link.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.ttyname(slave), tmp)
    os.replace(tmp, link)
    return master, slave


def serve_pty(link: Path, received: Callable[[bytes], bytes],
              tick: Callable[[], bytes] | None = None, read_size: int = 1024) -> None:
    """Serve the pty linked at ``link`` until SIGTERM or SIGINT, then unlink it.

    ``received`` gets what the driver wrote and returns the reply; ``tick``
    (every 0.2 s at least, before reading) returns what the device says
    unasked.  Shared by the Q* and APC emulators.
    """
    master, slave = open_pty(link)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop:
            ready, _, _ = select.select([master], [], [], 0.2)
            unasked = tick() if tick is not None else b""
            if unasked:
                os.write(master, unasked)
            if not ready:
                continue
            try:
                data = os.read(master, read_size)
            except OSError:
                continue
            reply = received(data)
            if reply:
                os.write(master, reply)
    finally:
        with contextlib.suppress(OSError):
            link.unlink()
        os.close(master)
        os.close(slave)


def serve(dialect: str, link: Path, state: Path | None, log: Path | None) -> None:
    device = VoltronicDevice() if dialect == "voltronic" else QxDevice(dialect)
    states = StateFile(state)
    states.refresh(device)
    buf = b""

    def received(chunk: bytes) -> bytes:
        nonlocal buf
        buf += chunk
        out = b""
        while b"\r" in buf:
            line, buf = buf.split(b"\r", 1)
            if log is not None:
                with open(log, "a") as fh:
                    fh.write(repr(line + b"\r") + "\n")
            states.refresh(device)
            out += device.handle(line.strip(b"\n"))
        buf = buf[-MAX_COMMAND:]
        return out

    serve_pty(link, received)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="megatec")
    parser.add_argument("--link", required=True, type=Path,
                        help="path of the symlink to the pty the driver opens")
    parser.add_argument("--state", type=Path, help="JSON file with readings, bits, fault")
    parser.add_argument("--log", type=Path, help="append every command received here")
    args = parser.parse_args(argv)
    serve(args.dialect, args.link, args.state, args.log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
