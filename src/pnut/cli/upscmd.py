"""upscmd: list and send instant commands (NUT 2.8.0 compatible).

As in NUT, the server's answer line (``OK``, or with ``-w`` the tracking
result such as ``SUCCESS`` / ``ERR FAILED``) goes to stderr and a refused
command ends with ``Unexpected response from upsd: ERR <NAME>``, status 1.
Unlike NUT, user names, passwords and parameters with spaces are quoted
on the wire, so they arrive intact (docs/compat.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

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
from pnut.client import Client, ClientError, ServerError, TrackingStatus, UnknownCommand
from pnut.protocol.limits import NUT_VERSION

PROG = "upscmd"
DEFAULT_TRACKING_TIMEOUT = 10
_UPS_FORMAT = "  Required format: upsname[@hostname[:port]]"

USAGE = f"""\
Network UPS Tools upscmd {NUT_VERSION}

usage: {PROG} [-h]
       {PROG} [-l <ups>]
       {PROG} [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups> <command> [<value>]

Administration program to initiate instant commands on UPS hardware.

  -h\t\tdisplay this help text
  -l <ups>\tshow available commands on UPS <ups>
  -u <username>\tset username for command authentication
  -p <password>\tset password for command authentication
  -w            wait for the completion of command by the driver
                and return its actual result from the device
  -t <timeout>\tset a timeout when using -w (in seconds, default: {DEFAULT_TRACKING_TIMEOUT})

  <ups>\t\tUPS identifier - <upsname>[@<hostname>[:<port>]]
  <command>\tValid instant command - test.panel.start, etc.
  [<value>]\tAdditional data for command - number of seconds, etc.
"""


def main(argv: list[str]) -> int:
    return run_main(_main, argv)


def parse_timeout(text: str) -> int:
    """NUT's str_to_uint: base-10 digits only, fits in an unsigned int."""
    if not text.isdigit() or int(text) > 0xFFFFFFFF:
        fatal("Could not convert the provided value for timeout ('-t' option) "
              "to unsigned int: Invalid argument")
    return int(text)


def _main(argv: list[str]) -> int:
    line = parse_command_line(PROG, argv, "lhu:p:t:wV", USAGE)
    if line is None:
        return 0
    as_json, tls, opts, args = line
    cmdlist = tracking = False
    user: str | None = None
    password: str | None = None
    timeout = DEFAULT_TRACKING_TIMEOUT
    for opt, value in opts:
        if opt == "l":
            cmdlist = True
        elif opt == "u":
            user = value
        elif opt == "p":
            password = value
        elif opt == "t":
            timeout = parse_timeout(value)
        elif opt == "w":
            tracking = True
        elif opt == "V":
            fatal(f"Network UPS Tools upscmd {NUT_VERSION}", 0)
        else:
            sys.stdout.write(USAGE)
            return 0
    if not args:
        sys.stdout.write(USAGE)
        return 0

    target = upsname_or_fatal(args[0], _UPS_FORMAT)
    with closing(connect(target.host, target.port, tls)) as client:
        if cmdlist:
            _list_commands(client, target.name, as_json)
            return 0
        if len(args) < 2:
            sys.stdout.write(USAGE)
            return 0
        if "." not in args[1]:
            fatal("Error: old command names are not supported")
        if user is None:
            user = ask_username(eof_fatal=True)
        secret = find_password(password)
        login(client, user, secret)
        if tracking:
            enable_tracking(client, "command")
        param = args[2] if len(args) > 2 else None
        _do_cmd(client, target.name, args[1], param, tracking, timeout)
    return 0


def login(client: Client, user: str, password: str) -> None:
    """USERNAME + PASSWORD; like NUT, a refusal shows up at the command itself.

    An empty word is not sent: NUT's request for it is refused by upsd, so
    the session ends up without it, and the command then reports
    USERNAME-REQUIRED / PASSWORD-REQUIRED exactly as with NUT.
    """
    for step, verb, word in ((client.username, "username", user),
                             (client.password, "password", password)):
        if not word:
            continue
        try:
            step(word)
        except UnknownCommand:
            if verb == "username":
                fatal("Set username failed due to an unknown command.\n"
                      "You probably need to upgrade upsd.")
        except ServerError:
            pass
        except ClientError as exc:
            fatal(f"Set {verb} failed: {exc.nut_text}")


def enable_tracking(client: Client, what: str) -> None:
    """SET TRACKING ON with NUT's messages (``what``: command / set variable)."""
    try:
        client.set_tracking(True)
    except ServerError as exc:
        fatal(f"Enabling {what} status tracking failed. upsd answered: {exc.wire()}")
    except ClientError as exc:
        fatal(f"Enabling {what} status tracking failed: {exc.nut_text}")


def wait_result(client: Client, ident: str, timeout: int) -> str:
    """Poll GET TRACKING once a second like NUT; the final answer line."""
    start = time.monotonic()
    for _ in range(timeout + 2):
        if time.monotonic() - start >= timeout:
            break
        try:
            status = client.get_tracking(ident)
        except ServerError as exc:
            return exc.wire()
        except ClientError as exc:
            fatal(f"Can't receive status tracking information: {exc.nut_text}")
        if status is not TrackingStatus.PENDING:
            return status.line
        time.sleep(1)
    fatal("Can't receive status tracking information: timeout")


def report_action(
    client: Client, call: Callable[[], str | None], failed: str, tracking: bool, timeout: int
) -> None:
    """Run a SET or INSTCMD and print upsd's answer, or the TRACKING result, as NUT does."""
    try:
        ident = call()
    except ServerError as exc:
        fatal(f"Unexpected response from upsd: {exc.wire()}")
    except ClientError as exc:
        fatal(f"{failed}: {exc.nut_text}")
    if not tracking or ident is None:
        sys.stderr.write(f"{client.last_line}\n")
        return
    sys.stderr.write(f"{wait_result(client, ident, timeout)}\n")


def _do_cmd(
    client: Client, ups: str, cmd: str, param: str | None, tracking: bool, timeout: int
) -> None:
    report_action(client, lambda: client.instcmd(ups, cmd, param), "Instant command failed",
                  tracking, timeout)


def _list_commands(client: Client, ups: str, as_json: bool) -> None:
    try:
        names = client.list_cmd(ups)
    except UnknownCommand:
        fatal("Error: upsd is too old to support this query")
    except ClientError as exc:
        fatal(f"Error: {exc.nut_text}")
    rows: list[tuple[str, str | None]] = []
    for name in names:
        try:
            rows.append((name, client.get_cmddesc(ups, name)))
        except ServerError:
            rows.append((name, None))
    if as_json:
        print_json({"ups": ups, "commands": [
            {"name": name, "description": desc} for name, desc in rows
        ]})
        return
    sys.stdout.write(f"Instant commands supported on UPS [{ups}]:\n\n")
    for name, desc in rows:
        sys.stdout.write(f"{name} - {desc}\n" if desc is not None else f"{name}\n")
