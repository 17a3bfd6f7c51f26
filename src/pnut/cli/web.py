"""``pnut web``: Prometheus metrics, a JSON API and a live page for several upsd servers.

How this works
--------------
The arguments become :class:`~pnut.poller.ServerSpec` s (from ``--server``,
``--servers-file`` and ``PNUT_SERVERS``; a password from the URL, the file,
or ``PNUT_PASSWORD``), a :class:`~pnut.poller.Poller` follows them and
:func:`pnut.web.app.make_app` serves its state.  SIGINT/SIGTERM stop it.
``--listen`` with port 0 picks a free port; the address actually bound is
printed on stdout, so a script (or a test) can read it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import ssl
import sys
from pathlib import Path

from pnut.client.tls import TlsSettings, settings_from
from pnut.poller import Poller, ServerSpec, parse_servers, read_server_file
from pnut.protocol.upsname import UpsNameError, parse_hostport

DEFAULT_LISTEN = "127.0.0.1:9493"
ENV_SERVERS = "PNUT_SERVERS"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pnut web",
        description="Prometheus /metrics, JSON API, Server-Sent Events and a live page "
                    "for every UPS of one or more upsd servers (pnut's or NUT's).",
        epilog="Passwords never need to be on the command line: use --servers-file (one "
               "nut:// URL per line), PNUT_SERVERS, or nut://USER@HOST with PNUT_PASSWORD. "
               "Commands and settings use the credentials each HTTP request brings.")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="ADDR:PORT",
                   help=f"HTTP address (default {DEFAULT_LISTEN}; port 0 picks one)")
    p.add_argument("--server", action="append", default=[], metavar="URL",
                   help="nut://[USER[:PASSWORD]@]HOST[:PORT], repeatable "
                        "(default nut://localhost:3493)")
    p.add_argument("--servers-file", type=Path, metavar="FILE",
                   help="server URLs, one per line (keeps passwords out of ps)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds for one poll (default 5); each reply within it must come "
                        "within half the interval")
    p.add_argument("--history", type=float, default=6.0, metavar="HOURS",
                   help="hours of chart history kept in memory (default 6)")
    p.add_argument("--history-step", type=float, default=60.0, metavar="SECONDS",
                   help="seconds between chart points (default 60)")
    p.add_argument("--certfile", metavar="PEM",
                   help="serve HTTPS with this certificate and key (one PEM file)")
    return p


def _urls(args: argparse.Namespace) -> list[str]:
    urls = list(args.server)
    if args.servers_file is not None:
        try:
            text = args.servers_file.read_text()
        except OSError as exc:
            raise ValueError(f"{args.servers_file}: {exc.strerror or exc}") from None
        urls += read_server_file(text, str(args.servers_file))
    if not urls and os.environ.get(ENV_SERVERS):
        urls = os.environ[ENV_SERVERS].split()
    return urls or ["nut://localhost:3493"]


def listen_address(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT``); port 0 asks the kernel for a free one."""
    if text.endswith(":0"):
        host, _ = parse_hostport(text[:-2] + ":1")
        return host, 0
    return parse_hostport(text)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        specs = parse_servers(_urls(args))
        host, port = listen_address(args.listen)
        if args.interval <= 0 or args.timeout <= 0:
            raise ValueError("--interval and --timeout must be positive")
        tls = settings_from()
        context = None
        if args.certfile:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args.certfile)
    except (ValueError, UpsNameError, OSError, ssl.SSLError) as exc:
        sys.stderr.write(f"pnut web: {exc}\n")
        return 2
    try:
        asyncio.run(_serve(args, specs, host, port, tls, context))
    except ImportError as exc:
        sys.stderr.write(f"pnut web: {exc.name} is missing: pip install 'pnut[web]'\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"pnut web: {args.listen}: {exc.strerror or exc}\n")
        return 1
    return 0


async def _serve(args: argparse.Namespace, specs: list[ServerSpec], host: str, port: int,
                 tls: TlsSettings, context: ssl.SSLContext | None) -> None:
    from aiohttp import web

    from pnut.web.app import PollerBackend, make_app
    from pnut.web.history import History

    poller = Poller(specs, interval=args.interval,
                    timeout=args.timeout, tls=tls)
    history = History(span=args.history * 3600, step=args.history_step)
    app = make_app(PollerBackend(poller), history)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    polling = asyncio.create_task(poller.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port, ssl_context=context)
        await site.start()
        scheme = "https" if context else "http"
        for addr in runner.addresses:
            shown = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
            print(f"pnut web: {scheme}://{shown}:{addr[1]}/ "
                  f"(metrics: {scheme}://{shown}:{addr[1]}/metrics)", flush=True)
        print(f"pnut web: following {', '.join(str(s) for s in specs)}", flush=True)
        await stop.wait()
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await runner.cleanup()
