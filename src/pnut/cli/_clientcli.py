"""What upsc, upscmd, upsrw and upslog share: NUT-style options, fatal
errors, credentials and JSON output.

NUT's clients parse options with POSIX ``getopt`` (stop at the first
operand), print usage to stdout and exit 0 on a bad option, and end every
failure with one line on stderr and exit status 1 (``fatalx``).  This module
reproduces that so each CLI module only holds its own logic.  ``--json``
(a pnut extension) may appear anywhere on the command line, and so may the
STARTTLS options (:func:`take_tls_options`): like NUT's clients, every tool
tries STARTTLS and falls back to clear text when upsd refuses it.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import pwd
import sys
from collections.abc import Iterator
from typing import NamedTuple, NoReturn

from pnut.client import Client, ClientError, UpsName, UpsNameError, parse_upsname
from pnut.client.tls import TlsSettings, settings_from

#: Seconds allowed for each request of a command-line client.
CLI_TIMEOUT = 10.0
#: Environment variables a password is taken from, in this order.
PASSWORD_ENV = ("PNUT_PASSWORD", "NUT_PASSWORD")


class Fatal(Exception):
    """Ends the program: message to stderr, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Usage(Exception):
    """Print the usage text and exit (0, as NUT does)."""


def fatal(message: str, code: int = 1) -> NoReturn:
    raise Fatal(message, code)


def run_main(func: object, argv: list[str]) -> int:
    """Call ``func(argv)`` turning Fatal into NUT's one stderr line."""
    assert callable(func)
    try:
        code = func(argv)
    except Fatal as exc:
        sys.stdout.flush()
        sys.stderr.write(f"{exc}\n")
        return exc.code
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
        return 1
    except ClientError as exc:  # a failure no branch above expected
        sys.stdout.flush()
        sys.stderr.write(f"Error: {exc.nut_text}\n")
        return 1
    except ValueError as exc:  # text the protocol cannot carry (client-side check)
        sys.stdout.flush()
        sys.stderr.write(f"Error: {exc}\n")
        return 1
    except Exception as exc:
        if os.environ.get("PNUT_DEBUG"):
            raise
        sys.stdout.flush()
        sys.stderr.write(f"Error: {type(exc).__name__}: {exc} (PNUT_DEBUG=1 shows where)\n")
        return 1
    return int(code) if isinstance(code, int) else 0


def getopt(
    prog: str, argv: list[str], spec: str, on_error: str = "usage", stop: str = "hV"
) -> tuple[list[tuple[str, str]], list[str]]:
    """POSIX getopt with glibc's messages.

    A bad option raises :class:`Usage`, or with ``on_error="ignore"`` is
    reported and skipped (upslog's way).  Parsing ends at an option in
    ``stop``, because NUT acts on those (help, version) the moment getopt
    returns them, before it looks at the rest.
    """
    opts: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        j = 1
        while j < len(arg):
            ch = arg[j]
            pos = spec.find(ch)
            if pos < 0 or ch == ":":
                sys.stderr.write(f"{prog}: invalid option -- '{ch}'\n")
                if on_error != "ignore":
                    raise Usage
                j += 1
                continue
            if spec[pos + 1 : pos + 2] == ":":
                value = arg[j + 1 :]
                if not value:
                    i += 1
                    if i >= len(argv):
                        sys.stderr.write(f"{prog}: option requires an argument -- '{ch}'\n")
                        if on_error != "ignore":
                            raise Usage
                        break
                    value = argv[i]
                opts.append((ch, value))
                break
            opts.append((ch, ""))
            if ch in stop:
                return opts, []
            j += 1
        i += 1
    return opts, argv[i:]


class CommandLine(NamedTuple):
    as_json: bool
    tls: TlsSettings
    opts: list[tuple[str, str]]
    args: list[str]


def parse_command_line(prog: str, argv: list[str], spec: str, usage: str) -> CommandLine | None:
    """pnut's ``--json`` and TLS options, then NUT's getopt.

    None means a bad option: the usage text was printed and, as in NUT,
    the program exits 0.
    """
    if "--help" in argv:  # pnut's: NUT's usage (as -h prints it) plus pnut's options
        sys.stdout.write(usage + PNUT_HELP)
        return None
    as_json, argv = take_flag(argv, "--json")
    tls, argv = take_tls_options(argv)
    try:
        opts, args = getopt(prog, argv, spec)
    except Usage:
        sys.stdout.write(usage)
        return None
    return CommandLine(as_json, tls, opts, args)


def take_flag(argv: list[str], flag: str) -> tuple[bool, list[str]]:
    """Remove a long pnut flag (``--json``) wherever it is."""
    rest = [a for a in argv if a != flag]
    return len(rest) != len(argv), rest


#: Long options that take a value, and the TlsSettings field each sets.
_TLS_VALUE_OPTIONS = {"--cafile": "cafile", "--pin": "pin", "--certfile": "certfile"}

TLS_HELP = """\
STARTTLS (pnut; also $PNUT_TLS, $PNUT_TLS_CAFILE, $PNUT_TLS_PIN, $PNUT_TLS_CERTFILE):
  --tls[=try|require|off]  try (default), require, or never use TLS; --no-tls = off
  --cafile FILE            verify the server certificate against this CA (implies TLS)
  --pin SHA256             require this certificate fingerprint (implies TLS)
  --certfile FILE          present this client certificate (PEM with its key)
"""


#: What ``--help`` adds to NUT's usage text (``-h`` stays NUT's, byte for byte).
PNUT_HELP = """
pnut's options (anywhere on the command line; NUT's own clients lack them):
  --json                   print the answer as JSON
  --help                   this text
""" + TLS_HELP.replace("STARTTLS (pnut; also", "STARTTLS (also")


def take_tls_options(argv: list[str]) -> tuple[TlsSettings, list[str]]:
    """Remove pnut's STARTTLS options from ``argv`` (wherever they are).

    ``--tls`` alone means require; ``--tls=MODE`` picks a mode; the value
    options accept ``--opt VALUE`` and ``--opt=VALUE``.  What is not given
    comes from the environment (:func:`pnut.client.tls.settings_from`).
    """
    values: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg == "--tls":
            values["mode"] = "require"
        elif arg == "--no-tls":
            values["mode"] = "off"
        elif name == "--tls" and eq:
            values["mode"] = value
        elif name in _TLS_VALUE_OPTIONS:
            if not eq:
                i += 1
                if i >= len(argv):
                    fatal(f"Error: {name} needs a value")
                value = argv[i]
            values[_TLS_VALUE_OPTIONS[name]] = value
        else:
            rest.append(arg)
        i += 1
    try:
        return settings_from(values.get("mode"), values.get("cafile"), values.get("pin"),
                             values.get("certfile")), rest
    except ValueError as exc:
        fatal(f"Error: {exc}")


def upsname_or_fatal(text: str | None, required: str) -> UpsName:
    """Parse ``ups@host:port``; on error print NUT's two lines and exit 1."""
    try:
        if text is None:
            raise UpsNameError("")
        return parse_upsname(text)
    except UpsNameError as exc:
        if str(exc):
            sys.stderr.write(f"{exc}\n")
        fatal(f"Error: invalid UPS definition.{required}")


def connect(host: str, port: int, tls: TlsSettings | None = None) -> Client:
    """Connect (and STARTTLS as ``tls`` says) or die with NUT's "Error: <reason>"."""
    try:
        client = Client(host, port, timeout=CLI_TIMEOUT)
        if tls is not None:
            client.secure(tls)
        return client
    except ClientError as exc:
        fatal(f"Error: {exc.nut_text}")
    except (OSError, ValueError) as exc:  # an unreadable CA or certificate file
        fatal(f"Error: TLS setup failed: {exc}")


def ask_username(eof_fatal: bool) -> str:
    """NUT's prompt: ``Username (<login>): `` on stdout, answer from stdin."""
    try:
        me: str | None = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        me = None
    sys.stdout.write(f"Username ({me}): " if me else "Username: ")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line and eof_fatal:
        fatal("Error reading from stdin!")
    name = line.rstrip("\n")
    if name:
        return name
    if me is None:
        fatal("No username available - even tried getpwuid")
    return me


def find_password(given: str | None) -> str:
    """-p, else $PNUT_PASSWORD / $NUT_PASSWORD, else a prompt without echo.

    Like NUT's getpass, the prompt reads from stdin when it is not a
    terminal, so scripts can pipe the password in.
    """
    if given is not None:
        return given
    for name in PASSWORD_ENV:
        value = os.environ.get(name)
        if value is not None:
            return value
    if sys.stdin.isatty():
        try:
            return getpass.getpass("Password: ")
        except (EOFError, OSError) as exc:
            fatal(f"getpass failed: {exc}")
    sys.stderr.write("Password: ")
    sys.stderr.flush()
    return sys.stdin.readline().rstrip("\n")


def print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


@contextlib.contextmanager
def closing(client: Client) -> Iterator[Client]:
    """Close like NUT's clean_exit: a LOGOUT if still connected, then close."""
    try:
        yield client
    finally:
        if client.connected:
            with contextlib.suppress(ClientError, OSError):
                client.logout()
        client.close()
