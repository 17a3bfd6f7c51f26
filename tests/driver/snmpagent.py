"""A real SNMP agent for the snmp-ups tests: snmpsim on 127.0.0.1.

:class:`Agent` copies the ``.snmprec`` fixtures (tests/fixtures/snmp) into
a temp dir, starts ``snmpsim-command-responder`` on a free UDP port and
waits until it answers.  Each fixture is served under its own community
(``apcc``, ``mge`` ...); SNMPv3 users see ``public.snmprec``.  Records
tagged ``writecache`` accept SET, so a test can read back what a driver
wrote, or change the UPS's state under a running driver.  The agent can be
stopped and started again on the same port (unplug/replug).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support import REPO, wait_for

FIXTURES = REPO / "tests" / "fixtures" / "snmp"
RESPONDER = Path(sys.executable).parent / "snmpsim-command-responder"
V3 = {"user": "nutv3", "auth": "authpass123", "priv": "privpass123"}


def have_snmpsim() -> bool:
    return RESPONDER.exists()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def snmp_get(port: int, community: str, oid: str, timeout: float = 2.0) -> str | None:
    """One GET with Debian's snmpget (an independent client): the value text, or None."""
    try:
        out = subprocess.run(
            ["snmpget", "-v2c", "-c", community, "-On", "-Oqv", "-t", str(timeout), "-r", "0",
             f"127.0.0.1:{port}", oid], capture_output=True, text=True, timeout=timeout + 5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip()
    if out.returncode != 0 or not text or text.startswith("No Such"):
        return None
    return text.strip('"')


def snmp_set(port: int, community: str, oid: str, kind: str, value: str) -> bool:
    out = subprocess.run(["snmpset", "-v2c", "-c", community, "-t", "3", "-r", "1",
                          f"127.0.0.1:{port}", oid, kind, value],
                         capture_output=True, text=True, timeout=15)
    return out.returncode == 0


class Agent:
    """snmpsim serving the fixtures; ``public`` (and SNMPv3) is ``v3_data``."""

    def __init__(self, v3_data: str = "apcc", extra: dict[str, str] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="snmpsim-", dir="/tmp"))
        self.data = self.dir / "data"
        self.data.mkdir()
        for path in FIXTURES.glob("*.snmprec"):
            shutil.copy(path, self.data / path.name)
        shutil.copy(FIXTURES / f"{v3_data}.snmprec", self.data / "public.snmprec")
        for name, text in (extra or {}).items():
            (self.data / f"{name}.snmprec").write_text(text)
        (self.dir / "cache").mkdir()
        self.port = free_udp_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "snmpsim.log"

    def start(self, wait: float = 30.0) -> Agent:
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [str(RESPONDER), f"--data-dir={self.data}", f"--cache-dir={self.dir / 'cache'}",
                 f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
                 f"--v3-user={V3['user']}", f"--v3-auth-key={V3['auth']}", "--v3-auth-proto=SHA",
                 f"--v3-priv-key={V3['priv']}", "--v3-priv-proto=AES"],
                env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: self.proc is None or self.proc.poll() is not None
                 or snmp_get(self.port, "public", "1.3.6.1.2.1.1.2.0", 1.0) is not None,
                 timeout=wait)
        if self.proc.poll() is not None:
            raise RuntimeError(f"snmpsim exited: {self.log.read_text(errors='replace')[-2000:]}")
        for name in ("apcc", "ietf", "mge", "cyberpower"):  # first use of a file is slow
            snmp_get(self.port, name, "1.3.6.1.2.1.1.2.0", 5.0)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def get(self, community: str, oid: str) -> str | None:
        return snmp_get(self.port, community, oid)

    def set(self, community: str, oid: str, kind: str, value: str) -> bool:
        return snmp_set(self.port, community, oid, kind, value)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(cond: object, timeout: float) -> float:
    """Seconds until ``cond()`` is true (raises after ``timeout``)."""
    assert callable(cond)
    start = time.monotonic()
    wait_for(cond, timeout=timeout, interval=0.1)
    return time.monotonic() - start


class SnmpdV3:
    """Debian's snmpd as an SNMPv3 (authPriv, SHA/AES) front proxying to an :class:`Agent`.

    NUT's C snmp-ups gets no SNMPv3 answer from snmpsim, but does from
    net-snmp's own agent, so both drivers meet the same data through it.
    """

    def __init__(self, backend: Agent, community: str = "apcc") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="snmpd-", dir="/tmp"))
        self.port = free_udp_port()
        conf = self.dir / "snmpd.conf"
        target = f"127.0.0.1:{backend.port}"
        conf.write_text(
            f"agentAddress udp:127.0.0.1:{self.port}\n"
            f"createUser {V3['user']} SHA {V3['auth']} AES {V3['priv']}\n"
            f"rwuser {V3['user']} priv\n"
            f"proxy -v 2c -c {community} {target} .1.3.6.1.2.1.33\n"
            f"proxy -v 2c -c {community} {target} .1.3.6.1.4.1.318\n")
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(self.dir), MIBS="", MIBDIRS="")
        self.log = self.dir / "snmpd.log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                ["snmpd", "-f", "-Lo", "-C", "-c", str(conf), "-p", str(self.dir / "pid")],
                env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def up() -> bool:
            if self.proc.poll() is not None:
                return True
            out = subprocess.run(
                ["snmpget", "-v3", "-l", "authPriv", "-u", V3["user"], "-a", "SHA", "-A",
                 V3["auth"], "-x", "AES", "-X", V3["priv"], "-t", "1", "-r", "0",
                 f"127.0.0.1:{self.port}", "1.3.6.1.4.1.318.1.1.1.1.1.1.0"],
                capture_output=True, text=True, timeout=10)
            return out.returncode == 0 and "STRING" in out.stdout

        wait_for(up, timeout=30, interval=0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"snmpd exited: {self.log.read_text(errors='replace')[-2000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def have_snmpd() -> bool:
    return shutil.which("snmpd") is not None and shutil.which("snmpget") is not None
