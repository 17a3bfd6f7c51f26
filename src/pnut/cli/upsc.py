"""upsc: read UPS variables, list UPSes and clients (NUT 2.8.0 compatible).

Output, messages and exit codes are NUT's, byte for byte; ``--json``
prints the same data as one JSON document instead (schema in
docs/client.md).
"""

from __future__ import annotations

import sys

from pnut.cli._clientcli import (
    closing,
    connect,
    fatal,
    parse_command_line,
    print_json,
    run_main,
    upsname_or_fatal,
)
from pnut.client import Client, ClientError, UnknownCommand, UpsNameError, parse_hostport
from pnut.protocol.limits import DEFAULT_HOST, NUT_VERSION

PROG = "upsc"
_UPS_FORMAT = "\nRequired format: upsname[@hostname[:port]]"

USAGE = f"""\
Network UPS Tools upsc {NUT_VERSION}

usage: {PROG} -l | -L [<hostname>[:port]]
       {PROG} <ups> [<variable>]
       {PROG} -c <ups>

Demo program to display UPS variables.

First form (lists UPSes):
  -l         - lists each UPS on <hostname>, one per line.
  -L         - lists each UPS followed by its description (from ups.conf).
               Default hostname: localhost

Second form (lists variables and values):
  <ups>      - upsd server, <upsname>[@<hostname>[:<port>]] form
  <variable> - optional, display this variable only.
               Default: list all variables for <host>

Third form (lists clients connected to a device):
  -c         - lists each client connected on <ups>, one per line.
  <ups>      - upsd server, <upsname>[@<hostname>[:<port>]] form
"""


def main(argv: list[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    line = parse_command_line(PROG, argv, "hlLcV", USAGE)
    if line is None:
        return 0
    as_json, tls, opts, args = line
    varlist = clientlist = verbose = False
    for opt, _ in opts:
        if opt in "lL":
            varlist = True
            verbose = verbose or opt == "L"
        elif opt == "c":
            clientlist = True
        elif opt == "V":
            # NUT 2.8.0's upsc names itself upscmd here; kept for compatibility.
            fatal(f"Network UPS Tools upscmd {NUT_VERSION}", 0)
        else:
            sys.stdout.write(USAGE)
            return 0

    if varlist:
        try:
            host, port = parse_hostport(args[0] if args else DEFAULT_HOST)
        except UpsNameError as exc:
            sys.stderr.write(f"{exc}\n")
            fatal("Error: invalid hostname.\nRequired format: [hostname[:port]]")
        with closing(connect(host, port, tls)) as client:
            _list_upses(client, verbose, as_json)
        return 0

    target = upsname_or_fatal(args[0] if args else None, _UPS_FORMAT)
    with closing(connect(target.host, target.port, tls)) as client:
        if clientlist:
            _list_clients(client, target.name, as_json)
        elif len(args) > 1:
            _print_var(client, target.name, args[1], as_json)
        else:
            _list_vars(client, target.name, as_json)
    return 0


def _too_old(exc: ClientError) -> str:
    if isinstance(exc, UnknownCommand):
        return "Error: upsd is too old to support this query"
    return f"Error: {exc.nut_text}"


def _list_upses(client: Client, verbose: bool, as_json: bool) -> None:
    try:
        upses = client.list_ups()
    except ClientError as exc:
        fatal(_too_old(exc))
    if as_json:
        print_json({"upses": [{"name": u.name, "description": u.description} for u in upses]})
        return
    for ups in upses:
        sys.stdout.write(f"{ups.name}: {ups.description}\n" if verbose else f"{ups.name}\n")


def _list_clients(client: Client, ups: str, as_json: bool) -> None:
    try:
        clients = client.list_client(ups)
    except ClientError as exc:
        fatal(_too_old(exc))
    if as_json:
        print_json({"ups": ups, "clients": [c.address for c in clients]})
        return
    for entry in clients:
        sys.stdout.write(f"{entry.address}\n")


def _print_var(client: Client, ups: str, var: str, as_json: bool) -> None:
    if "." not in var:
        fatal("Error: old-style variable names are not supported")
    try:
        value = client.get_var(ups, var)
    except ClientError as exc:
        if isinstance(exc, UnknownCommand):
            fatal("Error: variable unknown (old upsd detected)")
        fatal(f"Error: {exc.nut_text}")
    if as_json:
        print_json({"ups": ups, "variable": var, "value": value})
    else:
        sys.stdout.write(f"{value}\n")


def _list_vars(client: Client, ups: str, as_json: bool) -> None:
    try:
        variables = client.list_var(ups)
    except ClientError as exc:
        fatal(_too_old(exc))
    if as_json:
        print_json({"ups": ups, "variables": variables})
        return
    sys.stdout.write("".join(f"{name}: {value}\n" for name, value in variables.items()))
