"""The attackers of test_upsd_abuse.py, in their own process (asyncio, one thread).

    python abuse_attacker.py PORT SECONDS

Each kind of attack comes from its own loopback source address, so that
upsd's per-address limits apply to it and not to the honest clients on
127.0.0.1.  Prints one JSON line of counts at the end.  Every loop is
bounded by SECONDS (and the process by the test's timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import time

HOST = "127.0.0.1"
FLOOD_SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]  # 8 x 250 = 2000 connections
EXTRA_SOURCE, SLOW_SOURCE, RANDOM_SOURCE = "127.0.0.10", "127.0.0.11", "127.0.0.12"
LONG_SOURCE, BRUTE_SOURCE, DEAF_SOURCE = "127.0.0.13", "127.0.0.14", "127.0.0.15"

counts: dict[str, int] = {}


def count(key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


async def connect(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection(HOST, port, local_addr=(source, 0), limit=1 << 20), 10)


async def flood_one(port: int, source: str, hold_until: float, key: str) -> None:
    """Connect, ask VER, hold the connection open (saying NETVER now and then)."""
    try:
        reader, writer = await connect(port, source)
    except (OSError, TimeoutError):
        count(f"{key}_connect_failed")
        return
    try:
        writer.write(b"VER\n")
        line = await asyncio.wait_for(reader.readline(), 15)
        if not line.startswith(b"Network UPS Tools"):
            count(f"{key}_refused")
            return
        count(f"{key}_served")
        while time.monotonic() < hold_until:
            await asyncio.sleep(3 + random.random())
            writer.write(b"NETVER\n")
            if await asyncio.wait_for(reader.readline(), 15) != b"1.3\n":
                count(f"{key}_lost")
                return
        count(f"{key}_held")
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        count(f"{key}_error")
    finally:
        writer.close()


async def slowloris(port: int, until: float) -> None:
    """Trickle one byte of a request every 0.4 s, never finishing the line."""
    try:
        reader, writer = await connect(port, SLOW_SOURCE)
    except (OSError, TimeoutError):
        count("slow_connect_failed")
        return
    started = time.monotonic()

    def dropped() -> None:
        count("slow_dropped")
        counts["slow_dropped_after_ms"] = max(counts.get("slow_dropped_after_ms", 0),
                                              int((time.monotonic() - started) * 1000))

    try:
        for ch in b"GET VAR u ups.status" * 100:
            if time.monotonic() > until:
                count("slow_survived")
                return
            writer.write(bytes([ch]))
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(100), 0.4) == b"":
                    dropped()
                    return
    except (OSError, ConnectionError):  # the drop seen as a reset (the next byte within 0.4 s)
        dropped()
    finally:
        writer.close()


async def random_bytes(port: int, until: float) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await connect(port, RANDOM_SOURCE)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.1)
            continue
        try:
            while time.monotonic() < until:
                writer.write(os.urandom(32768))
                await writer.drain()
                with contextlib.suppress(TimeoutError):  # read what comes; a short pause
                    await asyncio.wait_for(reader.read(65536), 0.01)
                count("random_kib", 32)
        except (OSError, ConnectionError):
            count("random_dropped")
        finally:
            writer.close()


async def long_lines(port: int, until: float) -> None:
    line = b"GET VAR u " + b"x" * 1_000_000 + b"\n"
    try:
        reader, writer = await connect(port, LONG_SOURCE)
        while time.monotonic() < until:
            writer.write(line)
            await writer.drain()
            reply = await asyncio.wait_for(reader.readline(), 15)
            if reply != b"ERR VAR-NOT-SUPPORTED\n":
                count("long_bad_reply")
                return
            count("long_answered")
            await asyncio.sleep(0.05)
        writer.close()
    except (OSError, TimeoutError, ConnectionError):
        count("long_error")


async def brute_force(port: int, until: float) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await connect(port, BRUTE_SOURCE)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.05)
            continue
        try:
            guess = "".join(random.choices("abcdefghijklmnop0123456789", k=10))
            writer.write(f"USERNAME admin\nPASSWORD {guess}\nLOGIN u\n".encode())
            answers = [await asyncio.wait_for(reader.readline(), 10) for _ in range(3)]
            if answers[2] == b"ERR ACCESS-DENIED\n":
                count("brute_denied")
            else:
                count("brute_other")
        except (OSError, TimeoutError, ConnectionError):
            count("brute_error")
        finally:
            writer.close()


async def deaf(port: int, until: float) -> None:
    """Ask for big answers and never read them."""
    try:
        _reader, writer = await connect(port, DEAF_SOURCE)
    except (OSError, TimeoutError):
        count("deaf_connect_failed")
        return
    try:
        while time.monotonic() < until:
            writer.write(b"LIST VAR u\n" * 2000)
            await asyncio.wait_for(writer.drain(), 2)
        count("deaf_survived")
    except (OSError, ConnectionError):
        count("deaf_dropped")
    except TimeoutError:  # our own buffers full: upsd stopped reading us or dropped us
        count("deaf_stalled")
    finally:
        writer.close()


async def main(port: int, seconds: float) -> None:
    start = time.monotonic()
    until = start + seconds
    tasks = [flood_one(port, FLOOD_SOURCES[i % len(FLOOD_SOURCES)], until - 2, "flood")
             for i in range(2000)]
    tasks += [flood_one(port, EXTRA_SOURCE, until - 2, "extra") for _ in range(400)]
    tasks += [slowloris(port, until) for _ in range(50)]
    tasks += [random_bytes(port, until) for _ in range(10)]
    tasks += [long_lines(port, until) for _ in range(4)]
    tasks += [brute_force(port, until) for _ in range(4)]
    tasks += [deaf(port, until) for _ in range(10)]
    print("STARTED", flush=True)
    await asyncio.gather(*tasks)
    counts["seconds"] = int(time.monotonic() - start)


if __name__ == "__main__":
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
    print(json.dumps(counts), flush=True)
