"""upsd's own event loop and socket transports, on real sockets and signals."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from pnut.server.evloop import EpollLoop
from pnut.server.transport import FIRST_READ, READ_SIZE, Listener, SocketTransport, connect_unix


@pytest.fixture
def loop() -> Iterator[EpollLoop]:
    lp = EpollLoop()
    yield lp
    lp.close()


def run_until(loop: EpollLoop, done: Any, passes: int = 1000) -> None:
    """Run passes until ``done()`` (a timer wakes an idle loop: nothing waits an hour)."""
    for _ in range(passes):
        if done():
            return
        loop.call_later(0.01, lambda: None)
        loop._run_once()
    raise AssertionError("condition not reached")


def test_calls_run_in_order_and_soon_waits_for_the_next_pass(loop: EpollLoop) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(seen.append, "queued during the pass")

    loop.call_soon(first)
    loop.call_soon(seen.append, "second")
    loop._run_once()
    assert seen == ["first", "second"]
    loop._run_once()
    assert seen[-1] == "queued during the pass"


def test_timers_fire_in_time_order_and_cancelled_ones_let_go(loop: EpollLoop) -> None:
    seen: list[int] = []
    loop.call_later(0.03, seen.append, 3)
    loop.call_later(0.01, seen.append, 1)
    dropped = loop.call_later(0.02, seen.append, 2)

    class Big:
        pass

    big = Big()
    ref = weakref.ref(big)
    pinned = loop.call_later(60, lambda b=big: b)
    del big
    pinned.cancel()
    dropped.cancel()
    gc.collect()
    assert ref() is None  # a cancelled timer does not pin what its callback refers to
    run_until(loop, lambda: len(seen) == 2)
    assert seen == [1, 3]


def test_cancelled_timers_are_swept_from_the_heap(loop: EpollLoop) -> None:
    for _ in range(2000):
        loop.call_later(3600, lambda: None).cancel()
    loop.call_soon(lambda: None)
    loop.call_later(0, lambda: None)
    loop._run_once()
    assert len(loop._timers) < 300


def reader(sock: socket.socket, seen: list[str], name: str) -> Any:
    def read() -> None:
        sock.recv(100)
        seen.append(name)
    return read


def test_readers_writers_and_removal(loop: EpollLoop) -> None:
    a, b = socket.socketpair()
    with a, b:
        got: list[bytes] = []

        def read() -> None:
            got.append(a.recv(100))

        loop.add_reader(a.fileno(), read)
        b.send(b"x")
        run_until(loop, lambda: got == [b"x"])
        assert loop.remove_reader(a.fileno()) and not loop.remove_reader(a.fileno())
        b.send(b"y")
        for _ in range(3):
            loop.call_later(0, lambda: None)
            loop._run_once()
        assert got == [b"x"]  # no reader: nothing read
        wrote: list[str] = []

        def write() -> None:
            wrote.append("writable")
            loop.remove_writer(b.fileno())

        loop.add_writer(b.fileno(), write)
        run_until(loop, lambda: wrote == ["writable"])


@pytest.mark.parametrize("first", [False, True])
def test_read_first_descriptors_are_read_before_the_others(loop: EpollLoop, first: bool) -> None:
    """A driver's update and a client's request ready in one pass: the update first
    (without read_first, epoll's order is the order they became ready)."""
    pairs = [socket.socketpair() for _ in range(4)]
    try:
        order: list[str] = []
        for i, (mine, _) in enumerate(pairs[:3]):
            loop.add_reader(mine.fileno(), reader(mine, order, f"client{i}"))
        driver = pairs[3][0]
        loop.add_reader(driver.fileno(), reader(driver, order, "driver"))
        if first:
            loop.read_first(driver.fileno())
        for _, peer in pairs:
            peer.send(b"x")
        run_until(loop, lambda: len(order) == 4)
        assert order == (["driver", "client0", "client1", "client2"] if first
                         else ["client0", "client1", "client2", "driver"])
        loop.remove_reader(driver.fileno())  # a removed first reader is forgotten
        loop.add_reader(driver.fileno(), reader(driver, order, "again"))
        pairs[3][1].send(b"x")
        run_until(loop, lambda: order[-1] == "again")
    finally:
        for x, y in pairs:
            x.close()
            y.close()


def test_signals_become_calls_from_the_loop(loop: EpollLoop) -> None:
    seen: list[str] = []
    loop.add_signal_handler(signal.SIGUSR1, seen.append, "usr1")
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        run_until(loop, lambda: seen == ["usr1"])
    finally:
        assert loop.remove_signal_handler(signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_a_raising_callback_is_logged_and_the_loop_goes_on(
        loop: EpollLoop, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(seen.append, 1)
    with caplog.at_level(logging.ERROR, logger="pnut.upsd"):
        loop._run_once()
    assert seen == [1]
    assert "ZeroDivisionError" in caplog.text


class Recorder:
    """A protocol that writes down what its transport tells it."""

    def __init__(self, keep_open: bool = False) -> None:
        self.transport: SocketTransport | None = None
        self.data = b""
        self.eof = 0
        self.lost: list[Exception | None] = []
        self.keep_open = keep_open

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool | None:
        self.eof += 1
        return self.keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


def test_what_the_kernel_does_not_take_is_queued_and_sent_in_order(loop: EpollLoop) -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        proto = Recorder()
        tr = SocketTransport(loop, ours, proto)
        payload = bytes(range(256)) * 4096  # 1 MiB: far more than the socket takes
        tr.write(payload[:1000])
        tr.write(payload[1000:])
        assert tr.get_write_buffer_size() > 0
        tr.close()  # after the queue is out
        assert proto.lost == []
        received = bytearray()
        theirs.setblocking(False)

        def drain() -> bool:
            try:
                while chunk := theirs.recv(65536):
                    received.extend(chunk)
            except BlockingIOError:
                pass
            return bool(proto.lost)

        run_until(loop, drain, passes=5000)
        drain()
        assert bytes(received) == payload and proto.lost == [None]
        assert ours.fileno() == -1  # closed once lost


def test_abort_drops_the_queue_and_reports_the_loss_once(loop: EpollLoop) -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        proto = Recorder()
        tr = SocketTransport(loop, ours, proto)
        tr.abort()
        tr.abort()
        tr.close()
        assert proto.lost == []  # from the loop, not inside the call
        loop._run_once()
        assert proto.lost == [None]
        tr.write(b"after")  # ignored, no error


def test_eof_closes_unless_the_protocol_keeps_it_open(loop: EpollLoop) -> None:
    for keep in (False, True):
        ours, theirs = socket.socketpair()
        proto = Recorder(keep_open=keep)
        tr = SocketTransport(loop, ours, proto)
        theirs.sendall(b"last words")
        theirs.shutdown(socket.SHUT_WR)
        run_until(loop, lambda p=proto: p.eof == 1)
        assert proto.data == b"last words"
        loop._run_once()
        assert proto.lost == ([] if keep else [None])
        if keep:
            tr.write(b"answer")
            assert theirs.recv(10) == b"answer"
            tr.close()
            loop._run_once()
            assert proto.lost == [None]
        theirs.close()


@pytest.mark.parametrize("size", [1, FIRST_READ - 1, FIRST_READ, FIRST_READ + 1, READ_SIZE,
                                  3 * READ_SIZE])
def test_reads_hand_over_what_is_waiting_up_to_read_size(loop: EpollLoop, size: int) -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        proto = Recorder()
        SocketTransport(loop, ours, proto)
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        theirs.sendall(payload)
        loop._run_once()  # one read: the small first one and, if it comes back full, the rest
        assert proto.data == payload[:READ_SIZE]
        run_until(loop, lambda: proto.data == payload)
        theirs.close()
        run_until(loop, lambda: proto.eof == 1)


def test_paused_transports_are_not_read(loop: EpollLoop) -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        proto = Recorder()
        tr = SocketTransport(loop, ours, proto)
        tr.pause_reading()
        theirs.sendall(b"wait")
        for _ in range(3):
            loop.call_later(0, lambda: None)
            loop._run_once()
        assert proto.data == b""
        tr.resume_reading()
        run_until(loop, lambda: proto.data == b"wait")
        tr.abort()
        loop._run_once()


def test_listener_accepts_with_the_peer_address_and_nodelay(loop: EpollLoop) -> None:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    made: list[Recorder] = []

    def factory() -> Recorder:
        made.append(Recorder())
        return made[-1]

    listener = Listener(loop, lsock, factory)
    try:
        with socket.create_connection(lsock.getsockname()) as client:
            run_until(loop, lambda: len(made) == 1)
            tr = made[0].transport
            assert tr is not None
            assert tr.get_extra_info("peername") == client.getsockname()
            sock = tr.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # from the listener
            client.sendall(b"hello")
            run_until(loop, lambda: made[0].data == b"hello")
            tr.write(b"back")
            assert client.recv(10) == b"back"
            tr.abort()
            loop._run_once()
    finally:
        listener.close()
    assert lsock.fileno() == -1


def test_connect_unix_fails_at_once_when_nobody_listens(loop: EpollLoop, tmp_path: Any) -> None:
    with pytest.raises(OSError):
        connect_unix(loop, str(tmp_path / "nobody"), Recorder())
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "drv"))
    server.listen(1)
    with server:
        proto = Recorder()
        tr = connect_unix(loop, str(tmp_path / "drv"), proto)
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"SETINFO x 1\n")
            run_until(loop, lambda: proto.data == b"SETINFO x 1\n")
        tr.abort()
        loop._run_once()
