"""The same representative conversation on each event loop upsd can run on.

``pnut upsd`` runs on its own epoll loop (pnut.server.evloop), or on uvloop
or asyncio's loop when it embeds asyncio code (HTTP_LISTEN, zeroconf) or
PNUT_UPSD_LOOP asks; the loops differ in how readers, writers and call_soon
are scheduled, so the paths that touch them run on all three: pipelined
requests, the reply cache, a big LIST, a tracked SET, an over-long line,
LOGOUT, and STARTTLS.  The flood test (test_upsd_flood.py) also runs on each.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pnut.tls.certs import init_pki
from pnut.tls.contexts import client_context
from support import Stack, Ups
from upsd_support import LOOPS, USERS, UUID_RE, Conn, loop_of, ready, use_loop

DEV = "ups.status: OL\nups.load: 3\n" + "".join(f"ups.test.v{i}: {i}\n" for i in range(200))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("pki")
    init_pki(where, ["127.0.0.1"])
    return where


@pytest.fixture(scope="module", params=LOOPS)
def stack(request: pytest.FixtureRequest, pki: Path) -> Iterator[Stack]:
    mp = pytest.MonkeyPatch()
    use_loop(mp, request.param)
    st = Stack([Ups("u", DEV)], users=USERS, upsd_conf=f"CERTFILE {pki / 'server.pem'}\n")
    try:
        st.start(upsd="pnut", driver="pnut")
        ready(st, "u")
        assert loop_of(st.procs[-1].pid) == request.param
        yield st
    finally:
        st.close()
        mp.undo()


def test_pipelined_cached_and_listed(stack: Stack) -> None:
    with Conn(stack.port) as conn:
        conn.send(b"GET VAR u ups.load\nNETVER\nGET VAR u ups.load\n")
        assert [conn.readline() for _ in range(3)] == [
            'VAR u ups.load "3"', "1.3", 'VAR u ups.load "3"']
        for _ in range(3):  # one line per read: the reply cache's path
            assert conn.ask("GET VAR u ups.load") == ['VAR u ups.load "3"']
        listed = conn.ask("LIST VAR u")
        assert len(listed) > 200 and listed[-1] == "END LIST VAR u"
        conn.send(b"GET VAR u " + b"y" * 100_000 + b"\nVER\n")
        assert conn.reply() == ["ERR VAR-NOT-SUPPORTED"]
        assert conn.reply()[0].startswith("Network UPS Tools upsd")


def test_tracked_set_and_logout(stack: Stack) -> None:
    with Conn(stack.port) as conn:
        for line in ("USERNAME admin", 'PASSWORD "s3cret pw"', "SET TRACKING ON"):
            assert conn.ask(line) == ["OK"]
        reply = conn.ask("SET VAR u ups.test.v1 changed")[0]
        assert reply.startswith("OK TRACKING ") and UUID_RE.search(reply)
        assert conn.ask("LOGOUT") == ["OK Goodbye"]
        assert conn.readline() is None  # closed


def test_starttls_then_requests_over_tls(stack: Stack, pki: Path) -> None:
    raw = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
    try:
        raw.sendall(b"STARTTLS\n")
        assert raw.recv(100) == b"OK STARTTLS\n"
        tls = client_context(pki / "ca.pem").wrap_socket(raw, server_hostname="127.0.0.1")
        reader = tls.makefile("rb")
        tls.sendall(b"GET VAR u ups.load\nNETVER\n")
        assert reader.readline() == b'VAR u ups.load "3"\n'
        assert reader.readline() == b"1.3\n"
        tls.sendall(b"GET VAR u ups.load\n")  # the reply cache, over TLS
        assert reader.readline() == b'VAR u ups.load "3"\n'
        tls.sendall(b"LOGOUT\n")
        assert reader.readline() == b"OK Goodbye\n"
        assert reader.readline() == b""  # closed after the reply
    finally:
        raw.close()
