"""The sans-IO TLS records of upsd's STARTTLS: real OpenSSL both sides, no sockets."""

from __future__ import annotations

import gc
import socket
import ssl
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest

from pnut.server.evloop import EpollLoop
from pnut.server.tlslayer import TLSLayer, TLSRecords, WriteBatch
from pnut.server.transport import SocketTransport
from pnut.tls.certs import init_pki
from pnut.tls.contexts import client_context, server_context


class Peer:
    """A client SSLObject over memory BIOs."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="127.0.0.1")

    def step(self) -> bool:
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def pending(self) -> bytes:
        return self.out.read()

    def read_all(self) -> bytes:
        chunks = []
        while True:
            try:
                chunks.append(self.obj.read(65536))
            except ssl.SSLWantReadError:
                return b"".join(chunks)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("pki")
    init_pki(where, ["127.0.0.1"])
    return where


def handshake(pki: Path, last_flight_extra: bytes = b"") -> tuple[TLSRecords, Peer, bytes]:
    server = TLSRecords(server_context(pki / "server.pem"))
    client = Peer(client_context(pki / "ca.pem"))
    plain = b""
    done = False
    for _ in range(10):
        done = client.step()
        flight = client.pending()
        if done and last_flight_extra:
            client.obj.write(last_flight_extra)
            flight += client.pending()
        if flight:
            plain += server.receive(flight)
        client.inc.write(server.data_to_send())
        if done and server.established:
            break
    assert done and server.established
    return server, client, plain


def test_handshake_then_requests_both_ways(pki: Path) -> None:
    server, client, plain = handshake(pki)
    assert plain == b""
    client.obj.write(b"VER\n")
    client.obj.write(b"GET VAR u ups.load\n")  # two records in one read
    assert server.receive(client.pending()) == b"VER\nGET VAR u ups.load\n"
    server.send(b"OK\n")
    client.inc.write(server.data_to_send())
    assert client.read_all() == b"OK\n"
    assert server.data_to_send() == b""


def test_data_behind_the_clients_finished_is_not_lost(pki: Path) -> None:
    _server, _client, plain = handshake(pki, last_flight_extra=b"VER\nLOGOUT\n")
    assert plain == b"VER\nLOGOUT\n"


def test_a_record_split_over_reads_waits_for_its_end(pki: Path) -> None:
    server, client, _ = handshake(pki)
    client.obj.write(b"x" * 20_000)  # two records
    wire = client.pending()
    got = b"".join(server.receive(wire[i:i + 1000]) for i in range(0, len(wire), 1000))
    assert got == b"x" * 20_000


def test_close_notify_is_the_end_of_input_both_ways(pki: Path) -> None:
    server, client, _ = handshake(pki)
    client.obj.write(b"LOGOUT\n")
    with pytest.raises(ssl.SSLWantReadError):
        client.obj.unwrap()
    assert server.receive(client.pending()) == b"LOGOUT\n"
    assert server.eof
    server.close()
    client.inc.write(server.data_to_send())
    client.obj.unwrap()  # the server's close_notify completes the client's shutdown


def test_garbage_instead_of_a_handshake_is_an_error(pki: Path) -> None:
    server = TLSRecords(server_context(pki / "server.pem"))
    with pytest.raises(ssl.SSLError):
        server.receive(b"this is not a TLS client hello\n" * 10)
    assert not server.established


def test_a_forged_record_is_an_error(pki: Path) -> None:
    server, _client, _ = handshake(pki)
    with pytest.raises(ssl.SSLError):
        server.receive(b"\x17\x03\x03\x00\x20" + bytes(32))  # application data, bad tag


def test_no_session_tickets_as_nuts_nss_upsd(pki: Path) -> None:
    server, client, _ = handshake(pki)
    server.send(b"OK\n")
    client.inc.write(server.data_to_send())
    assert client.read_all() == b"OK\n"
    session = client.obj.session
    assert session is not None and not session.has_ticket


class App:
    """The plaintext side of a TLSLayer: what it is handed, and whether it was lost."""

    def __init__(self) -> None:
        self.received = b""
        self.lost = False

    def connection_made(self, transport: Any) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def _ignore(*_args: object) -> None:
    pass


def test_a_lost_connection_frees_its_tls_state_without_the_gc(pki: Path) -> None:
    """A closed TLS connection's OpenSSL state (~30 KiB) is freed when it is lost,
    not by a later full pass of the cyclic GC: after a burst of handshakes upsd
    held hundreds of them, and the heap they grew (issue 10's idle RSS)."""
    loop = EpollLoop()
    ours, theirs = socket.socketpair()
    app = App()
    raw = SocketTransport(loop, ours, app)
    layer = TLSLayer(raw, app, server_context(pki / "server.pem"), 10.0, _ignore, _ignore,
                     WriteBatch(loop))
    freed = weakref.ref(layer.records.ssl_object)
    del layer, raw

    theirs.settimeout(10)  # and the layer's handshake timer bounds the loop's passes

    def client() -> None:
        with client_context(pki / "ca.pem").wrap_socket(theirs, server_hostname="127.0.0.1") \
                as tls:
            tls.sendall(b"LOGOUT\n")

    peer = threading.Thread(target=client)
    gc.disable()
    try:
        peer.start()
        for _ in range(1000):
            if app.lost:
                break
            loop._run_once()
        peer.join(10)
        assert app.received == b"LOGOUT\n" and app.lost
        assert freed() is None
    finally:
        gc.enable()
        loop.close()
