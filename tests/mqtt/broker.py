"""A real mosquitto on 127.0.0.1 and a paho observer, for the MQTT tests.

:class:`Mosquitto` writes a private config (random port, anonymous,
no persistence) and starts Debian's broker; it can be stopped and started
again on the same port (the reconnect tests).  :class:`Observer` is a paho
client in its own thread that records every message it sees: ``retained``
keeps the newest payload per topic (as a late subscriber would see it),
``log`` every message in arrival order.
"""

from __future__ import annotations

import shutil
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
