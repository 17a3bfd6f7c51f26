"""NUT servers (upsd, pnut's or NUT's) on given hosts: ``LIST UPS``.

nut-scanner's ``-O``: every UPS a server lists becomes a section.  NUT
2.8.0 prints ``driver = "nutclient"`` (no such driver exists) and drops a
non-standard port; pnut prints what works: ``dummy-ups`` in repeater mode
with ``port = "ups@host[:port]"`` and the server's description.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from pnut.client.aio import AsyncClient
from pnut.client.errors import ClientError
from pnut.protocol.errors import NutError
from pnut.scan import Found

DEFAULT_PORT = 3493
CONCURRENCY = 64


def _where(host: str, port: int) -> str:
    if port == DEFAULT_PORT:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def list_server(host: str, port: int, timeout: float, bus: str = "NUT") -> list[Found]:
    try:
        async with AsyncClient(host, port, timeout=timeout) as client:
            entries = await client.list_ups()
    except (ClientError, NutError, OSError, TimeoutError):
        return []
    out = []
    for entry in entries:
        dev = Found(bus, "dummy-ups", f"{entry.name}@{_where(host, port)}")
        if entry.description and entry.description not in ("Unavailable",
                                                           "Description unavailable"):
            dev.add("desc", entry.description)
        out.append(dev)
    return out


async def scan_nut(hosts: Iterable[str], port: int = DEFAULT_PORT,
                   timeout: float = 5.0) -> list[Found]:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(host: str) -> list[Found]:
        async with sem:
            return await list_server(host, port, timeout)

    results = await asyncio.gather(*(one(h) for h in hosts))
    return [dev for devs in results for dev in devs]
