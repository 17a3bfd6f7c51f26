"""Hostile bytes against a live pnut upsd: the checked-in corpus, then hypothesis.

Every input goes on a fresh connection, in clear text and again after
STARTTLS; the write side is then shut, and everything upsd answers is read
until it closes.  Each answer line must be a well-formed reply, a canary
connection must keep getting its answer within a second, and at the end
upsd must be alive with no internal error in its log.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_support import REPLY_LINE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnut.tls.certs import init_pki
from support import Stack, Ups

CORPUS = Path(__file__).resolve().parent / "corpus"
USERS = "[admin]\n  password = adminpw\n  actions = SET FSD\n  instcmds = ALL\n  upsmon primary\n"
_CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_CTX.check_hostname = False
_CTX.verify_mode = ssl.CERT_NONE


class Server:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.canary = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
        self.canary_buf = b""

    def check_canary(self) -> None:
        started = time.monotonic()
        self.canary.sendall(b"GET VAR u ups.status\n")
        while b"\n" not in self.canary_buf:
            chunk = self.canary.recv(4096)
            assert chunk, "upsd dropped the canary"
            self.canary_buf += chunk
        line, self.canary_buf = self.canary_buf.split(b"\n", 1)
        assert line.startswith(b'VAR u ups.status "'), line
        assert time.monotonic() - started < 1.0

    def replay(self, data: bytes, tls: bool) -> list[str]:
        """Send ``data`` on a fresh connection; the reply lines until upsd closes."""
        raw = socket.create_connection(("127.0.0.1", self.stack.port), timeout=5)
        sock: socket.socket = raw
        try:
            if tls:
                raw.sendall(b"STARTTLS\n")
                assert raw.recv(64) == b"OK STARTTLS\n"
                sock = _CTX.wrap_socket(raw, server_hostname="127.0.0.1")
            try:
                sock.sendall(data)
                if tls:  # TLS has no half-close (upsd would drop unanswered requests)
                    sock.sendall(b"\nLOGOUT\n")
                    sock.settimeout(0.3)  # (an open quote swallows LOGOUT: then upsd
                else:                     # goes quiet, which ends the read below)
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # upsd may drop us while we send (that is a defence, not a failure)
            out = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(65536)
                except (OSError, ssl.SSLError):  # TimeoutError included: quiet
                    break
                if not chunk:
                    break
                out += chunk
            else:
                pytest.fail(f"upsd kept the connection open after {data[:60]!r}")
        finally:
            sock.close()
        lines = out.decode("latin-1").split("\n")
        complete = lines[:-1]
        for line in complete:
            assert REPLY_LINE.fullmatch(line), (data[:80], line)
        return complete


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cert = init_pki(tmp_path_factory.mktemp("pki"), ["127.0.0.1"]).cert
    stack = Stack([Ups("u", "ups.status: OL\nups.load: 7\n")], users=USERS,
                  upsd_conf=f"CERTFILE {cert}\n")
    try:
        stack.start(upsd="pnut", driver="pnut")
        srv = Server(stack)
        yield srv
        srv.check_canary()
        assert all(p.poll() is None for p in stack.procs), stack.log_text()
        log = stack.log_text()
        assert "internal error" not in log and "Traceback" not in log, log
    finally:
        stack.close()


def test_corpus_is_there() -> None:
    assert len(list(CORPUS.glob("*.bin"))) >= 20


@pytest.mark.parametrize("tls", [False, True], ids=["clear", "tls"])
def test_corpus_replayed_against_live_upsd(server: Server, tls: bool) -> None:
    for path in sorted(CORPUS.glob("*.bin")):
        data = path.read_bytes()
        replies = server.replay(data, tls)
        if path.name == "many-errors-then-ver.bin":
            assert any(r.startswith("Network UPS Tools upsd") for r in replies[-3:])
            assert replies.count("ERR UNKNOWN-COMMAND") >= 500
        if path.name == "starttls-injection.bin" and not tls:
            assert replies == ["OK STARTTLS"]  # nothing after it was executed
        if path.name == "pipelined-logout.bin":
            assert replies[-1] == "OK Goodbye" and "OK FSD-SET" not in replies
        server.check_canary()


request_bytes = st.lists(
    st.sampled_from([b"GET ", b"VAR ", b"LIST ", b"SET ", b"u ", b"ups.status ", b"INSTCMD ",
                     b"USERNAME admin\n", b"PASSWORD adminpw\n", b"LOGIN u\n", b"STARTTLS\n",
                     b'"', b"\\", b"#", b"=", b"\n", b"\r\n", b" ", b"\x00", b"\xff",
                     b"TRACKING ", b"ON\n", b"FSD u\n", b"NUMLOGINS ", b"CLIENT "])
    | st.binary(max_size=12), max_size=40).map(b"".join)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=request_bytes, tls=st.booleans())
def test_generated_requests_against_live_upsd(server: Server, data: bytes, tls: bool) -> None:
    server.replay(data, tls)
    server.check_canary()
