"""A client run inside the hub namespace: the harness's eyes, or load.

``probe.py probe PORT UPS OUT``: every 0.2 s ask ``GET VAR <ups> ups.status``
and ``GET NUMLOGINS <ups>`` on one connection (reconnecting when it breaks)
and append ``<boottime> fresh|stale|down <status> <numlogins>`` to OUT.

``probe.py load PORT UPS N``: N connections each sending ``LIST VAR`` and
``GET VAR`` as fast as upsd answers, until killed (load while upsd reloads).

``probe.py poll PORT UPS N OUT``: N clients polling like monitoring tools do,
each once a second (``GET VAR`` of the status, every fifth time ``LIST
VAR``), reconnecting after an error; once a second the totals ``<boottime>
<answers> <errors>`` are appended to OUT.
Standard library only; every socket has a timeout, every loop ends when the
harness kills the process.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

TIMEOUT = 1.0
PERIOD = 0.2


def _now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class Conn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""

    def ask(self, line: str, until: bytes = b"") -> list[str]:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
            self.buf = b""
        self.sock.sendall(line.encode() + b"\n")
        out: list[str] = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\n", 1)
            text = raw.decode("latin-1")
            out.append(text)
            if not until or text.startswith(until.decode()) or text.startswith("ERR"):
                return out

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def probe(port: int, ups: str, out_path: str) -> None:
    conn = Conn(port)
    with open(out_path, "a", buffering=1) as out:
        while True:
            start = _now()
            try:
                reply = conn.ask(f"GET VAR {ups} ups.status")[0]
                logins = conn.ask(f"GET NUMLOGINS {ups}")[0]
                n = logins.split()[-1] if logins.startswith("NUMLOGINS") else "-1"
                if reply.startswith("VAR"):
                    status = reply.split('"')[1].replace(" ", "+") or "-"
                    out.write(f"{_now():.3f} fresh {status} {n}\n")
                else:
                    out.write(f"{_now():.3f} stale {reply.replace(' ', '_')} {n}\n")
            except OSError:
                conn.close()
                out.write(f"{_now():.3f} down - -1\n")
            time.sleep(max(0.0, PERIOD - (_now() - start)))


def load(port: int, ups: str, n: int) -> None:
    def worker() -> None:
        conn = Conn(port)
        while True:
            try:
                conn.ask(f"LIST VAR {ups}", until=b"END LIST")
                conn.ask(f"GET VAR {ups} ups.status")
            except OSError:
                conn.close()
                time.sleep(0.2)

    for _ in range(n):
        threading.Thread(target=worker, daemon=True).start()
    while True:
        time.sleep(1)


def poll(port: int, ups: str, n: int, out_path: str) -> None:
    counts = {"ok": 0, "err": 0}
    lock = threading.Lock()

    def worker(k: int) -> None:
        conn, i = Conn(port), 0
        time.sleep(k / n)  # spread the clients over the second
        while True:
            start = _now()
            try:
                if i % 5 == 0:
                    conn.ask(f"LIST VAR {ups}", until=b"END LIST")
                reply = conn.ask(f"GET VAR {ups} ups.status")[0]
                key = "ok" if reply.startswith("VAR") else "err"
            except OSError:
                conn.close()
                key = "err"
            with lock:
                counts[key] += 1
            i += 1
            time.sleep(max(0.0, 1.0 - (_now() - start)))

    for k in range(n):
        threading.Thread(target=worker, args=(k,), daemon=True).start()
    with open(out_path, "a", buffering=1) as out:
        while True:
            time.sleep(1)
            with lock:
                out.write(f"{_now():.3f} {counts['ok']} {counts['err']}\n")


if __name__ == "__main__":
    if sys.argv[1] == "probe":
        probe(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "poll":
        poll(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        load(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
