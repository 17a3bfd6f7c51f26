"""upsrw: show and set writable variables (NUT 2.8.0 compatible).

Without ``-s`` it describes every RW variable the way NUT does (name,
description, type, maximum length, enum options or ranges, value); with
``-s var=value`` it authenticates and sends SET VAR.  ``--json`` gives the
listing as JSON (docs/client.md).
"""

from __future__ import annotations

import sys

from pnut.cli._clientcli import (
    ask_username,
    closing,
    connect,
    fatal,
    find_password,
    parse_command_line,
    print_json,
    run_main,
    upsname_or_fatal,
)
from pnut.cli.upscmd import (
    DEFAULT_TRACKING_TIMEOUT,
    enable_tracking,
    login,
    parse_timeout,
    report_action,
)
from pnut.client import Client, ClientError, Range, ServerError, UnknownCommand, VarType
from pnut.protocol.cnum import atoi
from pnut.protocol.limits import DESCRIPTION_UNAVAILABLE, NUT_VERSION

PROG = "upsrw"
_UPS_FORMAT = "  Required format: upsname[@hostname[:port]]"
_NEED_UPS = "Error: a UPS name must be specified (upsname[@hostname[:port]])"

USAGE = f"""\
Network UPS Tools {PROG} {NUT_VERSION}

usage: {PROG} [-h]
       {PROG} [-s <variable>] [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups>

Demo program to set variables within UPS hardware.

  -h            display this help text
  -s <variable>\tspecify variable to be changed
\t\tuse -s VAR=VALUE to avoid prompting for value
  -l            show all possible read/write variables.
  -u <username> set username for command authentication
  -p <password> set password for command authentication
  -w            wait for the completion of setting by the driver
                and return its actual result from the device
  -t <timeout>\tset a timeout when using -w (in seconds, default: {DEFAULT_TRACKING_TIMEOUT})

  <ups>         UPS identifier - <upsname>[@<hostname>[:<port>]]

Call without -s to show all possible read/write variables (same as -l).
"""


def main(argv: list[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    line = parse_command_line(PROG, argv, "hls:p:t:u:wV", USAGE)
    if line is None:
        return 0
    as_json, tls, opts, args = line
    setvar: str | None = None
    user: str | None = None
    password: str | None = None
    tracking = False
    timeout = DEFAULT_TRACKING_TIMEOUT
    for opt, value in opts:
        if opt == "s":
            setvar = value
        elif opt == "l":
            if setvar is not None:
                sys.stderr.write("Listing mode requested, overriding setvar specified earlier!\n")
            setvar = None
        elif opt == "p":
            password = value
        elif opt == "t":
            timeout = parse_timeout(value)
        elif opt == "u":
            user = value
        elif opt == "w":
            tracking = True
        elif opt == "V":
            sys.stdout.write(f"Network UPS Tools {PROG} {NUT_VERSION}\n")
            return 0
        else:
            sys.stdout.write(USAGE)
            return 0
    if not args:
        sys.stdout.write(USAGE)
        return 0

    target = upsname_or_fatal(args[0], _UPS_FORMAT)
    with closing(connect(target.host, target.port, tls)) as client:
        if setvar is not None:
            _do_setvar(client, target.name, setvar, user, password, tracking, timeout)
        else:
            _print_rwlist(client, target.name, as_json)
    return 0


# -- setting --------------------------------------------------------------------


def _do_setvar(
    client: Client, ups: str, setvar: str, user: str | None, password: str | None,
    tracking: bool, timeout: int,
) -> None:
    if user is None:
        user = ask_username(eof_fatal=False)
    secret = find_password(password)
    var, sep, value = setvar.partition("=")
    if not sep:
        sys.stdout.write(f"Enter new value for {var}: ")
        sys.stdout.flush()
        value = sys.stdin.readline().rstrip("\n")
    login(client, user, secret)
    if "." not in var:
        fatal("Error: old variable names are not supported")
    if tracking:
        enable_tracking(client, "set variable")
    report_action(client, lambda: client.set_var(ups, var, value), "Set variable failed",
                  tracking, timeout)


# -- listing --------------------------------------------------------------------


def _print_rwlist(client: Client, ups: str, as_json: bool) -> None:
    try:
        names = list(client.list_rw(ups))
    except UnknownCommand:
        fatal("Error: upsd is too old to support this query")
    except ClientError as exc:
        fatal(f"Error: {exc.nut_text}")
    if as_json:
        print_json({"ups": ups, "variables": [_describe_json(client, ups, n) for n in names]})
        return
    for name in names:
        sys.stdout.write(f"[{name}]\n")
        desc = _get(client.get_desc, ups, name)
        sys.stdout.write(f"{desc if desc is not None else DESCRIPTION_UNAVAILABLE}\n")
        _print_type(client, ups, name)
        sys.stdout.write("\n")


def _get(func: object, *args: str) -> str | None:
    """A GET that may fail: None on any server refusal (NUT's get_data)."""
    assert callable(func)
    try:
        value = func(*args)
    except ServerError:
        return None
    assert isinstance(value, str)
    return value


def _value_or_fatal(client: Client, ups: str, var: str, who: str) -> str:
    value = _get(client.get_var, ups, var)
    if value is None:
        fatal(f"{who}: can't get current value of {var}")
    return value


def _print_type(client: Client, ups: str, var: str) -> None:
    """NUT's do_type: walk the TYPE words in order, first kind word wins."""
    try:
        vtype = client.get_type(ups, var)
    except ServerError:
        sys.stdout.write("Unknown type\n")
        return
    is_enum = False
    for word in vtype.words:
        upper = word.upper()
        if upper == "ENUM":
            is_enum = True
        elif upper == "RANGE":
            _print_range(client, ups, var)
            return
        elif upper.startswith("STRING:"):
            length = atoi(word[7:])
            if is_enum:
                _print_enum(client, ups, var, "STRING", length)
            else:
                value = _value_or_fatal(client, ups, var, "do_string")
                sys.stdout.write(f"Type: STRING\nMaximum length: {length}\nValue: {value}\n")
            return
        elif upper == "NUMBER":
            if is_enum:
                _print_enum(client, ups, var, "NUMBER", 0)
            else:
                value = _value_or_fatal(client, ups, var, "do_number")
                sys.stdout.write(f"Type: NUMBER\nValue: {value}\n")
            return
        elif upper != "RW":
            sys.stdout.write(f"Type: {word} (unrecognized)\n")
    if is_enum:
        _print_enum(client, ups, var, None, 0)


def _print_enum(client: Client, ups: str, var: str, kind: str | None, length: int) -> None:
    value = _value_or_fatal(client, ups, var, "do_enum")
    try:
        options = client.list_enum(ups, var)
    except ClientError as exc:
        fatal(f"Error: {exc.nut_text}")
    sys.stdout.write(f"Type: ENUM {kind}\n" if kind else "Type: ENUM\n")
    if kind == "STRING":
        sys.stdout.write(f"Maximum length: {length}\n")
    for option in options:
        mark = " SELECTED" if option == value else ""
        sys.stdout.write(f'Option: "{option}"{mark}\n')


def _print_range(client: Client, ups: str, var: str) -> None:
    value = atoi(_value_or_fatal(client, ups, var, "do_range"))
    try:
        ranges = client.list_range(ups, var)
    except ClientError as exc:
        fatal(f"Error: {exc.nut_text}")
    sys.stdout.write("Type: RANGE NUMBER\n")
    for rng in ranges:
        low, high = atoi(rng.low), atoi(rng.high)
        mark = " SELECTED" if low <= value <= high else ""
        sys.stdout.write(f'Option: "{low}-{high}"{mark}\n')


def _describe_json(client: Client, ups: str, var: str) -> dict[str, object]:
    """One RW variable as the documented JSON object."""
    try:
        info = client.describe_var(ups, var)
    except ServerError as exc:
        return {"name": var, "error": exc.name}
    vtype: VarType = info.type
    ranges: tuple[Range, ...] = info.ranges
    return {
        "name": var,
        "value": info.value,
        "description": info.description,
        "type": vtype.kind,
        "flags": list(vtype.words),
        "max_length": vtype.max_length,
        "enum": list(info.enum) if vtype.enum else None,
        "ranges": [{"low": r.low, "high": r.high} for r in ranges] if vtype.range else None,
    }
