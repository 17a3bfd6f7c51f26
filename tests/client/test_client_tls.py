"""STARTTLS from the client side: a real handshake, both adapters.

NUT's Debian upsd has no certificate configured, so against it STARTTLS
must fail cleanly (ERR FEATURE-NOT-CONFIGURED) and leave the connection
usable.  The handshake itself is tested against a small line server
that upgrades after ``OK STARTTLS``, with certificates from pnut's own CA
tooling (pnut.tls).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.client_stacks import Server
from pnut.client import AsyncClient, Client, FeatureNotAvailable, NutConnectionError
from pnut.tls.certs import init_pki, make_ca
from pnut.tls.contexts import client_context, server_context

BANNER = "Network UPS Tools upsd 2.8.0 - tls peer"


def test_starttls_refused_by_a_server_without_certificate(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        with pytest.raises(FeatureNotAvailable) as exc:
            c.starttls(client_context(verify=False))
        assert exc.value.name == "FEATURE-NOT-CONFIGURED"
        assert not c.tls
        assert c.protver() == "1.3"  # still usable, in clear text


class TlsPeer:
    """Accepts connections; after STARTTLS speaks TLS; answers VER and LOGOUT."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.seen: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        for _ in range(300):  # bounded: at most 30 s of polling for the stop flag
            if self.stopped.is_set():
                return
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self._session(conn)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def _session(self, sock: socket.socket) -> None:
        sock.settimeout(5)
        reader = sock.makefile("rb")
        line = reader.readline().decode().strip()
        self.seen.append(line)
        if line != "STARTTLS":
            return
        sock.sendall(b"OK STARTTLS\n")
        tls = self.ctx.wrap_socket(sock, server_side=True)
        reader = tls.makefile("rb")
        for _ in range(10):
            line = reader.readline().decode().strip()
            if not line:
                return
            self.seen.append(f"tls:{line}")
            if line == "VER":
                tls.sendall(f"{BANNER}\n".encode())
            elif line == "LOGOUT":
                tls.sendall(b"OK Goodbye\n")
                return

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(10)
        self.listener.close()


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    init_pki(tmp_path, ["127.0.0.1", "localhost"])
    return tmp_path


@pytest.fixture
def peer(pki: Path) -> Iterator[TlsPeer]:
    p = TlsPeer(server_context(pki / "server.pem"))
    yield p
    p.close()


def test_sync_client_upgrades_and_verifies(pki: Path, peer: TlsPeer) -> None:
    with Client("127.0.0.1", peer.port, timeout=10) as c:
        c.starttls(client_context(pki / "ca.pem"), server_hostname="127.0.0.1")
        assert c.tls
        assert c.ver() == BANNER
    assert peer.seen == ["STARTTLS", "tls:VER", "tls:LOGOUT"]


def test_async_client_upgrades_and_verifies(pki: Path, peer: TlsPeer) -> None:
    async def scenario() -> None:
        async with AsyncClient("127.0.0.1", peer.port, timeout=10) as c:
            await c.starttls(client_context(pki / "ca.pem"), server_hostname="127.0.0.1")
            assert c.tls
            assert await c.ver() == BANNER

    asyncio.run(scenario())
    assert peer.seen == ["STARTTLS", "tls:VER", "tls:LOGOUT"]


def test_untrusted_certificate_is_a_connection_error(tmp_path: Path, peer: TlsPeer) -> None:
    other = tmp_path / "other"
    other.mkdir()
    make_ca(other)
    c = Client("127.0.0.1", peer.port, timeout=10)
    with pytest.raises(NutConnectionError) as exc:
        c.starttls(client_context(other / "ca.pem"), server_hostname="127.0.0.1")
    assert exc.value.nut_text.startswith("SSL error: ")
    assert not c.connected
