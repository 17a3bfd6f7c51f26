"""Certificates from pnut cert used in real TLS handshakes; password hashing."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnut.config import passwords
from pnut.tls import certs
from pnut.tls.contexts import check_pin, client_context, server_context


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext,
              host: str = "localhost") -> ssl.SSLSocket:
    """A real TLS handshake over loopback TCP; returns the client socket."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hello\n")
                tls.recv(10)
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        tls = client_ctx.wrap_socket(raw, server_hostname=host)
        assert tls.recv(6) == b"hello\n"
        return tls
    finally:
        thread.join(0.1)
        listener.close()


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    certs.init_pki(tmp_path, ["localhost", "127.0.0.1"])
    return tmp_path


def test_server_cert_verifies_against_ca_with_tls13(pki: Path) -> None:
    tls = handshake(server_context(pki / "server.pem"), client_context(pki / "ca.pem"))
    assert tls.version() == "TLSv1.3"
    tls.close()


def test_pin_matches_fingerprint_printed_by_cert_tool(pki: Path) -> None:
    pin = certs.fingerprint(certs.load_first_cert(pki / "server.pem"))
    tls = handshake(server_context(pki / "server.pem"), client_context(verify=False))
    check_pin(tls, pin)
    with pytest.raises(ssl.SSLError, match="pin mismatch"):
        check_pin(tls, "00" * 32)
    tls.close()


def test_wrong_host_is_refused(pki: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|match"):
        handshake(server_context(pki / "server.pem"), client_context(pki / "ca.pem"),
                  host="other.example")


def test_certificate_from_another_ca_is_refused(
    pki: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other")
    certs.make_ca(other)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server_context(pki / "server.pem"), client_context(other / "ca.pem"))


def test_expired_certificate_is_refused(pki: Path) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    certs.issue(pki, "expired", ["localhost"], days=1, not_before=old)
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        handshake(server_context(pki / "expired.pem"), client_context(pki / "ca.pem"))


def test_client_certificate_required(pki: Path) -> None:
    made = certs.issue(pki, "mon1", client=True)
    strict = server_context(pki / "server.pem", client_ca=pki / "ca.pem", require_client_cert=True)
    tls = handshake(strict, client_context(pki / "ca.pem", certfile=made.cert))
    tls.close()
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls = handshake(strict, client_context(pki / "ca.pem"))
        tls.recv(1)  # TLS 1.3 reports the refused client cert on first read


def test_tls12_only_when_allowed(pki: Path) -> None:
    old_client = client_context(pki / "ca.pem")
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        handshake(server_context(pki / "server.pem"), old_client)
    tls = handshake(server_context(pki / "server.pem", allow_tls12=True), old_client)
    assert tls.version() == "TLSv1.2"
    tls.close()


def test_cert_cli_prints_config_lines_and_pin(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pnut", "cert", "init", "--dir", str(tmp_path),
                          "--host", "ups.example"], capture_output=True, text=True, check=True)
    assert f"CERTFILE {tmp_path / 'server.pem'}" in out.stdout
    pin = certs.fingerprint(certs.load_first_cert(tmp_path / "server.pem"))
    assert pin in out.stdout
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0
    show = [sys.executable, "-m", "pnut", "cert", "show", str(tmp_path / "server.pem")]
    shown = subprocess.run(show, capture_output=True, text=True, check=True)
    assert "ups.example" in shown.stdout and pin in shown.stdout


def test_cert_init_never_silently_replaces_a_server_certificate(tmp_path: Path) -> None:
    """A new certificate is a new pin: every client that pinned the old one breaks."""
    env = {**os.environ, "NUT_CONFPATH": str(tmp_path)}
    init = [sys.executable, "-m", "pnut", "cert", "init"]
    first = subprocess.run(init, capture_output=True, text=True, env=env)
    assert first.returncode == 0
    where = tmp_path / "tls"
    assert first.stderr == f"pnut cert: writing to {where} (choose another place with --dir)\n"
    pin = certs.fingerprint(certs.load_first_cert(where / "server.pem"))
    again = subprocess.run(init, capture_output=True, text=True, env=env)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == (f"pnut cert: {where / 'server.pem'} exists and clients may have "
                            f"pinned it: keeping it (run 'pnut cert show {where / 'server.pem'}' "
                            "for its pin; add --force to replace it)\n")
    assert certs.fingerprint(certs.load_first_cert(where / "server.pem")) == pin
    forced = subprocess.run([*init, "--force", "--dir", str(where)], capture_output=True,
                            text=True, env=env)
    assert forced.returncode == 0 and forced.stderr == ""  # --dir given: nothing to announce
    assert certs.fingerprint(certs.load_first_cert(where / "server.pem")) != pin


def test_plain_and_hashed_passwords() -> None:
    assert passwords.verify("secret", "secret")
    assert not passwords.verify("secret", "Secret")
    hashed = passwords.hash_password("s3cret pw")
    assert passwords.is_hashed(hashed) and "s3cret" not in hashed
    assert passwords.verify(hashed, "s3cret pw")
    assert passwords.verify(hashed, "s3cret pw")  # cached path
    assert not passwords.verify(hashed, "wrong")
    assert passwords.check_hash_syntax("$argon2id$garbage") is not None
    assert passwords.check_hash_syntax(hashed) is None


@settings(max_examples=300)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_plain_passwords_compare_as_equality(a: bytes, b: bytes) -> None:
    """same_bytes (hmac.compare_digest's job, without loading libcrypto) is ==."""
    assert passwords.same_bytes(a, b) == (a == b)
    assert passwords.same_bytes(a, a)


def test_passwd_cli_never_prints_the_password() -> None:
    out = subprocess.run([sys.executable, "-m", "pnut", "passwd", "--stdin"], input="tops3cret\n",
                         capture_output=True, text=True, check=True)
    assert "tops3cret" not in out.stdout + out.stderr
    stored = out.stdout.split('"')[1]
    assert passwords.verify(stored, "tops3cret")
