"""Start and steer the umockdev USB HID UPS emulator (tests/usbhid/emu/hidups.py)."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
EMULATOR = HERE / "emu" / "hidups.py"
FIXTURES = HERE.parent / "fixtures" / "usb"
SYSTEM_PYTHON = "/usr/bin/python3"
PRELOAD = "libumockdev-preload.so.0"


def available() -> str | None:
    """Why the emulator cannot run here, or None when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return "no system python3"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('UMockdev', '1.0');"
         "from gi.repository import UMockdev"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        return "umockdev's GObject bindings (gir1.2-umockdev-1.0, python3-gi) are missing"
    if shutil.which("umockdev-wrapper") is None:
        return "umockdev is not installed"
    return None


class Emulator:
    """One emulated UPS; ``env`` runs a program against it."""

    def __init__(self, fixture: Path) -> None:
        self.fixture = fixture
        self.proc = subprocess.Popen(
            # Under umockdev's preload itself, so that its uevents reach libusb.
            ["umockdev-wrapper", SYSTEM_PYTHON, str(EMULATOR), str(fixture)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: queue.Queue[str] = queue.Queue()
        self.events: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self.lines.get(timeout=30)
        if not first.startswith("ready "):
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"emulator did not start: {first!r} {err[-2000:]}")
        _, root, bus, dev = first.split()
        self.root = root
        self.bus = int(bus)
        self.devnum = int(dev)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(("setreport ", "error ", "qxcmd ")):
                self.events.append(line)
            else:
                self.lines.put(line)
        self.lines.put("eof")


    def command(self, text: str, timeout: float = 20.0) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        answer = self.lines.get(timeout=timeout)
        if answer != "ok":
            raise RuntimeError(f"emulator answered {answer!r} to {text!r}")

    def set_reports(self, reports: dict[int, bytes]) -> None:
        for rid, data in reports.items():
            self.command(f"feature {rid} {data.hex()}")

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["UMOCKDEV_DIR"] = self.root
        env["LD_PRELOAD"] = PRELOAD
        return env

    def sync(self) -> None:
        """Wait until every event the emulator printed so far has been read."""
        self.command("sync")

    def setreports(self) -> list[str]:
        self.sync()
        return [e for e in self.events if e.startswith("setreport ")]

    def qx_commands(self) -> list[str]:
        """The Q1 commands the device received, in order."""
        self.sync()
        return [bytes.fromhex(e.split()[1]).decode("latin-1") for e in self.events
                if e.startswith("qxcmd ")]

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def emulator(fixture: Path) -> Iterator[Emulator]:
    emu = Emulator(fixture)
    try:
        yield emu
    finally:
        emu.close()


def wait_for(predicate: object, timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False


# -- running drivers against the emulator ------------------------------------
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

C_DRIVER = Path("/lib/nut/usbhid-ups")
REPO = HERE.parent.parent


def pnut_cmd() -> list[str]:
    return [sys.executable, "-m", "pnut", "driver", "-F", "-u", "root"]


class Workdir:
    """ups.conf and a state dir, short enough for Unix socket paths."""

    def __init__(self, options: dict[str, str] | None = None, flags: tuple[str, ...] = (),
                 driver: str = "usbhid-ups", env: dict[str, str] | None = None) -> None:
        self.driver = driver
        self.extra_env = dict(env or {})
        self.path = Path(tempfile.mkdtemp(prefix="pnutusb"))
        self.state = self.path / "s"
        self.state.mkdir()
        lines = ["[test]", f"driver = {driver}", "port = auto", "pollinterval = 1"]
        lines += [f"{k} = {v}" for k, v in (options or {}).items()]
        lines += list(flags)
        (self.path / "ups.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def env(self, emu: Emulator) -> dict[str, str]:
        env = emu.env()
        env["NUT_CONFPATH"] = str(self.path)
        env["NUT_STATEPATH"] = str(self.state)
        env["PYTHONPATH"] = str(REPO / "src")
        env.update(self.extra_env)
        return env

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def dump(emu: Emulator, work: Workdir, c_driver: bool) -> dict[str, str]:
    """Variables after one update (``-d 1``), driver.* left out."""
    cmd = ([str(C_DRIVER.parent / work.driver), "-u", "root"] if c_driver
           else [*pnut_cmd(), work.driver])
    proc = subprocess.run([*cmd, "-a", "test", "-d", "1"], env=work.env(emu),
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out = {}
    for line in proc.stdout.splitlines():
        name, sep, value = line.partition(": ")
        if sep and "." in name and " " not in name and not name.startswith("driver."):
            out[name] = value
    return out


class Running:
    """A driver process serving its socket, and a client on it."""

    def __init__(self, emu: Emulator, work: Workdir, c_driver: bool) -> None:
        cmd = ([str(C_DRIVER.parent / work.driver), "-u", "root", "-D"] if c_driver
               else [*pnut_cmd(), work.driver])
        self.proc = subprocess.Popen([*cmd, "-a", "test"], env=work.env(emu),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.path = work.state / f"{work.driver}-test"
        if not wait_for(lambda: self.path.exists() or self.proc.poll() is not None, 30):
            self.stop()
            raise RuntimeError("driver socket did not appear")
        if self.proc.poll() is not None:
            err = self.proc.stderr.read() if self.proc.stderr else b""
            raise RuntimeError(f"driver exited: {err[-2000:]!r}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.path))
        self.buf = b""

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")

    def lines_until(self, last: str, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        out: list[str] = []
        while True:
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                line = raw.decode()
                out.append(line)
                if line.startswith(last):
                    return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {last!r}; got {out[-5:]}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("driver closed its socket")
            self.buf += chunk

    def dumpall(self) -> list[str]:
        self.send("DUMPALL")
        return self.lines_until("DUMPDONE")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        with contextlib.suppress(OSError, AttributeError):
            self.sock.close()
