"""upslog: write UPS variables to a log file at intervals (NUT 2.8.0 compatible).

How this works
--------------
The format string is compiled once into a list of pieces (literal text or
an escape with its argument), exactly as NUT's parser splits it - escape
names match by prefix and case-insensitively, an unterminated ``%`` gives
``INVALID`` and the rest stays literal.  Each round renders the pieces with
the current time and ``GET VAR`` answers (``NA`` when one fails) and
appends one line.  Between rounds the process sleeps on a self-pipe that
signals wake: SIGHUP reopens the log (rotation), SIGUSR1 logs at once,
SIGINT/SIGQUIT/SIGTERM end it.  A lost connection is retried each round.

pnut extension: ``-N count`` stops after ``count`` lines (handy for cron
and tests).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import syslog
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pnut import process
from pnut.cli._clientcli import TLS_HELP, fatal, getopt, run_main, take_tls_options
from pnut.client import Client, ClientError, UpsNameError, parse_upsname
from pnut.client.tls import TlsSettings
from pnut.protocol.cnum import atoi
from pnut.protocol.limits import NUT_VERSION

PROG = "upslog"
DEFAULT_FORMAT = (
    "%TIME @Y@m@d @H@M@S% %VAR battery.charge% %VAR input.voltage% %VAR ups.load% "
    "[%VAR ups.status%] %VAR ups.temperature% %VAR input.frequency%"
)
DEFAULT_INTERVAL = 30
#: Connections are closed between rounds longer than this (as NUT does).
KEEP_CONNECTED_MAX = 30
RUN_AS_USER = "nut"
_TIMEOUT = 10.0

#: Escape names in NUT's lookup order (the first prefix match wins).
ESCAPES = ("HOST", "UPSHOST", "PID", "TIME", "VAR", "ETIME")


def help_text(prog: str = PROG) -> str:
    return f"""\
UPS status logger.

usage: {prog} [OPTIONS]

  -f <format>\t- Log format.  See below for details.
\t\t- Use -f "<format>" so your shell doesn't break it up.
  -i <interval>\t- Time between updates, in seconds
  -l <logfile>\t- Log file name, or - for stdout (foreground by default)
  -F\t\t- stay foregrounded even if logging into a file
  -B\t\t- stay backgrounded even if logging to stdout
  -p <pidbase>  - Base name for PID file (defaults to "{prog}")
  -s <ups>\t- Monitor UPS <ups> - <upsname>@<host>[:<port>]
        \t- Example: -s myups@server
  -u <user>\t- Switch to <user> if started as root

Some valid format string escapes:
\t%% insert a single %
\t%TIME format% insert the time with strftime formatting
\t%HOST% insert the local hostname
\t%UPSHOST% insert the host of the ups being monitored
\t%PID% insert the pid of upslog
\t%VAR varname% insert the value of ups variable varname

format string defaults to:
{DEFAULT_FORMAT}

See the upslog(8) man page for more information.
"""


# -- the format -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piece:
    """Literal text (``escape`` None) or one escape and its argument."""

    text: str = ""
    escape: str | None = None
    arg: str | None = None


def compile_format(fmt: str) -> list[Piece]:
    """Split a format string into pieces the way NUT's upslog does."""
    pieces: list[Piece] = []
    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            pieces.append(Piece(ch))
            i += 1
            continue
        if fmt[i + 1 : i + 2] == "%":
            pieces.append(Piece("%"))
            i += 2
            continue
        end = fmt.find("%", i + 1)
        if end < 0:
            pieces.append(Piece("INVALID"))
            i += 1
            continue
        body = fmt[i + 1 : end]
        name, sep, arg = body.partition(" ")
        match = next((e for e in ESCAPES if name[: len(e)].upper() == e), None)
        pieces.append(Piece(escape=match, arg=arg if sep else None) if match else Piece("INVALID"))
        i = end + 1
    return _merge(pieces)


def _merge(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for p in pieces:
        if p.escape is None and out and out[-1].escape is None:
            out[-1] = Piece(out[-1].text + p.text)
        else:
            out.append(p)
    return out


@dataclass
class Context:
    """What the escapes read: the monitored UPS and a variable getter."""

    monhost: str
    upsname: str | None
    get_var: Callable[[str], str | None]
    now: float = 0.0


def render(pieces: list[Piece], ctx: Context) -> str:
    """One log line (without newline)."""
    out: list[str] = []
    for p in pieces:
        if p.escape is None:
            out.append(p.text)
        elif p.escape == "HOST":
            out.append(socket.gethostname())
        elif p.escape == "UPSHOST":
            out.append(ctx.monhost)
        elif p.escape == "PID":
            out.append(str(os.getpid()))
        elif p.escape == "ETIME":
            out.append(str(int(ctx.now)))
        elif p.escape == "TIME":
            fmt = (p.arg or "").replace("@", "%")
            out.append(time.strftime(fmt, time.localtime(ctx.now)))
        else:  # VAR
            var = p.arg or ""
            if not var or "." not in var or not ctx.upsname:
                out.append("INVALID")
            else:
                value = ctx.get_var(var)
                out.append("NA" if value is None else value)
    return "".join(out)


# -- the process ------------------------------------------------------------------


class Logger:
    """The polling loop with its connection, log file and signal flags."""

    def __init__(self, monhost: str, logfn: str, interval: int, fmt: str,
                 tls: TlsSettings | None = None) -> None:
        self.monhost = monhost
        self.tls = tls
        self.logfn = logfn
        self.interval = max(1, interval)  # NUT spins at 0; see docs/compat.md
        self.pieces = compile_format(fmt)
        target = parse_upsname(monhost)
        self.ups, self.host, self.port = target.name, target.host, target.port
        self.client: Client | None = None
        self.log: TextIO = sys.stdout
        self.foreground = True
        self.exit_signal = 0
        self.reopen_signal = 0
        self._wake_r, self._wake_w = -1, -1

    def connect(self, warn: bool) -> None:
        client: Client | None = None
        try:
            client = Client(self.host, self.port, timeout=_TIMEOUT)
            if self.tls is not None:
                client.secure(self.tls)
        except (ClientError, OSError) as exc:
            if client is not None:
                client.close()
            self.client = None
            if warn:
                why = exc.nut_text if isinstance(exc, ClientError) else f"TLS setup: {exc}"
                sys.stderr.write(f"Warning: initial connect failed: {why}\n")
            return
        self.client = client

    def open_log(self) -> None:
        if self.logfn == "-":
            self.log = sys.stdout
            return
        try:
            self.log = open(self.logfn, "a", encoding="latin-1")  # noqa: SIM115 - kept open
        except OSError as exc:
            fatal(f"could not open logfile {self.logfn}: {exc.strerror}")

    def get_var(self, var: str) -> str | None:
        client = self.client
        if client is None or not client.connected:
            return None
        try:
            return client.get_var(self.ups, var)
        except ClientError:
            return None

    def note(self, message: str) -> None:
        """NUT's upslogx: syslog always, stderr while in the foreground."""
        syslog.syslog(syslog.LOG_INFO, message)
        if self.foreground:
            sys.stderr.write(f"{message}\n")
            sys.stderr.flush()

    def install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

        def on_exit(sig: int, _frame: object) -> None:
            self.exit_signal = sig

        def on_hup(sig: int, _frame: object) -> None:
            self.reopen_signal = sig

        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
            signal.signal(sig, on_exit)
        signal.signal(signal.SIGHUP, on_hup)
        signal.signal(signal.SIGUSR1, lambda *_: None)

    def sleep_until(self, deadline: float) -> None:
        """Sleep until ``deadline`` or until any signal arrives."""
        left = deadline - time.monotonic()
        if left <= 0 or self.exit_signal:
            return
        readable, _, _ = select.select([self._wake_r], [], [], left)
        if readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 512)

    def run(self, count: int | None) -> None:
        nextpoll = 0.0
        written = 0
        while not self.exit_signal:
            now = time.monotonic()
            if nextpoll > now:
                self.sleep_until(nextpoll)
                nextpoll += self.interval
                if self.exit_signal:
                    break
            else:
                nextpoll = now + self.interval
            if self.reopen_signal:
                self.note(f"Signal {self.reopen_signal}: reopening log file")
                self.reopen_signal = 0
                if self.log is sys.stdout:
                    self.note("logging to stdout")
                else:
                    self.log.close()
                    self.open_log()
            if self.client is None or not self.client.connected:
                self.connect(warn=False)
            ctx = Context(self.monhost, self.ups, self.get_var, time.time())
            self.log.write(render(self.pieces, ctx) + "\n")
            self.log.flush()
            written += 1
            if self.interval > KEEP_CONNECTED_MAX:
                self.disconnect()
            if count is not None and written >= count:
                return
        self.note(f"Signal {self.exit_signal}: exiting")

    def disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None and client.connected:
            with contextlib.suppress(ClientError):
                client.logout()
            client.close()


#: What ``--help`` adds to NUT's text (upslog has no --json).
TLS_HELP_FOR_UPSLOG = ("\npnut's options (anywhere on the command line; NUT's upslog lacks them):\n"
                       + TLS_HELP.replace("STARTTLS (pnut; also", "STARTTLS (also"))


def main(argv: list[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    sys.stdout.write(f"Network UPS Tools {PROG} {NUT_VERSION}\n")
    sys.stdout.flush()
    if "--help" in argv:  # NUT's -h text, then pnut's own options
        sys.stdout.write(help_text() + TLS_HELP_FOR_UPSLOG)
        return 0
    tls, argv = take_tls_options(argv)
    opts, args = getopt(PROG, argv, "hs:l:i:f:u:Vp:FBN:", on_error="ignore")
    monhost: str | None = None
    logfn: str | None = None
    interval = DEFAULT_INTERVAL
    fmt = DEFAULT_FORMAT
    user = RUN_AS_USER
    pidbase = PROG
    foreground: bool | None = None
    count: int | None = None
    for opt, value in opts:
        if opt == "h":
            sys.stdout.write(help_text())
            return 0
        if opt == "s":
            monhost = value
        elif opt == "l":
            logfn = value
        elif opt == "i":
            interval = atoi(value)
        elif opt == "f":
            fmt = value
        elif opt == "u":
            user = value
        elif opt == "V":
            return 0
        elif opt == "p":
            pidbase = value
        elif opt == "F":
            foreground = True
        elif opt == "B":
            foreground = False
        elif opt == "N":
            count = max(1, atoi(value))
    if len(args) in (1, 2):
        sys.stdout.write(help_text())
        return 0
    if len(args) >= 3:  # old style: <system> <logfn> <interval> [<format>...]
        monhost, logfn, interval = args[0], args[1], atoi(args[2])
        if len(args) >= 4:
            fmt = "".join(f"{word} " for word in args[3:])
    if monhost is None:
        fatal("No UPS defined for monitoring - use -s <system>")
    if logfn is None:
        fatal("No filename defined for logging - use -l <file>")
    sys.stdout.write(f"logging status of {monhost} to {logfn} ({interval}s intervals)\n")
    sys.stdout.flush()
    try:
        logger = Logger(monhost, logfn, interval, fmt, tls)
    except UpsNameError as exc:
        sys.stderr.write(f"{exc}\n")
        fatal("Error: invalid UPS definition.  Required format: upsname[@hostname[:port]]\n")
    logger.connect(warn=True)
    logger.open_log()
    new_user = _lookup_user(user)
    syslog.openlog(PROG, syslog.LOG_PID, syslog.LOG_DAEMON)
    logger.foreground = foreground if foreground is not None else logfn == "-"
    if not logger.foreground:
        _background()
    logger.install_signals()
    pidfile = _write_pid(pidbase)
    _become_user(new_user)
    try:
        logger.run(count)
    finally:
        if logger.log is not sys.stdout:
            logger.log.close()
        logger.disconnect()
        if pidfile is not None:
            with contextlib.suppress(OSError):
                pidfile.unlink()
    return 0


def _lookup_user(name: str) -> process.Account | None:
    """The account to switch to; only looked up when running as root."""
    try:
        return process.run_as(name)
    except process.ProcessError:
        fatal(f"user {name} not found")


def _become_user(account: process.Account | None) -> None:
    try:
        process.drop_privileges(account)
    except (OSError, process.ProcessError) as exc:
        fatal(f"can't switch to user {account.name if account else '?'}: {exc}")


def _write_pid(base: str) -> Path | None:
    """``<NUT_ALTPIDPATH or /run/nut>/<base>.pid``; a failure is only noted."""
    path = Path(base)
    if not path.is_absolute():
        path = process.pid_dir() / f"{base}.pid"
    try:
        process.write_pid(path)
    except OSError as exc:
        syslog.syslog(syslog.LOG_NOTICE, f"writepid: fopen {path}: {exc.strerror}")
        return None
    return path


def _background() -> None:
    """Detach like NUT's background(): the parent exits at once, the child goes on."""
    sys.stdout.flush()
    sys.stderr.flush()
    process.announce_ready(process.start_background(), PROG)
