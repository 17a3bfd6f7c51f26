"""pnut watch: a live table of every UPS on one or more servers.

How this works
--------------
Each refresh polls every server at once with :class:`AsyncClient` (one
connection per server, kept open and reopened when it fails), each poll
bounded by the refresh interval, and renders one ``rich`` table.  The
screen is redrawn only when a poll completes, never faster than the
interval (minimum 0.5 s).  ``--once`` prints a single table and exits
(for scripts and tests); ``--count N`` stops after N refreshes.  When the
output is not a terminal (a pipe, a file, a journal) each refresh is plain
lines instead, one per UPS: ``time server ups: state, charge, ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pnut.cli._clientcli import TLS_HELP, Fatal, take_tls_options
from pnut.cli._summary import Summary, summarize
from pnut.client import AsyncClient, ClientError, UpsNameError, parse_hostport
from pnut.client.tls import TlsSettings
from pnut.protocol.limits import DEFAULT_HOST

MIN_INTERVAL = 0.5
_STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "unknown": "dim"}


@dataclass
class Row:
    server: str
    ups: str
    summary: Summary | None = None
    error: str | None = None


@dataclass
class Watched:
    """One server: its address and the connection kept between refreshes."""

    host: str
    port: int
    label: str
    tls: TlsSettings = field(default_factory=TlsSettings)
    client: AsyncClient | None = None
    rows: list[Row] = field(default_factory=list)

    async def poll(self, timeout: float) -> list[Row]:
        try:
            if self.client is None or not self.client.connected:
                self.client = await AsyncClient.connect(self.host, self.port, timeout=timeout)
                await self.client.secure(self.tls)
            client = self.client
            rows = []
            for ups in await client.list_ups():
                try:
                    variables = await client.list_var(ups.name)
                    rows.append(Row(self.label, ups.name, summarize(variables)))
                except ClientError as exc:
                    rows.append(Row(self.label, ups.name, error=exc.nut_text))
            return rows
        except ClientError as exc:
            await self.close()
            return [Row(self.label, "-", error=exc.nut_text)]
        except (ValueError, OSError) as exc:  # bad PNUT_TLS* settings or CA file
            await self.close()
            return [Row(self.label, "-", error=f"TLS setup: {exc}")]

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.close()


def table(rows: list[Row]) -> Table:
    t = Table(title="pnut watch", expand=False)
    for column in ("server", "UPS", "status", "charge", "runtime", "load", "input"):
        t.add_column(column)
    for row in rows:
        if row.summary is None:
            t.add_row(row.server, row.ups, Text(row.error or "", style="bold red"), "", "", "", "")
            continue
        s = row.summary
        state = s.state + (f" ({s.alarm})" if s.alarm else "")
        t.add_row(row.server, row.ups, Text(state, style=_STYLE[s.severity]),
                  s.charge or "", s.runtime or "", s.load or "", s.input_voltage or "")
    return t


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pnut watch", description="live view of UPSes",
                                epilog=TLS_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("servers", nargs="*", metavar="host[:port]", help="default: localhost")
    p.add_argument("-i", "--interval", type=float, default=2.0, help="seconds between refreshes")
    p.add_argument("--once", action="store_true", help="print one table and exit")
    p.add_argument("--count", type=int, default=None, help="stop after this many refreshes")
    return p


async def _refresh(servers: list[Watched], timeout: float) -> list[Row]:
    results = await asyncio.gather(*(s.poll(timeout) for s in servers))
    return [row for rows in results for row in rows]


def plain_lines(rows: list[Row], stamp: str) -> str:
    """One line per UPS, for output that is not a terminal."""
    out = []
    for row in rows:
        what = row.summary.sentence() if row.summary is not None else f"error: {row.error}"
        if row.summary is not None and row.summary.alarm:
            what += f", alarm: {row.summary.alarm}"
        out.append(f"{stamp} {row.server} {row.ups}: {what}\n")
    return "".join(out)


async def _run_plain(servers: list[Watched], interval: float, count: int | None,
                     once: bool) -> None:
    loop = asyncio.get_running_loop()
    done = 0
    try:
        while True:
            started = loop.time()
            rows = await _refresh(servers, max(interval, 5.0) if once else interval)
            sys.stdout.write(plain_lines(rows, time.strftime("%H:%M:%S")))
            sys.stdout.flush()
            done += 1
            if once or (count is not None and done >= count):
                return
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
    finally:
        for s in servers:
            await s.close()


async def _run(servers: list[Watched], interval: float, count: int | None, once: bool) -> None:
    if not sys.stdout.isatty():
        await _run_plain(servers, interval, count, once)
        return
    console = Console()
    try:
        if once:
            console.print(table(await _refresh(servers, max(interval, 5.0))))
            return
        loop = asyncio.get_running_loop()
        with Live(table([]), console=console, auto_refresh=False, screen=False) as live:
            done = 0
            while count is None or done < count:
                started = loop.time()
                live.update(table(await _refresh(servers, interval)), refresh=True)
                done += 1
                if count is not None and done >= count:
                    break
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
    finally:
        for s in servers:
            await s.close()


def main(argv: list[str]) -> int:
    try:
        tls, argv = take_tls_options(argv)  # --tls, --cafile, --pin, --certfile as upsc's
    except Fatal as exc:
        sys.stderr.write(f"pnut watch: {exc}\n")
        return 1
    args = _parser().parse_args(argv)
    servers = []
    for text in args.servers or [DEFAULT_HOST]:
        try:
            host, port = parse_hostport(text)
        except UpsNameError as exc:
            sys.stderr.write(f"pnut watch: {text}: {exc}\n")
            return 1
        label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        servers.append(Watched(host, port, label, tls))
    interval = max(MIN_INTERVAL, args.interval)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(servers, interval, args.count, args.once))
    return 0
