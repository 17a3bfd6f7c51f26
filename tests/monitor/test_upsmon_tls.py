"""pnut's upsmon and STARTTLS: upsmon.conf's TLS directives, then live against pnut upsd.

NUT's rules: STARTTLS is always tried; FORCESSL makes it mandatory;
CERTVERIFY checks the certificate against CERTPATH; CERTHOST sets both per
host (and the name to expect).  pnut adds CERTPIN and a client CERTFILE.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pnut.client import Client
from pnut.client.tls import TlsMode
from pnut.config.upsmon_conf import parse_upsmon_conf
from pnut.monitor.daemon import tls_settings
from pnut.tls import certs
from pnut.tls.contexts import client_context
from support import PNUT, Stack, Ups, wait_for

MONITOR = "MONITOR u@nas:3493 1 mon monpw secondary\n"


def test_tls_directives_and_the_settings_they_make() -> None:
    pin = "AB:" * 31 + "CD"
    conf = parse_upsmon_conf(
        MONITOR + "MONITOR v@other 1 mon monpw secondary\n"
        "CERTPATH /etc/nut/ca.pem\nCERTVERIFY 1\nFORCESSL 0\n"
        "CERTHOST other \"upsd.example\" 0 1\n"
        f"CERTPIN nas {pin}\nCERTFILE /etc/nut/upsmon.pem\n")
    nas = tls_settings(conf, "nas")
    assert (nas.mode, nas.verify, nas.cafile, nas.pin, nas.certfile, nas.server_name) == (
        TlsMode.TRY, True, "/etc/nut/ca.pem", pin.replace(":", "").lower(),
        "/etc/nut/upsmon.pem", None)
    assert nas.required  # verification asked for: never fall back to clear text
    other = tls_settings(conf, "other")  # CERTHOST: no verification, TLS forced
    assert (other.mode, other.verify, other.cafile, other.pin) == (
        TlsMode.REQUIRE, False, None, None)
    plain = tls_settings(parse_upsmon_conf(MONITOR), "nas")
    assert (plain.mode, plain.verify, plain.required) == (TlsMode.TRY, False, False)


@pytest.mark.parametrize(("extra", "line", "problem"), [
    # NUT's NSS build starts, and fails every verified connection without CA
    ("CERTVERIFY 1\n", 2, "certificate verification is on for nas but CERTPATH is not set: "
     "upsd's certificate is checked against the system's CA certificates"),
    ('CERTHOST nas "n" 1 0\n', 2, "certificate verification is on for nas but CERTPATH"),
    # pnut's own CERTPIN: NUT ignores the line whatever it holds
    ("CERTPIN nas 12:34\n", 2, "CERTPIN needs the SHA-256 fingerprint"),
    ("CERTPIN nas\n", 2, "CERTPIN needs 2 argument(s), got 1: the line is ignored"),
])
def test_tls_lines_nut_starts_with_are_warnings(extra: str, line: int, problem: str) -> None:
    conf = parse_upsmon_conf(MONITOR + extra + "SHUTDOWNCMD x\n")
    assert len(conf.warnings) == 1 and conf.warnings[0].startswith(f"upsmon.conf:{line}: {problem}")
    assert conf.certpins == {}


# -- live ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("pki")
    certs.init_pki(where, ["127.0.0.1"])
    certs.issue(where, "upsmon", client=True)
    return where


@pytest.fixture(scope="module")
def stack(pki: Path) -> Iterator[Stack]:
    st = Stack([Ups("u", "ups.status: OL\n")],
               users="[mon]\n  password = monpw\n  upsmon secondary\n",
               upsd_conf=f"CERTFILE {pki / 'server.pem'}\nREQUIRE_TLS yes\n"
                         f"CERTREQUEST REQUIRE\nCLIENTCAFILE {pki / 'ca.pem'}\n")
    try:
        st.start_driver(st.upses[0], "pnut")
        st.start_upsd("pnut", wait_ups=False)  # (its readiness check has no client certificate)
        ctx = client_context(pki / "ca.pem", certfile=pki / "upsmon.pem")

        def ready() -> bool:
            with Client("127.0.0.1", st.port) as c:
                c.starttls(ctx)
                return c.get_var("u", "ups.status") == "OL"
        wait_for(ready, timeout=15)
        yield st
    finally:
        st.close()


def _upsmon(stack: Stack, home: Path, extra: str, want: str) -> str:
    home.mkdir()
    (home / "upsmon.conf").write_text(
        f"MONITOR u@127.0.0.1:{stack.port} 1 mon monpw secondary\nSHUTDOWNCMD /bin/true\n"
        f"POLLFREQ 1\nPOLLFREQALERT 1\n{extra}")
    proc = stack.spawn([*PNUT, "upsmon", "-F", "-p", "-D"], f"upsmon-{home.name}",
                       env={"NUT_CONFPATH": str(home), "NUT_ALTPIDPATH": str(home)})
    log = stack.logs[-1]
    try:
        wait_for(lambda: proc.poll() is not None or want in log.read_text(), timeout=20)
    finally:
        stack.stop(proc)
    return log.read_text()


def test_verified_tls_with_a_client_certificate(stack: Stack, pki: Path, tmp_path: Path) -> None:
    log = _upsmon(stack, tmp_path / "good",
                  f"CERTPATH {pki / 'ca.pem'}\nCERTVERIFY 1\nFORCESSL 1\n"
                  f"CERTFILE {pki / 'upsmon.pem'}\n", "Logged into UPS")
    assert "connected in TLS (certificate checked)" in log
    assert "Traceback" not in log


def test_pin_mismatch_is_a_failed_connection(stack: Stack, pki: Path, tmp_path: Path) -> None:
    log = _upsmon(stack, tmp_path / "pin",
                  f"CERTPIN 127.0.0.1 {'00' * 32}\nCERTFILE {pki / 'upsmon.pem'}\n",
                  "connect failed")
    assert "certificate pin mismatch" in log and "Logged into UPS" not in log


def test_pin_alone_is_enough(stack: Stack, pki: Path, tmp_path: Path) -> None:
    pin = certs.fingerprint(certs.load_first_cert(pki / "server.pem"))
    log = _upsmon(stack, tmp_path / "pinned",
                  f"CERTPIN 127.0.0.1 {pin}\nCERTFILE {pki / 'upsmon.pem'}\n", "Logged into UPS")
    assert "connected in TLS (certificate checked)" in log


def test_without_client_certificate_the_server_refuses(stack: Stack, pki: Path,
                                                       tmp_path: Path) -> None:
    # TLS 1.3: the client finishes its side of the handshake before upsd checks the
    # client certificate, so upsmon sees the refusal as a connection closed at login.
    log = _upsmon(stack, tmp_path / "nocert",
                  f"CERTPATH {pki / 'ca.pem'}\nCERTVERIFY 1\nFORCESSL 1\n",
                  "connection lost while logging in")
    assert "Logged into UPS" not in log
    wait_for(lambda: "TLS handshake with 127.0.0.1 failed" in stack.log_text(), timeout=5)
