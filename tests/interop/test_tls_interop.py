"""Other people's clients against pnut upsd with TLS required (REQUIRE_TLS).

What Debian's NUT 2.8.0 clients (an NSS build) do, found by running them:

- ``upsc`` (and upslog) send STARTTLS first (UPSCLI_CONN_TRYSSL), complete
  the handshake with TLS 1.3 *without checking the certificate*, print six
  lines about it on stderr, and work.
- ``upscmd`` and ``upsrw`` never send STARTTLS (flags 0), so against a
  server that requires TLS they fail: NUT has no text for
  ``ERR TLS-NOT-ENABLED`` and prints ``Error: Unknown error``.
- ``upsmon`` always tries STARTTLS; with CERTVERIFY 1 and CERTPATH pointing
  to an NSS database holding pnut's CA (``certutil -A ... -t CT,,``) it
  verifies pnut's certificate and logs in; with another CA it refuses.
- PyNUTClient (2.8.5 here) without ``use_ssl`` gets a clean
  ``ERR TLS-NOT-ENABLED``; with ``use_ssl`` and pnut's CA it works.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import requires_nut
from pnut.tls import certs
from support import NUT_BINDIR, NUT_LIBDIR, PNUT, Stack, Ups, private_run_nut, run, wait_for

pytestmark = requires_nut

USERS = "[mon]\n  password = monpw\n  upsmon secondary\n[admin]\n  password = adminpw\n" \
        "  actions = SET\n  instcmds = ALL\n"
DEV = "ups.status: OL\nups.load: 7\nups.id: x\n"
have_certutil = shutil.which("certutil") is not None
requires_certutil = pytest.mark.skipif(
    not have_certutil and not os.environ.get("CI"),
    reason="certutil (Debian's libnss3-tools) not installed")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("pki")
    certs.init_pki(where, ["127.0.0.1", "localhost"])
    return where


@pytest.fixture(scope="module")
def stack(pki: Path) -> Iterator[Stack]:
    st = Stack([Ups("u", DEV)], users=USERS,
               upsd_conf=f"CERTFILE {pki / 'server.pem'}\nREQUIRE_TLS yes\n")
    try:
        st.start(upsd="pnut", driver="pnut")
        yield st
    finally:
        st.close()


def test_nut_upsc_encrypts_without_checking_the_certificate(stack: Stack) -> None:
    done = run([str(NUT_BINDIR / "upsc"), f"u@127.0.0.1:{stack.port}", "ups.load"],
               env=stack.env)
    assert (done.returncode, done.stdout) == (0, "7\n")
    assert done.stderr.splitlines() == [
        "Init SSL without certificate database",
        "Connecting in SSL to '127.0.0.1' (no certificate name specified)",
        "Do not intend to authenticate server 127.0.0.1",
        "SSL handshake done successfully with server 127.0.0.1",
        "Connected to NUT server 127.0.0.1 in SSL",
        "Certificate verification is disabled",
    ]


@pytest.mark.parametrize("tool", ["upscmd", "upsrw"])
def test_nut_upscmd_and_upsrw_never_try_tls(stack: Stack, tool: str) -> None:
    target = f"u@127.0.0.1:{stack.port}"
    args = ["-l", target] if tool == "upscmd" else [target]
    nut = run([str(NUT_BINDIR / tool), *args], env=stack.env)
    assert (nut.returncode, nut.stderr.splitlines()[-1]) == (1, "Error: Unknown error")
    ours = run([*PNUT, tool, *args], env=stack.env)  # pnut's tools try STARTTLS first
    assert ours.returncode == 0, ours.stderr
    want = "Instant commands supported on UPS [u]:" if tool == "upscmd" else "[ups.id]"
    assert want in ours.stdout


def _nssdb(where: Path, ca: Path) -> Path:
    where.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{where}", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{where}", "-n", "pnut CA", "-t", "CT,,",
                    "-a", "-i", str(ca)], check=True, capture_output=True)
    return where


def _run_nut_upsmon(stack: Stack, home: Path, extra: str, want: str) -> str:
    """Start NUT's upsmon until ``want`` (or a failure) shows in its log; its log."""
    home.mkdir()
    os.chmod(home, 0o755)
    (home / "upsmon.conf").write_text(
        f"MONITOR u@127.0.0.1:{stack.port} 1 mon monpw secondary\nSHUTDOWNCMD /bin/true\n"
        f"POLLFREQ 1\nPOLLFREQALERT 1\nRUN_AS_USER root\n{extra}")
    env = {"NUT_CONFPATH": str(home), "NUT_ALTPIDPATH": str(home)}
    # its own /run/nut: no other upsmon's PID file can make it refuse to start
    proc = stack.spawn(private_run_nut([str(NUT_LIBDIR / "upsmon"), "-F", "-p", "-D"]),
                       f"nut-upsmon-{home.name}", env=env)
    log = stack.logs[-1]
    try:
        wait_for(lambda: proc.poll() is not None or want in log.read_text()
                 or "connect failed" in log.read_text(), timeout=20)
    finally:
        stack.stop(proc)
    return log.read_text()


def _numlogins(stack: Stack) -> int:
    return int(stack.talk(["GET NUMLOGINS u"], tls=True)[0].split()[-1])


def test_nut_upsmon_forcessl_without_verification(stack: Stack, tmp_path: Path) -> None:
    log = _run_nut_upsmon(stack, tmp_path / "force", "FORCESSL 1\n", "Logged into UPS")
    assert "Connected to NUT server 127.0.0.1 in SSL" in log
    assert "Logged into UPS u@127.0.0.1" in log
    assert "User mon@127.0.0.1 logged into UPS [u] (SSL)" in stack.log_text()


@requires_certutil
def test_nut_upsmon_verifies_pnut_certificate(stack: Stack, pki: Path, tmp_path: Path) -> None:
    db = _nssdb(tmp_path / "nssdb", pki / "ca.pem")
    log = _run_nut_upsmon(stack, tmp_path / "verify",
                          f"CERTVERIFY 1\nFORCESSL 1\nCERTPATH {db}\n", "Logged into UPS")
    assert "Intend to authenticate server 127.0.0.1 : SUCCESS" in log
    assert "Logged into UPS u@127.0.0.1" in log


@requires_certutil
def test_nut_upsmon_refuses_a_certificate_from_another_ca(stack: Stack, tmp_path: Path) -> None:
    other = tmp_path / "other-ca"
    certs.make_ca(other, "not pnut's CA")
    db = _nssdb(tmp_path / "nssdb", other / "ca.pem")
    before = _numlogins(stack)
    log = _run_nut_upsmon(stack, tmp_path / "wrong",
                          f"CERTVERIFY 1\nFORCESSL 1\nCERTPATH {db}\n", "Logged into UPS")
    assert "Certificate validation failed for 127.0.0.1" in log
    assert "Logged into UPS" not in log
    assert _numlogins(stack) == before


def test_pynutclient_without_tls_gets_a_clean_error(stack: Stack) -> None:
    from PyNUTClient import PyNUT  # type: ignore[import-untyped]

    client = PyNUT.PyNUTClient(host="127.0.0.1", port=stack.port, timeout=5)
    with pytest.raises(PyNUT.PyNUTError, match=r"^ERR TLS-NOT-ENABLED$"):
        client.GetUPSList()
    with pytest.raises(PyNUT.PyNUTError, match=r"^ERR TLS-NOT-ENABLED$"):
        PyNUT.PyNUTClient(host="127.0.0.1", port=stack.port, login="mon", password="monpw",
                          timeout=5)
    assert client.ver().startswith(b"Network UPS Tools upsd")  # VER is allowed in clear


def test_pynutclient_with_tls_and_pnut_ca(stack: Stack, pki: Path) -> None:
    from PyNUTClient import PyNUT

    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    try:
        client = PyNUT.PyNUTClient(host="127.0.0.1", port=stack.port, login="mon",
                                   password="monpw", timeout=5, use_ssl=True, ssl_context=ctx,
                                   force_ssl=True)
    except TypeError:
        pytest.skip("this PyNUTClient has no TLS support (2.8.0 has none)")
    assert client.GetUPSVars("u")[b"ups.load"] == b"7"
