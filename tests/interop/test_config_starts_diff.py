"""The same upsmon.conf to NUT 2.8.0's upsmon and pnut's, the same upsd.conf to
both upsds: both start, or both refuse (issue 11: never refuse a
configuration that NUT accepts).

Each file holds lines NUT reads past (logging some of them). "Started" is
what each prints or writes once past its checks (NUT's upsmon with -F
writes no PID file; it initialises its TLS library right before its main
loop, saying "Init SSL without certificate database"; pnut's writes its PID
file; a upsd accepts a connection); "refused" is the process exiting on
its own. The MONITOR lines point to a port nothing listens on: only
starting matters here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import requires_nut
from support import NUT_LIBDIR, PNUT, free_port, wait_for

pytestmark = requires_nut

MON = "MONITOR u@127.0.0.1:{port} 1 admin pw primary\n"

CASES = [
    # (upsmon.conf, does NUT 2.8.0 start with it)
    ("MINSUPPLIES 0\nFORCESSL maybe\nPOLLFREQ 5s\nDEADTIME\n", True),
    (MON + "FINALDELAY -3\nMINSUPPLIES -1\nCERTVERIFY 2\nHOSTSYNC 5x\n", True),
    (MON.replace(" primary", " primary extra words") + "SHUTDOWNCMD /bin/echo down\n", True),
    (MON + 'SHUTDOWNCMD "/bin/true\nNOTIFYMSG ONBATT "UPS #1 on battery"\n', True),
    (MON + "MONITOR spare@127.0.0.1:{port} none admin pw secondary\nMONITOR x@h\n", True),
    ("MONITOR u@127.0.0.1:99999 1 admin pw primary\n", True),  # NUT counts its power value
    ("MONITOR u@127.0.0.1:{port} one admin pw primary\n", False),  # power 0 < MINSUPPLIES 1
    ("MINSUPPLIES 1\n", False),  # no MONITOR line: power 0
    (MON + "MONITOR old@127.0.0.1:{port} 1 pw primary\n", False),  # old-style: fatal
]


def _starts(argv: list[str], home: Path, nut: bool) -> bool:
    """True when the upsmon got past its checks; False when it exited first."""
    env = dict(os.environ, NUT_CONFPATH=str(home), NUT_STATEPATH=str(home),
               NUT_ALTPIDPATH=str(home))
    pid = home / "upsmon.pid"
    pid.unlink(missing_ok=True)
    out = home / ("nut.log" if nut else "pnut.log")

    def running() -> bool:
        if nut:
            return b"Init SSL without certificate database" in out.read_bytes()
        return pid.exists()

    with open(out, "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: running() or proc.poll() is not None, timeout=15)
        return proc.poll() is None and running()
    finally:
        _end(proc)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Stop a daemon this test started (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize(("text", "nut_starts"), CASES)
def test_upsmon_starts_exactly_when_nut_does(text: str, nut_starts: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="pnut-startdiff-") as tmp:
        home = Path(tmp)
        conf = home / "upsmon.conf"
        conf.write_text(text.format(port=free_port()))
        conf.chmod(0o600)
        nut = _starts([str(NUT_LIBDIR / "upsmon"), "-F", "-p"], home, nut=True)
        pnut = _starts([*PNUT, "upsmon", "-F", "-p"], home, nut=False)
        logs = [(home / f"{name}.log").read_text(errors="replace") for name in ("nut", "pnut")]
        assert (nut, pnut) == (nut_starts, nut_starts), logs


UPSD_CASES = [
    # (upsd.conf after "LISTEN 127.0.0.1 <port>", does NUT 2.8.0's upsd start with it)
    ("MAXAGE 15s\nALLOW_NO_DEVICE perhaps\nDEBUG_MIN lots\nTRACKINGDELAY\nCERTREQUEST 7\n"
     "DISABLE_WEAK_SSL strongly\nMAXCONN 64conns\nTLS_MIN_VERSION 1.1\n", True),
    ('LISTEN 127.0.0.1 {port} extra words\nDATAPATH "/usr/share/nut # x\n', True),
    ("LISTEN 127.0.0.1 nosuchservice\n", False),  # getaddrinfo fails: fatal in NUT
]


def _upsd_starts(argv: list[str], home: Path, port: int, name: str) -> bool:
    """True when the upsd accepts connections; False when it exited first."""
    env = dict(os.environ, NUT_CONFPATH=str(home), NUT_STATEPATH=str(home),
               NUT_ALTPIDPATH=str(home), ALLOW_NO_DEVICE="true")

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
        except OSError:
            return False
        return True

    with open(home / f"{name}.log", "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: proc.poll() is not None or listening(), timeout=15)
        return proc.poll() is None
    finally:
        _end(proc)


@pytest.mark.parametrize(("text", "nut_starts"), UPSD_CASES)
def test_upsd_starts_exactly_when_nut_does(text: str, nut_starts: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="pnut-startdiff-") as tmp:
        home = Path(tmp)
        home.chmod(0o755)
        port = free_port()
        (home / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n" + text.format(port=port))
        (home / "ups.conf").write_text("")
        (home / "upsd.users").write_text("")
        nut = _upsd_starts([str(NUT_LIBDIR / "upsd"), "-F", "-u", "root"], home, port, "nut")
        pnut = _upsd_starts([*PNUT, "upsd", "-F", "-u", "root", "--confdir", str(home)], home,
                            port, "pnut")
        logs = [(home / f"{name}.log").read_text(errors="replace") for name in ("nut", "pnut")]
        assert (nut, pnut) == (nut_starts, nut_starts), logs
