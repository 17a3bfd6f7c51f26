"""A short flood of invalid input on a real socket, while an honest client polls.

The rules themselves are tested without sockets (test_connection.py); this
is the end-to-end check that the asyncio shell applies them: garbage
connections are dropped, the honest client is answered throughout (a
generous bound: the real numbers are in ``bench/run.py flood``), and the
log stays short.  Run on uvloop and on asyncio's own loop.
"""

from __future__ import annotations

import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pnut.tls.certs import init_pki
from support import Stack, Ups
from upsd_support import LOOPS, Conn, ready, use_loop

#: An honest answer's latency during a flood is the point: alone, after the parallel part.
pytestmark = pytest.mark.serial

#: The flood lasts this long, and on (up to FLOOD_MAX_SECONDS) until upsd has
#: dropped what the test expects dropped: on a loaded machine it takes longer
#: to send the 1024 invalid lines in a row that get a connection dropped.
FLOOD_SECONDS = 3.0
FLOOD_MAX_SECONDS = 20.0
GARBAGE_CONNECTIONS = 10


def _garbage(port: int, stop: threading.Event, seed: int, dropped: list[int]) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                while not stop.is_set():
                    s.sendall(rng.randbytes(32768))
                    s.sendall(b"\x01" * 100_000 + b"\n")
        except OSError:
            dropped.append(1)  # dropped by upsd: connect again


def _flooding(started: float, done: Callable[[], bool]) -> bool:
    elapsed = time.monotonic() - started
    return elapsed < FLOOD_SECONDS or (elapsed < FLOOD_MAX_SECONDS and not done())


@pytest.mark.parametrize("loop", LOOPS)
def test_honest_client_is_answered_through_a_flood(loop: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    use_loop(monkeypatch, loop)
    with Stack([Ups("u", "ups.status: OL\nups.load: 7\n")]) as st:
        st.start(upsd="pnut", driver="pnut")
        ready(st, "u")
        started = time.monotonic()
        stop = threading.Event()
        dropped: list[int] = []
        threads = [threading.Thread(target=_garbage, args=(st.port, stop, i, dropped))
                   for i in range(GARBAGE_CONNECTIONS)]
        for t in threads:
            t.start()
        worst = 0.0
        answers = 0
        try:
            with Conn(st.port, timeout=10) as honest:
                while _flooding(started, lambda: bool(dropped)
                                and "invalid lines in a row" in st.log_text()):
                    start = time.monotonic()
                    assert honest.ask("GET VAR u ups.load") == ['VAR u ups.load "7"']
                    worst = max(worst, time.monotonic() - start)
                    answers += 1
                    time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
        flood_seconds = time.monotonic() - started
        start = time.monotonic()
        with Conn(st.port, timeout=5) as after:
            assert after.ask("VER")[0].startswith("Network UPS Tools upsd")
        after_flood = time.monotonic() - start
        log = st.log_text()
        drops = log.count("Dropping client")
    assert answers > 10, answers
    assert worst < 2.0, f"honest GET VAR took {worst:.3f} s during the flood"
    assert after_flood < 2.0, after_flood
    assert dropped, "no garbage connection was dropped"
    assert "invalid lines in a row" in log, log[-2000:]
    assert "Parse error" not in log
    # One line per drop at most, and a bounded rate (20 at once, then 5/s).
    assert drops <= 20 + 5 * (flood_seconds + 3), drops
    assert drops <= len(dropped) + GARBAGE_CONNECTIONS, (drops, len(dropped))
    assert os.environ.get("PNUT_UPSD_LOOP") == loop


def _tls_garbage(port: int, stop: threading.Event, seed: int, handshake: bool,
                 dropped: list[int]) -> None:
    """STARTTLS, then junk inside TLS records, or junk instead of the handshake."""
    rng = random.Random(seed)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                raw.sendall(b"STARTTLS\n")
                raw.recv(100)
                sock = ctx.wrap_socket(raw) if handshake else raw
                while not stop.is_set():
                    sock.sendall(rng.randbytes(16384))
        except (OSError, ssl.SSLError):
            dropped.append(1)


def _tls_drops(log: str) -> bool:
    return "invalid lines in a row" in log and "TLS handshake with 127.0.0.1 failed" in log


def test_junk_after_starttls_is_handled_like_junk_in_clear(tmp_path: Path) -> None:
    init_pki(tmp_path, ["127.0.0.1"])
    with Stack([Ups("u", "ups.status: OL\nups.load: 7\n")],
               upsd_conf=f"CERTFILE {tmp_path / 'server.pem'}\n") as st:
        st.start(upsd="pnut", driver="pnut")
        ready(st, "u")
        started = time.monotonic()
        stop = threading.Event()
        dropped: list[int] = []
        threads = [threading.Thread(target=_tls_garbage, args=(st.port, stop, i, i % 2 == 0,
                                                               dropped)) for i in range(6)]
        for t in threads:
            t.start()
        worst = 0.0
        try:
            with Conn(st.port, timeout=10) as honest:
                while _flooding(started, lambda: bool(dropped) and _tls_drops(st.log_text())):
                    start = time.monotonic()
                    assert honest.ask("GET VAR u ups.load") == ['VAR u ups.load "7"']
                    worst = max(worst, time.monotonic() - start)
                    time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
        flood_seconds = time.monotonic() - started
        log = st.log_text()
    assert worst < 2.0, f"honest GET VAR took {worst:.3f} s during the TLS flood"
    assert dropped, "no garbage connection was dropped"
    assert "invalid lines in a row" in log  # junk inside TLS: the same rules
    assert "TLS handshake with 127.0.0.1 failed" in log  # junk instead of a handshake
    assert log.count("TLS handshake with") <= 20 + 5 * (flood_seconds + 3)
