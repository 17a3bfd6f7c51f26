"""``pnut <command>`` and NUT's own program names, dispatched lazily.

Each command lives in its own module with ``main(argv) -> int`` so that
``pnut upsc`` does not import the server, and NUT's names (``upsc``,
``upsmon``...) are the same functions under another console script.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

#: subcommand -> module under pnut.cli, with a one-line summary.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "simulated UPS, upsd and upsmon in one foreground process tree"),
    "upsd": ("upsd", "the attachment daemon (network server, TCP 3493)"),
    "driver": ("driver", "run a UPS driver (sim, dummy-ups, ...)"),
    "upsdrvctl": ("upsdrvctl", "start, stop and shut down the drivers of ups.conf"),
    "drvhost": ("drvhost", "run many pnut drivers in one process (upsdrvctl --one-process)"),
    "scan": ("scan", "find UPSes (USB, SNMP, NUT servers, mDNS, serial): ups.conf sections"),
    "upsc": ("upsc", "read UPS variables"),
    "upscmd": ("upscmd", "send instant commands"),
    "upsrw": ("upsrw", "read and write settable variables"),
    "upslog": ("upslog", "log UPS variables periodically"),
    "upsmon": ("upsmon", "the management daemon: power-fail shutdown"),
    "upssched": ("upssched", "timers for upsmon notifications"),
    "status": ("status", "one-screen summary of every UPS on a server"),
    "watch": ("watch", "live terminal view of one or more servers"),
    "web": ("web", "Prometheus metrics, JSON API and live web page for upsd servers"),
    "mqtt": ("mqtt", "publish UPS state to an MQTT broker, with Home Assistant discovery"),
    "check-config": ("checkconfig", "check every NUT config file of a directory"),
    "systemd": ("systemd", "install systemd units for upsd, drivers and upsmon"),
    "cert": ("cert", "create and inspect TLS certificates"),
    "passwd": ("passwd", "hash a password for upsd.users"),
}


def _load(name: str) -> Callable[[list[str]], int]:
    module = importlib.import_module(f"pnut.cli.{COMMANDS[name][0]}")
    func: Callable[[list[str]], int] = module.main
    return func


def _usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items())
    return f"usage: pnut <command> [args]\n\ncommands:\n{rows}\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(_usage())
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        from pnut import __version__, _native

        print(f"pnut {__version__}\n{_native.describe()}")
        return 0
    name = args[0]
    if name not in COMMANDS:
        sys.stderr.write(f"pnut: unknown command {name!r}\n\n{_usage()}")
        return 2
    try:
        return _load(name)(args[1:])
    except KeyboardInterrupt:
        return 130


def _nut_name(name: str) -> Callable[[], int]:
    def run() -> int:
        return main([name, *sys.argv[1:]])

    run.__name__ = f"nut_{name}"
    return run


nut_upsc = _nut_name("upsc")
nut_upscmd = _nut_name("upscmd")
nut_upsrw = _nut_name("upsrw")
nut_upslog = _nut_name("upslog")
nut_upsmon = _nut_name("upsmon")
nut_upssched = _nut_name("upssched")
nut_upsdrvctl = _nut_name("upsdrvctl")
nut_upsd = _nut_name("upsd")
