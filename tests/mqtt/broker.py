"""A real mosquitto on 127.0.0.1 and a paho observer, for the MQTT tests.

:class:`Mosquitto` writes a private config (random port, anonymous,
no persistence) and starts Debian's broker; it can be stopped and started
again on the same port (the reconnect tests).  :class:`Relay` stands
between a client and the broker and resets (RST) its connections on
demand.  :class:`Observer` is a paho client in its own thread that
records every message it sees: ``retained`` keeps the newest payload per
topic (as a late subscriber would see it), ``log`` every message in
arrival order.
"""

from __future__ import annotations

import contextlib
import selectors
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from support import free_port, wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    def __init__(self, port: int | None = None, listen: str = "127.0.0.1",
                 prefix: list[str] | None = None, tls_pem: Path | None = None,
                 tls_passwords: Path | None = None) -> None:
        self.port = port or free_port()
        self.listen = listen
        self.prefix = prefix or []
        self.dir = Path(tempfile.mkdtemp(prefix="pnut-mosq-"))
        self.conf = self.dir / "mosquitto.conf"
        conf = (f"per_listener_settings true\nlistener {self.port} {listen}\n"
                "allow_anonymous true\npersistence false\n"
                "log_dest stderr\nlog_type error\nlog_type warning\n"
                "max_queued_messages 100000\n")
        #: A second listener with TLS (``tls_pem``: certificate, chain and key in
        #: one file), for the users of ``tls_passwords`` (mosquitto_passwd) only.
        self.tls_port: int | None = None
        if tls_pem is not None:
            self.tls_port = free_port()
            conf += (f"listener {self.tls_port} {listen}\ncertfile {tls_pem}\n"
                     f"keyfile {tls_pem}\n")
            if tls_passwords is not None:
                conf += f"allow_anonymous false\npassword_file {tls_passwords}\n"
            else:
                conf += "allow_anonymous true\n"
        self.conf.write_text(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        log = open(self.dir / "mosquitto.log", "ab")  # noqa: SIM115 - kept by the process
        self.proc = subprocess.Popen([*self.prefix, MOSQUITTO, "-c", str(self.conf)],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        wait_for(self._ready, timeout=10)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError((self.dir / "mosquitto.log").read_text())
        c = paho.Client(paho.CallbackAPIVersion.VERSION2)
        try:
            c.connect(self.listen, self.port, 5)
            c.disconnect()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Observer:
    """Subscribes to ``topics`` and records everything it receives."""

    def __init__(self, port: int, topics: list[str], host: str = "127.0.0.1") -> None:
        self.retained: dict[str, str] = {}
        self.log: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self._topics = topics
        self.client.connect(host, port, 30)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError("observer could not subscribe")

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        for t in self._topics:
            client.subscribe(t, qos=1)
        self._connected.set()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        payload = msg.payload.decode("utf-8", "replace")
        with self._lock:
            self.log.append((time.monotonic(), msg.topic, payload))
            if payload:
                self.retained[msg.topic] = payload
            else:
                self.retained.pop(msg.topic, None)

    def get(self, topic: str) -> str | None:
        with self._lock:
            return self.retained.get(topic)

    def messages(self, topic: str) -> list[str]:
        with self._lock:
            return [p for _, t, p in self.log if t == topic]

    def topics(self, pred: Callable[[str], bool] = lambda t: True) -> list[str]:
        with self._lock:
            return sorted(t for t in self.retained if pred(t))

    def wait(self, topic: str, cond: Callable[[str], bool], timeout: float = 20.0) -> str:
        return str(wait_for(lambda: (v := self.get(topic)) is not None and cond(v) and v,
                            timeout=timeout))

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()



#: SO_LINGER on, zero seconds: close() sends a TCP reset (RST), not a FIN.
RESET_LINGER = struct.pack("ii", 1, 0)


class Relay:
    """A TCP relay from 127.0.0.1:``port`` to a broker that can reset (RST)
    every connection it carries: what a client sees when the broker's host
    crashes, or a NAT or firewall forgets the connection.

    :meth:`reset` resets every carried connection and sets what happens to
    new ones: ``"relay"`` (carried to the broker), ``"reset"`` (reset at
    once: the broker is unreachable), ``"mute"`` (accepted, never
    answered: a hung broker) or ``"answer-reset"`` (reset right after the
    broker's first answer, the CONNACK); :meth:`hold` keeps the carried
    connections open and forwards nothing more (a broker that hangs).  One
    thread runs it all (selectors), so a reset never races a relayed write,
    and :meth:`reset` returns once the resets are sent.
    """

    def __init__(self, target: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target)
        self._listener = socket.create_server((host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._orders: list[tuple[str, threading.Event]] = []
        self._peer: dict[socket.socket, socket.socket | None] = {}
        self._clients: list[socket.socket] = []
        self.mode = "relay"
        #: Client connections reset so far.
        self.resets = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="relay")
        self._thread.start()

    def reset(self, then: str = "relay") -> None:
        assert then in ("relay", "reset", "mute", "answer-reset")
        self._order(then)

    def hold(self) -> None:
        self._order("hold")

    def close(self) -> None:
        self._order("close")
        self._thread.join(5)

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _order(self, what: str) -> None:
        done = threading.Event()
        self._orders.append((what, done))
        self._wake_w.send(b"x")
        if not done.wait(5):
            raise TimeoutError(f"relay: {what} not done")

    @staticmethod
    def _rst(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_LINGER)
        sock.close()

    def _drop(self, sel: selectors.BaseSelector, sock: socket.socket, rst: bool) -> None:
        for s in (sock, self._peer.get(sock)):
            if s is None or s not in self._peer:
                continue
            del self._peer[s]
            if s in self._clients:
                self._clients.remove(s)
                self.resets += rst
            sel.unregister(s)
            if rst:
                self._rst(s)
            else:
                s.close()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._wake_r:
                    sock.recv(64)
                    while self._orders:
                        what, done = self._orders.pop(0)
                        for client in list(self._clients) if what != "hold" else ():
                            self._drop(sel, client, rst=True)
                        if what == "close":
                            for s in (self._listener, self._wake_r, self._wake_w):
                                s.close()
                            done.set()
                            return
                        self.mode = what
                        done.set()
                elif sock is self._listener:
                    conn, _ = sock.accept()
                    if self.mode in ("reset", "hold"):
                        self.resets += 1
                        self._rst(conn)
                        continue
                    upstream = None
                    if self.mode in ("relay", "answer-reset"):
                        try:
                            upstream = socket.create_connection(self.target, timeout=5)
                        except OSError:
                            self._rst(conn)
                            continue
                        self._peer[upstream] = conn
                        sel.register(upstream, selectors.EVENT_READ)
                    self._peer[conn] = upstream
                    self._clients.append(conn)
                    sel.register(conn, selectors.EVENT_READ)
                else:
                    peer = self._peer.get(sock)
                    try:
                        data = sock.recv(65536)
                        if data and peer is not None and self.mode != "hold":
                            peer.sendall(data)
                            if self.mode == "answer-reset" and peer in self._clients:
                                self._drop(sel, peer, rst=True)
                                continue
                    except OSError:
                        data = b""
                    if not data:
                        self._drop(sel, sock, rst=False)
