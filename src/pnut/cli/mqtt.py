"""pnut mqtt: mirror one or more upsd servers onto an MQTT broker.

Credentials never have to be on the command line: the broker's come from
the URL, ``--broker-password-file`` or ``$PNUT_MQTT_USERNAME`` /
``$PNUT_MQTT_PASSWORD``; upsd's (needed only for ``--commands``) from the
server URL, ``--password-file`` or ``$PNUT_USERNAME`` / ``$PNUT_PASSWORD``.
See docs/mqtt.md.

SIGTERM and SIGINT stop it cleanly (exit 0) from the first line of
:func:`main` on: until the event loop takes them over they are only
noted (:class:`_EarlyStop`), so a stop during the imports, which take a
good part of the start-up, is no death by signal (-15).  Only the
``pnut`` package and its command dispatcher are imported before that
handler; before them, in the interpreter's own start, the kernel's
default action still applies.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from types import FrameType

    from pnut.mqtt.bridge import Options
    from pnut.mqtt.broker import Broker
    from pnut.poller import ServerSpec

MQTT_PORT = 1883
MQTTS_PORT = 8883
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _EarlyStop:
    """The stop signals' handler before the event loop runs (and after it
    closes, which puts back the default, killing, action): notes them."""

    requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def install(self) -> _EarlyStop:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self)
        return self


def _parser() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(
        prog="pnut mqtt",
        description="publish UPS state to an MQTT broker (with Home Assistant discovery)")
    p.add_argument("--broker", default="mqtt://localhost",
                   help="mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT] (default mqtt://localhost)")
    p.add_argument("--broker-password-file", metavar="FILE",
                   help="file holding the broker password (else $PNUT_MQTT_PASSWORD)")
    p.add_argument("--broker-cafile", metavar="FILE", help="CA certificates for mqtts://")
    p.add_argument("--broker-insecure", action="store_true",
                   help="mqtts:// without checking the broker's certificate")
    p.add_argument("--server", action="append", default=[], metavar="URL",
                   help="nut://[USER[:PASSWORD]@]HOST[:PORT], repeatable (default nut://localhost)")
    p.add_argument("--servers-file", type=Path, metavar="FILE",
                   help="server URLs, one per line (keeps passwords out of ps)")
    p.add_argument("--user", help="upsd user for --commands when a URL names none "
                   "(else $PNUT_USERNAME)")
    p.add_argument("--password-file", metavar="FILE",
                   help="file holding the upsd password (else $PNUT_PASSWORD)")
    p.add_argument("--commands", action="store_true",
                   help="accept instant commands on <prefix>/<server>/<ups>/command/<cmd>")
    p.add_argument("-i", "--interval", type=float, default=5.0,
                   help="seconds between polls of each upsd (default 5)")
    p.add_argument("--prefix", default="pnut", help="topic prefix (default pnut)")
    p.add_argument("--discovery-prefix", default="homeassistant",
                   help="Home Assistant discovery prefix (default homeassistant)")
    p.add_argument("--no-discovery", action="store_true", help="no Home Assistant discovery")
    p.add_argument("--keepalive", type=int, default=30,
                   help="MQTT keepalive in seconds; the broker sends the last will "
                   "after 1.5 times this without a word (default 30)")
    p.add_argument("--watch", action="store_true",
                   help="also watch every bridge's heartbeat on the broker and publish "
                   "offline for one that falls silent (within 1.25 of its poll intervals, "
                   "sooner than the broker's last will); alone, without --server, "
                   "it only watches")
    p.add_argument("-D", "--debug", action="count", default=0, help="more logging")
    return p


def _read_secret(path: str | None, env: str) -> str | None:
    if path is not None:
        return Path(path).read_text().splitlines()[0] if Path(path).stat().st_size else ""
    return os.environ.get(env)


def parse_broker(text: str, user: str | None, password: str | None,
                 cafile: str | None = None, insecure: bool = False) -> Broker:
    """``mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT]`` as a :class:`Broker`."""
    from urllib.parse import unquote, urlsplit

    from pnut.client.session import Secret
    from pnut.mqtt.broker import Broker

    raw = text if "://" in text else f"mqtt://{text}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError("bad broker URL (host or port)") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("broker URL must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    tls = parts.scheme == "mqtts"
    final_user = unquote(parts.username) if parts.username else user
    final_pw = unquote(parts.password) if parts.password is not None else password
    return Broker(parts.hostname, port or (MQTTS_PORT if tls else MQTT_PORT), tls, final_user,
                  Secret(final_pw) if final_pw is not None and final_user else None,
                  cafile, insecure)


def main(argv: list[str]) -> int:
    early = _EarlyStop().install()  # first: see the module doc
    import asyncio
    import logging

    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug > 1 else logging.INFO,
        format="pnut mqtt: %(levelname)s %(message)s", stream=sys.stderr)
    try:
        import aiomqtt  # noqa: F401
    except ImportError:
        sys.stderr.write("pnut mqtt needs aiomqtt: pip install 'pnut[mqtt]'\n")
        return 2
    from pnut.mqtt.bridge import Options

    try:
        broker_pw = _read_secret(args.broker_password_file, "PNUT_MQTT_PASSWORD")
        nut_pw = _read_secret(args.password_file, "PNUT_PASSWORD")
        broker = parse_broker(args.broker, os.environ.get("PNUT_MQTT_USERNAME"), broker_pw,
                              args.broker_cafile, args.broker_insecure)
        servers = _servers(args, nut_pw)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"pnut mqtt: {exc}\n")
        return 2
    missing = [s for s in servers if s.password is None]
    if args.commands and missing:
        sys.stderr.write(f"pnut mqtt: --commands needs a upsd user and password for "
                         f"{missing[0]} (URL, --user/--password-file or $PNUT_USERNAME/"
                         "$PNUT_PASSWORD)\n")
        return 2
    if args.interval < 0.1:
        sys.stderr.write("pnut mqtt: --interval must be at least 0.1\n")
        return 2
    opts = Options(interval=args.interval, prefix=args.prefix.strip("/"),
                   discovery_prefix=None if args.no_discovery else args.discovery_prefix,
                   commands=args.commands, keepalive=max(1, args.keepalive),
                   watch=args.watch)
    if servers:
        logging.getLogger("pnut.mqtt").info(
            "%s -> %s", ", ".join(s.label for s in servers), broker)
    try:
        return asyncio.run(_serve(servers, broker, opts, early))
    finally:
        early.install()  # the loop's close put back the killing default


def _servers(args: argparse.Namespace, password: str | None) -> list[ServerSpec]:
    """--server and --servers-file URLs; --user/--password-file fill in what they lack."""
    from dataclasses import replace

    from pnut.client.session import Secret
    from pnut.mqtt.names import server_key
    from pnut.poller import parse_servers, read_server_file

    urls = list(args.server)
    if args.servers_file is not None:
        urls += read_server_file(args.servers_file.read_text(), str(args.servers_file))
    env = dict(os.environ)
    if password is not None:
        env["PNUT_PASSWORD"] = password
    if not urls and args.watch:
        return []  # a watcher only
    specs = parse_servers(urls or ["nut://localhost"], env)
    user = args.user or os.environ.get("PNUT_USERNAME")
    if user and password is not None:
        specs = [s if s.user else replace(s, user=user, password=Secret(password))
                 for s in specs]
    if len({server_key(s) for s in specs}) != len(specs):
        raise ValueError("the same server is given twice")
    return specs


async def _serve(servers: list[ServerSpec], broker: Broker, opts: Options,
                 early: _EarlyStop) -> int:
    # SIGTERM/SIGINT set ``stop``; the bridges see it, say goodbye and
    # disconnect (pnut.mqtt.bridge: cancelling is not a reliable stop on
    # Python 3.11).
    import asyncio

    from pnut.mqtt.aio import DaemonExecutor
    from pnut.mqtt.bridge import run_bridges

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(DaemonExecutor())
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    if early.requested:  # before the loop had them: stop at once
        stop.set()
    await run_bridges(servers, broker, opts, stop)
    return 0
