"""The flood section of the benchmark: an honest client under invalid input (issue 15).

    python bench/run.py --only flood [--seconds 10] [--impl nut,pnut]

Per server (NUT's C upsd and pnut's, same dummy-ups driver, server pinned
to CPU 0, attacker and honest client on CPU 1), one row per scenario:

* ``garbage 20`` / ``garbage 60``: that many connections sending random
  bytes and then a 100 KB line, again and again, reconnecting when dropped;
* ``abuse mix``: 1500 connections held open, 100 slowloris (one byte per
  0.5 s, never a newline), 20 garbage connections, 300 wrong passwords;
* ``garbage 20 TLS``: the garbage goes inside TLS records after STARTTLS
  (half of the connections) or replaces the handshake (the other half);
* ``garbage 20, half core``: as ``garbage 20`` with a busy loop sharing
  the server's core (a small board).

Meanwhile an honest client (its own process, beside the attacker, which
runs niced so that the client's own scheduling does not dominate) asks
``GET VAR`` every 50 ms on one connection.  Reported: its p99 and worst answer time and failures,
the server's CPU seconds during the flood, and how long ``VER`` takes on a
fresh connection right after the flood ends.

The same file is the attacker (``flood.py attack``) and the honest client
(``flood.py honest``), run as separate processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (label, garbage conns, held, slowloris, wrong passwords, tls, busy loop on the server core)
SCENARIOS: list[tuple[str, int, int, int, int, bool, bool]] = [
    ("garbage 20", 20, 0, 0, 0, False, False),
    ("garbage 60", 60, 0, 0, 0, False, False),
    ("abuse mix", 20, 1500, 100, 300, False, False),
    ("garbage 20 TLS", 20, 0, 0, 0, True, False),
    ("garbage 20, half core", 20, 0, 0, 0, False, True),
]
HONEST_INTERVAL = 0.05
LONG_LINE = b"x" * 100_000 + b"\n"


# -- the attacker ----------------------------------------------------------------


async def _open(port: int, tls: bool, handshake: bool) -> tuple[asyncio.StreamReader,
                                                                 asyncio.StreamWriter]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    if tls:
        writer.write(b"STARTTLS\n")
        await writer.drain()
        await asyncio.wait_for(reader.readline(), 10)
        if handshake:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            await asyncio.wait_for(writer.start_tls(ctx), 10)
    return reader, writer


async def _garbage(port: int, until: float, seed: int, tls: bool, counts: dict[str, int]) -> None:
    rng = random.Random(seed)
    chunks = [rng.randbytes(32768) for _ in range(4)]
    while time.monotonic() < until:
        try:
            _reader, writer = await _open(port, tls, handshake=seed % 2 == 0)
        except (OSError, TimeoutError, ssl.SSLError):
            counts["connect_failed"] = counts.get("connect_failed", 0) + 1
            await asyncio.sleep(0.05)
            continue
        try:
            while time.monotonic() < until:
                writer.write(rng.choice(chunks))
                writer.write(LONG_LINE)
                await asyncio.wait_for(writer.drain(), 5)
                counts["garbage_kib"] = counts.get("garbage_kib", 0) + 130
        except (OSError, TimeoutError, ssl.SSLError):
            counts["garbage_dropped"] = counts.get("garbage_dropped", 0) + 1
        finally:
            writer.close()
            # Retrieves the reset the stream kept (else asyncio logs "Future
            # exception was never retrieved" with a traceback in the table).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)


async def _held(port: int, until: float, counts: dict[str, int]) -> None:
    try:
        reader, writer = await _open(port, False, False)
        writer.write(b"VER\n")
        await asyncio.wait_for(reader.readline(), 10)
        counts["held"] = counts.get("held", 0) + 1
        while time.monotonic() < until:
            await asyncio.sleep(min(5.0, max(0.0, until - time.monotonic())))
        writer.close()
    except (OSError, TimeoutError):
        counts["held_failed"] = counts.get("held_failed", 0) + 1


async def _slowloris(port: int, until: float, counts: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            _reader, writer = await _open(port, False, False)
            for ch in b"GET VAR ups ups.status" * 100:
                if time.monotonic() >= until:
                    break
                writer.write(bytes([ch]))
                await writer.drain()
                await asyncio.sleep(0.5)
            writer.close()
        except (OSError, TimeoutError):
            counts["slow_dropped"] = counts.get("slow_dropped", 0) + 1


async def _brute(port: int, until: float, n: int, counts: dict[str, int]) -> None:
    for i in range(n):
        if time.monotonic() >= until:
            return
        try:
            reader, writer = await _open(port, False, False)
            writer.write(f"USERNAME admin\nPASSWORD wrong{i}\nLOGIN ups\n".encode())
            await writer.drain()
            for _ in range(3):
                await asyncio.wait_for(reader.readline(), 10)
            counts["brute"] = counts.get("brute", 0) + 1
            writer.close()
        except (OSError, TimeoutError):
            counts["brute_failed"] = counts.get("brute_failed", 0) + 1
        await asyncio.sleep(max(0.0, until - time.monotonic()) / max(1, n - i) / 2)


async def attack(port: int, seconds: float, garbage: int, held: int, slow: int, brute: int,
                 tls: bool) -> dict[str, int]:
    until = time.monotonic() + seconds
    counts: dict[str, int] = {}
    tasks = [_garbage(port, until, i, tls, counts) for i in range(garbage)]
    tasks += [_held(port, until, counts) for _ in range(held)]
    tasks += [_slowloris(port, until, counts) for _ in range(slow)]
    if brute:
        tasks.append(_brute(port, until, brute, counts))
    print("STARTED", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), seconds + 30)
    return counts


# -- the honest client ----------------------------------------------------------------


def honest(port: int, seconds: float, ups: str) -> dict[str, float]:
    """GET VAR every HONEST_INTERVAL on one connection; latencies and failures."""
    lat: list[float] = []
    failures = 0
    until = time.monotonic() + seconds
    sock: socket.socket | None = None
    buf = b""
    while time.monotonic() < until:
        start = time.monotonic()
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                buf = b""
            sock.sendall(f"GET VAR {ups} ups.status\n".encode())
            while b"\n" not in buf:
                data = sock.recv(4096)
                if not data:
                    raise ConnectionError("closed")
                buf += data
            line, buf = buf.split(b"\n", 1)
            if not line.startswith(b"VAR "):
                raise ConnectionError(line[:60].decode("latin-1"))
            lat.append(time.monotonic() - start)
        except (OSError, ConnectionError):
            failures += 1
            if sock is not None:
                sock.close()
            sock = None
        time.sleep(max(0.0, HONEST_INTERVAL - (time.monotonic() - start)))
    if sock is not None:
        sock.close()
    lat.sort()
    return {
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3 if lat else float("nan"),
        "max_ms": lat[-1] * 1e3 if lat else float("nan"),
        "answers": float(len(lat)),
        "failures": float(failures),
    }


def ver_after(port: int) -> float:
    """Seconds for VER on a fresh connection (nan if it fails within 10 s)."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"VER\n")
            got = b""
            while b"\n" not in got:
                data = s.recv(4096)
                if not data:
                    return float("nan")
                got += data
    except OSError:
        return float("nan")
    return time.monotonic() - start


# -- orchestration (called by bench/run.py) ----------------------------------------------


def run_scenario(port: int, server_pid: int, seconds: float, scenario: tuple[
        str, int, int, int, int, bool, bool], pinned: Callable[[list[str], str], list[str]],
                 cpu_seconds: Callable[[int], float], server_cpu: str, load_cpu: str,
                 ups: str) -> dict[str, float]:
    _label, garbage, held, slow, brute, tls, busy = scenario
    me = [sys.executable, str(Path(__file__).resolve())]
    hog = None
    if busy:
        hog = subprocess.Popen(pinned([sys.executable, "-c", "while True: pass"], server_cpu))
    # The attacker runs niced on the load core, so that the honest client's
    # own scheduling delay does not stand in for the server's.
    attacker = subprocess.Popen(
        pinned(["nice", "-n", "10", *me, "attack", str(port), str(seconds), str(garbage),
                str(held), str(slow), str(brute), "1" if tls else "0"], load_cpu),
        stdout=subprocess.PIPE, text=True)
    try:
        assert attacker.stdout is not None
        attacker.stdout.readline()  # STARTED
        time.sleep(min(1.0, seconds / 10))  # let the flood build up
        before = cpu_seconds(server_pid)
        honest_proc = subprocess.run(
            pinned([*me, "honest", str(port), str(seconds * 0.8), ups], load_cpu),
            capture_output=True, text=True, timeout=seconds + 60, check=True)
        used = cpu_seconds(server_pid) - before
        out, _ = attacker.communicate(timeout=seconds + 60)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.wait()
        if hog is not None:
            hog.kill()
            hog.wait()
    row: dict[str, float] = json.loads(honest_proc.stdout.strip().splitlines()[-1])
    row["server_cpu_s"] = used
    row["ver_after_s"] = ver_after(port)
    counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    row["garbage_mib"] = counts.get("garbage_kib", 0) / 1024
    row["garbage_dropped"] = float(counts.get("garbage_dropped", 0))
    return row


def table(rows: dict[str, dict[str, dict[str, float]]]) -> str:
    """rows[impl][scenario] -> one line per scenario, NUT and pnut side by side."""
    lines = [f"{'flood (honest GET VAR / 50 ms)':<28} {'NUT p99':>8} {'NUT max':>8}"
             f" {'pnut p99':>9} {'pnut max':>9} {'fail N/p':>8} {'cpu N':>6} {'cpu p':>6}"
             f" {'VER after N/p':>14} {'MiB N/p':>11}"]
    nut, pn = rows.get("nut", {}), rows.get("pnut", {})
    for label, *_ in SCENARIOS:
        a, b = nut.get(label), pn.get(label)
        if a is None and b is None:
            continue

        def f(row: dict[str, float] | None, key: str, fmt: str) -> str:
            return format(row[key], fmt) if row is not None and key in row else "-"

        lines.append(
            f"{label:<28} {f(a, 'p99_ms', '7.1f')}ms {f(a, 'max_ms', '7.0f')}ms"
            f" {f(b, 'p99_ms', '8.1f')}ms {f(b, 'max_ms', '8.0f')}ms"
            f" {f(a, 'failures', '.0f') + '/' + f(b, 'failures', '.0f'):>8}"
            f" {f(a, 'server_cpu_s', '6.2f')} {f(b, 'server_cpu_s', '6.2f')}"
            f" {f(a, 'ver_after_s', '.3f') + '/' + f(b, 'ver_after_s', '.3f'):>14}"
            f" {f(a, 'garbage_mib', '.0f') + '/' + f(b, 'garbage_mib', '.0f'):>11}")
    lines.append("targets (issue 15): pnut p99 <= max(100 ms, NUT p99), no failures, VER after"
                 " <= 0.5 s, pnut cpu <= 2x NUT on 'garbage 20'")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["attack"]:
        port, seconds, garbage, held, slow, brute, tls = argv[1:8]
        counts = asyncio.run(attack(int(port), float(seconds), int(garbage), int(held),
                                    int(slow), int(brute), tls == "1"))
        print(json.dumps(counts), flush=True)
        return 0
    if argv[:1] == ["honest"]:
        print(json.dumps(honest(int(argv[1]), float(argv[2]), argv[3])), flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main(sys.argv[1:]))
