"""Real processes for tests: NUT's C daemons and pnut's, on random ports.

A :class:`Stack` is one private NUT installation in a temp dir: ups.conf,
upsd.conf, upsd.users, the .dev files, a state dir for driver sockets, and
the processes started from it.  Either half can be NUT's C binaries from
Debian (``impl="nut"``) or pnut's (``impl="pnut"``), so the same test can
run against both and compare.  Every process is started by the stack and
ended by PID when the stack closes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

NUT_LIBDIR = Path("/lib/nut")
NUT_BINDIR = Path("/usr/bin")
REPO = Path(__file__).resolve().parent.parent
#: nut-ddl dumps copied into the repository (source and licence in their README).
FIXTURES = REPO / "tests" / "fixtures" / "ddl"
PNUT = [sys.executable, "-m", "pnut"]

DEFAULT_USERS = """\
[admin]
  password = "s3cret pw"
  actions = SET FSD
  instcmds = ALL
  upsmon primary

[monuser]
  password = mon
  upsmon secondary

[setonly]
  password = setpw
  actions = SET
"""


def have_nut() -> bool:
    return (NUT_LIBDIR / "upsd").exists() and (NUT_BINDIR / "upsc").exists()


# The reference implementation and the emulators the tests compare pnut with
# must be there: a test that needs a missing one FAILS, saying what is missing
# (CI, scripts/test), instead of skipping silently.  Only a developer who says
# so (PNUT_ALLOW_NO_NUT=1) gets such tests skipped, and never in CI (CI set).
# tests/conftest.py acts on the ``needs`` mark.
ALLOW_MISSING = os.environ.get("PNUT_ALLOW_NO_NUT") == "1" and not os.environ.get("CI")


def needs(missing: str | None) -> pytest.MarkDecorator:
    """Mark a test needing a peer or tool (NUT's binaries, umockdev, snmpsim...):
    ``missing`` says what is absent, None when everything is there."""
    return pytest.mark.needs(missing)


requires_nut = needs(None if have_nut() else "Debian nut-server/nut-client not installed")


def use_nut() -> bool:
    """Whether a test runs its NUT half: always, unless NUT is missing and a developer
    said PNUT_ALLOW_NO_NUT=1 (elsewhere a missing NUT then fails that half)."""
    return have_nut() or not ALLOW_MISSING


def private_run_nut(argv: list[str]) -> list[str]:
    """``argv`` (NUT's upsmon) in a mount namespace with a /run/nut of its own.

    NUT 2.8.0's upsmon running as root keeps its PID file in the compiled-in
    /run/nut whatever NUT_ALTPIDPATH says, and refuses to start while that
    file names a live upsmon: tests would write the machine's /run/nut and
    refuse each other (in parallel, or two checkouts on one machine).  The
    PID stays the same (unshare and sh exec), so the stack stops it by PID.
    """
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return argv
    setup = ("if [ -d /run/nut ]; then mount -t tmpfs -o size=1m,mode=0770 pnut-test /run/nut;"
             " else mount -t tmpfs -o size=1m pnut-test /run && mkdir -m 0770 /run/nut; fi")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'{setup} && exec "$@"', "sh", *argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = cond()
        except Exception as exc:
            last_exc = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met in {timeout}s (last error: {last_exc!r})")


def talk(port: int, lines: list[str], host: str = "127.0.0.1", timeout: float = 5.0,
         tls: bool = False) -> list[str]:
    """Send request lines on one connection; return the reply lines.

    Reads until every request got its answer (a LIST counts until its
    END LIST), so the result is the exact transcript the server wrote.
    ``tls`` sends STARTTLS first and encrypts without checking the
    certificate (for servers with REQUIRE_TLS; TLS tests check it themselves).
    """
    with socket.create_connection((host, port), timeout=timeout) as plain:
        sock: socket.socket = plain
        if tls:
            plain.sendall(b"STARTTLS\n")
            answer = plain.recv(64)
            if answer != b"OK STARTTLS\n":
                raise ConnectionError(f"STARTTLS refused: {answer!r}")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(plain, server_hostname=host)
        out: list[str] = []
        buf = b""
        for line in lines:
            sock.sendall(line.encode("latin-1") + b"\n")
            want_list = line.split()[:1] and line.split()[0].upper() == "LIST"
            while True:
                while b"\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return out
                    buf += chunk
                raw, buf = buf.split(b"\n", 1)
                text = raw.decode("latin-1")
                out.append(text)
                if not want_list or text.startswith(("END LIST", "ERR")):
                    break
        return out


@dataclass
class Ups:
    name: str
    dev: str  # contents of the .dev/.seq file
    desc: str | None = None
    suffix: str = ".dev"
    extra: dict[str, str] = field(default_factory=dict)
    #: ups.conf ``driver``; anything but dummy-ups exists only as a pnut driver.
    driver: str = "dummy-ups"


class Stack:
    """A private config dir plus the drivers and upsd started from it."""

    def __init__(
        self,
        upses: list[Ups],
        *,
        users: str = DEFAULT_USERS,
        upsd_conf: str = "",
        port: int | None = None,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pnut-test-"))
        os.chmod(self.dir, 0o755)
        self.state = self.dir / "state"
        self.state.mkdir()
        os.chmod(self.state, 0o777)
        self.port = port or free_port()
        self.upses = upses
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        conf = []
        for ups in upses:
            dev = self.dir / f"{ups.name}{ups.suffix}"
            dev.write_text(ups.dev)
            conf.append(f"[{ups.name}]\n  driver = {ups.driver}\n  port = {dev.name}\n")
            if ups.desc is not None:
                conf.append(f'  desc = "{ups.desc}"\n')
            conf.extend(f"  {k} = {v}\n" for k, v in ups.extra.items())
        self.write("ups.conf", "".join(conf))
        self.write("upsd.conf", f"LISTEN 127.0.0.1 {self.port}\n{upsd_conf}")
        self.write("upsd.users", users)

    # -- files -------------------------------------------------------------
    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text)
        os.chmod(path, 0o644)
        return path

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            NUT_CONFPATH=str(self.dir),
            NUT_STATEPATH=str(self.state),
            NUT_ALTPIDPATH=str(self.state),
            # Where pnut's upsd keeps its own certificate (never the host's /var/lib/nut).
            STATE_DIRECTORY=str(self.dir / "lib"),
            PYTHONUNBUFFERED="1",
        )
        return env

    # -- processes -----------------------------------------------------------
    def spawn(
        self, argv: list[str], name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a process owned by the stack; ``env`` overrides variables."""
        log = self.dir / f"{name}.log"
        self.logs.append(log)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                argv, env={**self.env, **(env or {})}, cwd=self.dir, stdout=fh,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        self.procs.append(proc)
        return proc

    def start_driver(
        self, ups: Ups, impl: str = "nut", wait: bool = True
    ) -> subprocess.Popen[bytes]:
        """Start a driver; ``wait=False`` returns at once (see :meth:`wait_driver`)."""
        if impl == "nut":
            argv = [str(NUT_LIBDIR / ups.driver), "-a", ups.name, "-F", "-u", "root"]
        else:
            argv = [*PNUT, "driver", ups.driver, "-a", ups.name, "-F", "-u", "root",
                    "--confdir", str(self.dir)]
        proc = self.spawn(argv, f"driver-{ups.name}-{impl}")
        if wait:
            self.wait_driver(ups, proc)
        return proc

    def wait_driver(self, ups: Ups, proc: subprocess.Popen[bytes]) -> None:
        """Wait until a driver started with ``wait=False`` has its socket."""
        sock = self.state / f"{ups.driver}-{ups.name}"
        wait_for(lambda: sock.exists() or proc.poll() is not None)
        if proc.poll() is not None:
            raise RuntimeError(f"driver exited: {self.log_text()}")

    def start_upsd(
        self, impl: str = "nut", wait_ups: bool = True, prefix: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start upsd; ``prefix`` wraps the command (e.g. ``taskset -c 0``)."""
        if impl == "nut":
            argv = [str(NUT_LIBDIR / "upsd"), "-F", "-u", "root"]
        else:
            argv = [*PNUT, "upsd", "-F", "-u", "root", "--confdir", str(self.dir)]
        proc = self.spawn([*(prefix or []), *argv], f"upsd-{impl}")
        wait_for(lambda: self._listening() or proc.poll() is not None)
        if proc.poll() is not None:
            raise RuntimeError(f"upsd exited: {self.log_text()}")
        if wait_ups:
            for ups in self.upses:
                wait_for(lambda u=ups: self._ready(u.name), timeout=15)
        return proc

    def start(self, upsd: str = "nut", driver: str = "nut") -> Stack:
        for ups in self.upses:
            self.start_driver(ups, driver)
        self.start_upsd(upsd)
        return self

    def _listening(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
            return True
        return False

    def _ready(self, ups: str) -> bool:
        reply = talk(self.port, [f"GET VAR {ups} ups.status"])
        if reply == ["ERR TLS-NOT-ENABLED"]:  # REQUIRE_TLS: ask again over TLS
            reply = talk(self.port, [f"GET VAR {ups} ups.status"], tls=True)
        return bool(reply) and reply[0].startswith("VAR") and '"WAIT"' not in reply[0]

    def talk(self, lines: list[str], tls: bool = False) -> list[str]:
        return talk(self.port, lines, tls=tls)

    def log_text(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.logs if p.exists()
        )

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def stack(upses: list[Ups], upsd: str = "nut", driver: str = "nut", **kw: Any) -> Iterator[Stack]:
    with Stack(upses, **kw) as st:
        st.start(upsd=upsd, driver=driver)
        yield st


def run(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 20, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing text output."""
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, **kw)
