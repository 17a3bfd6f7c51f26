"""Helpers for the serial driver tests: emulator processes on pty pairs.

:class:`Emulator` runs ``python -m pnut.driver.emulators.<kind>`` with its
pty linked at a path in a private dir, a JSON state file the test edits,
and a log of every command the device received (one bytes repr a line).
``unplug()`` ends the process (the link goes), ``plug()`` starts it again
at the same link.  :class:`MemoryTransport` puts an emulator's sans-IO
device behind the nutdrv_qx transport interface, for fast engine tests.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from support import wait_for


class Device(Protocol):
    def handle(self, command: bytes) -> bytes: ...


class MemoryTransport:
    """A QxTransport answering from an in-process emulated device."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.sent: list[bytes] = []
        self.gone = False

    async def open(self) -> None:
        if self.gone:
            raise OSError("unplugged")

    async def command(self, cmd: bytes) -> bytes:
        if self.gone:
            raise OSError("unplugged")
        self.sent.append(cmd)
        return self.device.handle(cmd.rstrip(b"\r"))

    def close(self) -> None:
        return None


class Emulator:
    """One emulated serial UPS process."""

    def __init__(self, root: Path, kind: str, dialect: str, name: str = "tty",
                 state: dict[str, Any] | None = None) -> None:
        self.root = root
        self.kind = kind
        self.dialect = dialect
        self.link = root / name
        self.state_path = root / f"{name}.json"
        self.log_path = root / f"{name}.log"
        self.state_path.write_text(json.dumps(state or {}))
        self.proc: subprocess.Popen[bytes] | None = None

    def plug(self) -> None:
        argv = [sys.executable, "-m", f"pnut.driver.emulators.{self.kind}",
                "--dialect", self.dialect, "--link", str(self.link),
                "--state", str(self.state_path), "--log", str(self.log_path)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        wait_for(lambda: self.link.exists() or self.proc is None or
                 self.proc.poll() is not None, timeout=10)
        assert self.link.exists(), "emulator did not start"

    def unplug(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None
        wait_for(lambda: not os.path.lexists(self.link), timeout=5)

    def update(self, **changes: Any) -> None:
        state = json.loads(self.state_path.read_text())
        state.update(changes)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_path)

    def commands(self) -> list[bytes]:
        if not self.log_path.exists():
            return []
        return [ast.literal_eval(line) for line in self.log_path.read_text().splitlines()]

    def clear_log(self) -> None:
        self.log_path.write_text("")

    def __enter__(self) -> Emulator:
        self.plug()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unplug()
