"""pnut status: every UPS of one server, summarized in words on one screen.

    $ pnut status nas:3493
    nas:3493: 2 UPS

    rack - Main UPS
      on battery, 43% charge, 12 min left, load 20%
      APC Smart-UPS 750

``--json`` prints the same as one JSON object (every variable included).
Exit status 0, or 1 when the server cannot be reached or refuses LIST UPS.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from pnut.cli._clientcli import TLS_HELP, Fatal, take_tls_options
from pnut.cli._help import description
from pnut.cli._summary import summarize
from pnut.client import Client, ClientError, ServerError, UpsNameError, parse_hostport
from pnut.protocol.limits import DEFAULT_HOST


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pnut status", description=description(__doc__),
                                epilog=TLS_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("server", nargs="?", default=DEFAULT_HOST, metavar="host[:port]",
                   help="upsd to ask (default: localhost:3493)")
    p.add_argument("-t", "--timeout", type=float, default=10.0, help="seconds per request")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: each UPS's summary and variables")
    return p


def main(argv: list[str]) -> int:
    try:
        tls, argv = take_tls_options(argv)  # --tls, --cafile, --pin, --certfile as upsc's
    except Fatal as exc:
        sys.stderr.write(f"pnut status: {exc}\n")
        return 1
    args = _parser().parse_args(argv)
    try:
        host, port = parse_hostport(args.server)
    except UpsNameError as exc:
        sys.stderr.write(f"pnut status: {args.server}: {exc}\n")
        return 1
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with Client(host, port, timeout=max(0.1, args.timeout)) as client:
            client.secure(tls)
            if args.json:
                json.dump(as_json(client, where), sys.stdout, indent=2)
                sys.stdout.write("\n")
                return 0
            lines = render(client, where)
    except (ClientError, ValueError, OSError) as exc:
        sys.stderr.write(f"pnut status: {exc}\n")
        return 1
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0


def as_json(client: Client, where: str) -> dict[str, Any]:
    """``--json``: the server, then per UPS its summary in words and its variables."""
    upses: list[dict[str, Any]] = []
    for ups in client.list_ups():
        entry: dict[str, Any] = {"name": ups.name, "description": ups.description}
        try:
            variables = client.list_var(ups.name)
        except ServerError as exc:
            entry["error"] = exc.nut_text
        else:
            summary = summarize(variables)
            entry.update(asdict(summary), sentence=summary.sentence(), variables=variables)
        upses.append(entry)
    return {"server": where, "ups": upses}


def render(client: Client, where: str) -> list[str]:
    """The report, one string per line."""
    upses = client.list_ups()
    count = f"{len(upses)} UPS" if upses else "no UPS configured"
    lines = [f"{where}: {count}"]
    for ups in upses:
        lines.append("")
        title = ups.name
        if ups.description and ups.description != "Description unavailable":
            title += f" - {ups.description}"
        lines.append(title)
        try:
            variables = client.list_var(ups.name)
        except ServerError as exc:
            lines.append(f"  no data: {exc.nut_text.lower()}")
            continue
        summary = summarize(variables)
        lines.append(f"  {summary.sentence()}")
        if summary.alarm:
            lines.append(f"  alarm: {summary.alarm}")
        if summary.model:
            lines.append(f"  {summary.model}")
    return lines
