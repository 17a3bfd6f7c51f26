"""Helpers for the upsd tests: conversations, transcripts, shared fixtures.

A :class:`Conn` is one raw TCP connection that sends a request line and
reads exactly its reply (one line, or a whole LIST block).  A transcript
is a list of request lines; a line starting with ``B> `` goes to a second
connection, so one transcript can show how connections see each other
(NUMLOGINS, LIST CLIENT).  ``$ID`` in a line is replaced by the last
TRACKING id the transcript received; the directive ``@wait-tracking``
polls ``GET TRACKING $ID`` until the driver has answered, and
``@until <request> => <reply>`` polls a request until its first reply line
is the one given (neither is recorded).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from support import Stack, wait_for

UUID_RE = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}")

USERS = """\
[admin]
  password = "s3cret pw"
  actions = SET FSD
  instcmds = ALL
  upsmon primary

[monuser]
  password = mon
  upsmon secondary

[setonly]
  password = setpw
  actions = set

[cmduser]
  password = cmdpw
  instcmds = load.off
"""

#: A small device with values that need quoting on the wire.
QUOTING_DEV = r"""ups.status: OB LB
ups.mfr: "Acme \"Power\" \#1"
ups.model: "Back\\slash  two  spaces"
battery.charge: 9
ups.load: 42
"""


class Conn:
    """One client connection that reads exactly one reply per request."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.closed = False

    def readline(self) -> str | None:
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        return raw.decode("latin-1")

    def reply(self) -> list[str]:
        first = self.readline()
        if first is None:
            return ["<closed>"]
        out = [first]
        if first.startswith("BEGIN LIST"):
            while True:
                line = self.readline()
                if line is None:
                    out.append("<closed>")
                    break
                out.append(line)
                if line.startswith("END LIST"):
                    break
        return out

    def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else line.encode("latin-1") + b"\n"
        self.sock.sendall(data)

    def ask(self, line: str) -> list[str]:
        self.send(line)
        return self.reply()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_transcript(port: int, lines: list[str]) -> list[str]:
    """The replies to ``lines``, each prefixed by its request."""
    conns: dict[str, Conn] = {}
    out: list[str] = []
    last_id = ""
    try:
        for raw in lines:
            key, line = ("B", raw[3:]) if raw.startswith("B> ") else ("A", raw)
            line = line.replace("$ID", last_id)
            conn = conns.get(key)
            if conn is None:
                conn = conns[key] = Conn(port)
            if line == "@wait-tracking":
                deadline = time.monotonic() + 10
                while conn.ask(f"GET TRACKING {last_id}") == ["PENDING"]:
                    assert time.monotonic() < deadline, "driver never answered TRACKING"
                    time.sleep(0.05)
                continue
            if line.startswith("@until "):
                request, want = line[len("@until "):].split(" => ", 1)
                deadline = time.monotonic() + 10
                while conn.ask(request)[0] != want:
                    assert time.monotonic() < deadline, f"never got {want!r} for {request!r}"
                    time.sleep(0.05)
                continue
            replies = conn.ask(line)
            for reply in replies:
                found = UUID_RE.search(reply)
                if found:
                    last_id = found.group(0)
            out.append(f"{raw}  ->  " + " | ".join(replies))
    finally:
        for conn in conns.values():
            conn.close()
    return out


def mask_ids(lines: list[str]) -> list[str]:
    """Replace TRACKING UUIDs (random in both servers) by a placeholder."""
    return [UUID_RE.sub("<UUID>", line) for line in lines]


def ready(st: Stack, ups: str, timeout: float = 20.0) -> None:
    """Wait until upsd serves real data (not WAIT) for ``ups``."""
    def check() -> bool:
        reply = st.talk([f"GET VAR {ups} ups.status"])
        return bool(reply) and reply[0].startswith("VAR") and '"WAIT"' not in reply[0]
    wait_for(check, timeout=timeout)


def wait_reply(port: int, line: str, want: str, timeout: float = 20.0) -> None:
    """Poll ``line`` on fresh connections until its first reply line is ``want``."""
    def check() -> bool:
        with Conn(port) as conn:
            return conn.ask(line)[0] == want
    wait_for(check, timeout=timeout, interval=0.1)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settle(seconds: float = 0.2) -> None:
    time.sleep(seconds)


class FakeDriver:
    """A scripted driver: a real Unix socket speaking the driver protocol.

    It answers DUMPALL with ``dump`` (a list of lines), PING with PONG,
    records every line upsd sends, and can push lines (broadcasts, garbage)
    to every connected upsd.
    """

    def __init__(self, path: Path, dump: list[str], answer_ping: bool = True) -> None:
        self.path = path
        self.dump = dump
        self.answer_ping = answer_ping
        self.received: list[str] = []
        self.conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.conns.append(conn)
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        buf = b""
        conn.settimeout(0.2)
        while not self._stop:
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("latin-1")
                with self._lock:
                    self.received.append(line)
                if line == "DUMPALL":
                    self._send(conn, "".join(f"{x}\n" for x in self.dump).encode())
                elif line == "PING" and self.answer_ping:
                    self._send(conn, b"PONG\n")

    def _send(self, conn: socket.socket, data: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(data)

    def push(self, data: str | bytes) -> None:
        raw = data.encode("latin-1") if isinstance(data, str) else data
        with self._lock:
            conns = list(self.conns)
        for conn in conns:
            self._send(conn, raw)

    def lines(self, prefix: str) -> list[str]:
        with self._lock:
            return [x for x in self.received if x.startswith(prefix)]

    def close(self) -> None:
        self._stop = True
        with self._lock:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.close()
        self.server.close()
        self._thread.join(2)
        with contextlib.suppress(OSError):
            self.path.unlink()


#: The event loops pnut's upsd can run on (PNUT_UPSD_LOOP); "epoll" is its own.
LOOPS = ["epoll", "uvloop", "asyncio"]


def use_loop(monkeypatch: pytest.MonkeyPatch, loop: str) -> None:
    """Make the next pnut upsd run on ``loop``."""
    monkeypatch.delenv("PNUT_NO_UVLOOP", raising=False)
    monkeypatch.setenv("PNUT_UPSD_LOOP", loop)


def loop_of(pid: int) -> str:
    """Which event loop process ``pid`` runs, from the libraries it has mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    if "uvloop" in maps:
        return "uvloop"
    return "asyncio" if "_asyncio." in maps else "epoll"
