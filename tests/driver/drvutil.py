"""Helpers for the driver tests: a private conf/state dir and a socket client.

:class:`DriverDir` writes ups.conf and data files into a short temp dir
(socket paths must stay under 108 bytes), starts ``python -m pnut driver``
processes from it and ends them by PID.  :class:`SockConn` is a plain Unix
socket client of the driver socket, reading whole lines with a deadline.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import PNUT, wait_for


class SockConn:
    """A client of a driver socket, reading lines with deadlines."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.timeout = timeout

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\n" for line in lines).encode())

    def line(self, timeout: float | None = None) -> str:
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line from the driver; have {self.buf!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"driver closed the socket; have {self.buf!r}")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        return raw.decode()

    def until(self, predicate: object, timeout: float | None = None) -> list[str]:
        """Lines up to and including the first one ``predicate`` accepts."""
        assert callable(predicate)
        deadline = time.monotonic() + (timeout or self.timeout)
        out: list[str] = []
        while True:
            line = self.line(max(0.01, deadline - time.monotonic()))
            out.append(line)
            if predicate(line):
                return out

    def dump(self) -> list[str]:
        """Send DUMPALL and return the reply up to DUMPDONE (broadcasts off first)."""
        self.send("NOBROADCAST", "DUMPALL")
        return self.until(lambda line: line == "DUMPDONE")

    def value(self, name: str) -> str | None:
        """The current value of ``name`` via DUMPVALUE (None if absent)."""
        self.send(f"DUMPVALUE {name}")
        for line in self.until(lambda line: line == "DUMPDONE"):
            words = line.split(" ", 2)
            if words[0] == "SETINFO" and words[1] == name:
                return words[2][1:-1]
        return None

    def tracking(self, request: str, ident: str, timeout: float | None = None) -> int:
        """Send ``request TRACKING ident``; the driver's result code."""
        self.send(f"{request} TRACKING {ident}")
        reply = self.until(lambda line: line.startswith(f"TRACKING {ident} "), timeout)
        # Broadcasts that arrived first stay readable by the next call.
        self.buf = "".join(line + "\n" for line in reply[:-1]).encode() + self.buf
        return int(reply[-1].split()[2])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SockConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DriverDir:
    """A config dir + state dir, and the pnut driver processes started from them."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))
        self.state = self.dir / "s"
        self.state.mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(NUT_CONFPATH=str(self.dir), NUT_STATEPATH=str(self.state),
                   NUT_ALTPIDPATH=str(self.state), PYTHONUNBUFFERED="1")
        return env

    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text)
        return path

    def socket(self, driver: str, ups: str) -> Path:
        return self.state / f"{driver}-{ups}"

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a pnut command to completion (e.g. a driver that should fail)."""
        return subprocess.run([*PNUT, *args], env=self.env, cwd=self.dir, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def spawn(self, *args: str, name: str = "proc") -> subprocess.Popen[bytes]:
        log = self.dir / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as fh:
            proc = subprocess.Popen([*PNUT, *args], env=self.env, cwd=self.dir, stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def start(self, driver: str, ups: str, *extra: str) -> subprocess.Popen[bytes]:
        """Start ``pnut driver`` in the foreground and wait for its socket."""
        sock = self.socket(driver, ups)
        with_socket_gone = not sock.exists()
        proc = self.spawn("driver", driver, "-a", ups, "-F", "-u", "root", *extra,
                          name=f"{driver}-{ups}")

        def ready() -> bool:
            if proc.poll() is not None:
                return True
            return sock.exists() and (with_socket_gone or self._answers(sock))

        wait_for(ready, timeout=20)
        if proc.poll() is not None:
            raise RuntimeError(f"driver exited ({proc.returncode}): {self.log_text()}")
        return proc

    @staticmethod
    def _answers(path: Path) -> bool:
        try:
            with SockConn(path, timeout=1.0) as conn:
                conn.send("PING")
                return conn.line() == "PONG"
        except OSError:
            return False

    def conn(self, driver: str, ups: str) -> SockConn:
        return SockConn(self.socket(driver, ups))

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}"
                         for p in self.logs if p.exists())

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        # Drivers that went to the background (upsdrvctl, -B) were started by
        # these tests too; their PID files name them.
        for pidfile in self.state.glob("*.pid"):
            text = pidfile.read_text().strip()
            if text.isdigit() and _is_pnut_driver(int(text)):
                _terminate(int(text))
        shutil.rmtree(self.dir, ignore_errors=True)


def _terminate(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not _is_pnut_driver(pid), timeout=10)


def _is_pnut_driver(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return b"pnut" in cmdline and b"driver" in cmdline and state != "Z"


@pytest.fixture
def ddir() -> Iterator[DriverDir]:
    """A fresh DriverDir, closed (its processes ended by PID) after the test.

    Test modules import this fixture by name: a conftest.py in this folder
    would shadow tests/conftest.py for modules that ``import conftest``.
    """
    d = DriverDir()
    try:
        yield d
    finally:
        d.close()
