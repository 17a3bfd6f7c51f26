"""STARTTLS on pnut upsd with a CERTFILE: real handshakes, both sides real."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from conftest import requires_nut
from pnut.client import Client
from pnut.tls.certs import init_pki
from pnut.tls.contexts import client_context
from support import Stack, Ups
from upsd_support import USERS, Conn

pytestmark = requires_nut


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("pki")
    init_pki(where, ["127.0.0.1", "localhost"])
    return where


@pytest.fixture(scope="module")
def tls_stack(pki: Path) -> Iterator[Stack]:
    st = Stack([Ups("u", "ups.status: OL\nups.load: 3\n")], users=USERS,
               upsd_conf=f"CERTFILE {pki / 'server.pem'}\n")
    try:
        st.start(upsd="pnut")
        yield st
    finally:
        st.close()


def _upgraded(pki: Path, port: int) -> tuple[ssl.SSLSocket, BinaryIO]:
    """A connection that asked STARTTLS, got NUT's answer and finished the handshake."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        raw.sendall(b"STARTTLS\n")
        assert raw.recv(100) == b"OK STARTTLS\n"
        tls = client_context(pki / "ca.pem").wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise
    return tls, tls.makefile("rb")


def test_starttls_then_protocol_over_tls(pki: Path, tls_stack: Stack) -> None:
    tls, reader = _upgraded(pki, tls_stack.port)
    try:
        def ask(line: str) -> str:
            tls.sendall(line.encode() + b"\n")
            return reader.readline().decode().rstrip("\n")

        assert ask("GET VAR u ups.load") == 'VAR u ups.load "3"'
        assert ask("STARTTLS") == "ERR ALREADY-SSL-MODE"
        for line in ("USERNAME monuser", "PASSWORD mon", "LOGIN u"):
            assert ask(line) == "OK"
        assert ask("LOGOUT") == "OK Goodbye"
    finally:
        tls.close()
    assert "User monuser@127.0.0.1 logged into UPS [u] (SSL)" in tls_stack.log_text()


def test_pnut_client_library_upgrades(pki: Path, tls_stack: Stack) -> None:
    with Client("127.0.0.1", tls_stack.port, timeout=10) as c:
        c.starttls(client_context(pki / "ca.pem"), server_hostname="127.0.0.1")
        assert c.tls
        assert c.ver().startswith("Network UPS Tools upsd")


def test_failed_handshake_drops_only_that_client(tls_stack: Stack) -> None:
    with Conn(tls_stack.port) as bad, Conn(tls_stack.port) as good:
        assert bad.ask("STARTTLS") == ["OK STARTTLS"]
        bad.send(b"this is not a TLS client hello\n" * 10)
        assert bad.readline() is None  # dropped
        assert good.ask("GET VAR u ups.status") == ['VAR u ups.status "OL"']
        plain = socket.create_connection(("127.0.0.1", tls_stack.port), timeout=5)
        with plain, pytest.raises(ssl.SSLError):  # no STARTTLS first: a plain-text answer
            ssl.create_default_context().wrap_socket(plain, server_hostname="127.0.0.1")
        assert good.ask("NETVER") == ["1.3"]
    assert "TLS handshake with 127.0.0.1 failed" in tls_stack.log_text()


def test_a_forged_record_after_the_handshake_drops_that_client(pki: Path,
                                                              tls_stack: Stack) -> None:
    tls, reader = _upgraded(pki, tls_stack.port)
    try:
        tls.sendall(b"NETVER\n")
        assert reader.readline() == b"1.3\n"
        forged = b"\x17\x03\x03\x00\x20" + bytes(32)  # application data, bad tag
        assert os.write(tls.fileno(), forged) == len(forged)  # under the TLS socket
        with pytest.raises(OSError):  # dropped: reset, or the end without a reply
            if reader.readline() == b"":
                raise ConnectionResetError
    finally:
        tls.close()
    with Conn(tls_stack.port) as good:
        assert good.ask("NETVER") == ["1.3"]
    assert "Dropping client 127.0.0.1: TLS error" in tls_stack.log_text()


def test_unloadable_certfile_starts_without_starttls(tmp_path: Path) -> None:
    """Debian's NUT ignores CERTFILE and starts without TLS; so does pnut, logging the
    line (with REQUIRE_TLS, logins stay refused: tests/tls/test_upsd_tls_unavailable.py)."""
    st = Stack([Ups("u", "ups.status: OL\n")], users=USERS)
    try:
        st.write("upsd.conf", f"LISTEN 127.0.0.1 {st.port}\nCERTFILE {tmp_path}/missing.pem\n")
        st.start(upsd="pnut", driver="pnut")
        assert (f"upsd: {st.dir}/upsd.conf:2: CERTFILE {tmp_path}/missing.pem cannot be loaded: "
                "No such file or directory - STARTTLS is not offered; CERTFILE must be one PEM "
                "file with the certificate chain and the private key ('pnut cert init' makes "
                "one)\n") in st.log_text()
        assert st.talk(["STARTTLS"]) == ["ERR FEATURE-NOT-CONFIGURED"]
        assert st.talk(["USERNAME monuser", "PASSWORD mon", "LOGIN u"]) == ["OK"] * 3
    finally:
        st.close()
