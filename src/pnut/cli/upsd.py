"""``pnut upsd``: the attachment daemon, with NUT's process model.

Options follow NUT's upsd (``-F``/``-FF``/``-B``, ``-D``, ``-u user``,
``-c reload|stop``, ``-P pid``, ``-4``/``-6``); the config and state
directories can also be given as flags.  Started as root it binds its ports,
loads its files, then becomes the run-as user (``-u``, default ``nut``) and,
unless ``-F``, goes to the background once it listens, writing
``upsd.pid`` where NUT does (:mod:`pnut.process`).  A config or startup
problem is one line on stderr and exit status 1.  Under systemd
(``Type=notify``) it reports READY/RELOADING/STOPPING and pings the
watchdog.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pnut.server.daemon import Upsd

from pnut import process
from pnut.config.parser import ConfigError, confpath
from pnut.protocol.limits import NUT_VERSION

PIDFILE = "upsd.pid"

log = logging.getLogger("pnut.upsd")


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout with the width worked out here: argparse's own
    asks shutil, which imports zlib, bz2 and lzma (~0.6 MB of upsd's memory)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _columns() -> int:
    """shutil.get_terminal_size's answer: $COLUMNS, the terminal's, or 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pnut upsd", description="Network server for UPS data.",
                                formatter_class=_Formatter)
    p.add_argument("--confdir", help="config directory (default: $NUT_CONFPATH or /etc/nut)")
    p.add_argument("--statepath", help="directory of the driver sockets "
                   "(default: STATEPATH in upsd.conf, $NUT_STATEPATH, ups.conf statepath)")
    p.add_argument("-F", action="count", default=0,
                   help="stay in the foreground; -FF also writes the pid file")
    p.add_argument("-B", action="store_true",
                   help="go to the background even when debugging")
    p.add_argument("-D", action="count", default=0,
                   help="raise the debugging level (and stay in the foreground)")
    p.add_argument("-c", dest="command", choices=["reload", "stop"],
                   help="send a command to the running upsd (via its pid file)")
    p.add_argument("-P", dest="pid", type=int, help="with -c: signal this PID instead")
    p.add_argument("--pidfile", help="write the process id to this file")
    p.add_argument("-u", dest="user", help="user to become after binding the ports, when "
                   "started as root (default: nut, if it exists)")
    p.add_argument("-r", dest="chroot", help="chroot to this directory once the ports are "
                   "bound and the files read (needs root; STATEPATH is then inside it)")
    p.add_argument("-4", dest="ipv4", action="store_true", help="IPv4 only")
    p.add_argument("-6", dest="ipv6", action="store_true", help="IPv6 only")
    p.add_argument("-V", "--version", action="store_true", help="show the version")
    return p


def _pidfile(args: argparse.Namespace) -> Path:
    """``--pidfile``, else upsd.pid in NUT's pid directory (``--statepath`` wins)."""
    if args.pidfile:
        return Path(args.pidfile)
    return (Path(args.statepath) if args.statepath else process.pid_dir()) / PIDFILE


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(f"Network UPS Tools upsd {NUT_VERSION} (pnut)")
        return 0
    if args.command:
        sig = signal.SIGHUP if args.command == "reload" else signal.SIGTERM
        return process.send_command("upsd", _pidfile(args), sig, args.pid)

    level = logging.DEBUG if args.D else logging.INFO
    logging.basicConfig(stream=sys.stderr, level=level, format="upsd: %(message)s")
    how = process.mode(args.F, args.B, args.D)

    from pnut.server.daemon import StartupError, Upsd, raise_open_files_limit

    families: tuple[int, ...] = ()
    if args.ipv4 != args.ipv6:
        families = (socket.AF_INET,) if args.ipv4 else (socket.AF_INET6,)
    pidfile = _pidfile(args) if how.pidfile or args.pidfile else None
    try:
        account = process.run_as(args.user)
    except process.ProcessError as exc:
        sys.stderr.write(f"upsd: {exc}\n")
        return 1
    ready_fd = None if how.foreground else process.start_background()
    raise_open_files_limit()
    try:
        daemon = Upsd(confpath(args.confdir), args.statepath, families)
        if (daemon.config.upsd.debug_min or 0) > 0:  # DEBUG_MIN: debugging from the config
            logging.getLogger().setLevel(logging.DEBUG)
        _hand_over_own_certificate(daemon, account)
        _run(daemon, lambda: _ready(daemon, pidfile, account, ready_fd, args.chroot))
    except (ConfigError, StartupError, process.ProcessError) as exc:
        sys.stderr.write(f"upsd: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if pidfile is not None:
            process.remove_pid(pidfile)
    return 0


def _hand_over_own_certificate(daemon: Upsd, account: process.Account | None) -> None:
    """upsd re-reads its files as the run-as user on reload: give it the kept certificate."""
    if daemon.config.tls is not None and daemon.config.upsd.certfile is None:
        from pnut.tls import autocert  # only then: it brings datetime (~0.4 MB)

        process.give_to(autocert.state_dir() / autocert.FILENAME, account)


#: PNUT_UPSD_LOOP: "epoll" (upsd's own loop, the default), "uvloop" or "asyncio".
LOOP_ENV = "PNUT_UPSD_LOOP"


def loop_kind(daemon: Upsd) -> str:
    """Which event loop serves: upsd's own unless asyncio code is embedded or asked for.

    HTTP_LISTEN and zeroconf need asyncio: then uvloop when installed (about
    twice the requests per CPU second of asyncio's own loop).
    PNUT_NO_UVLOOP=1 means asyncio's own loop (as before PNUT_UPSD_LOOP)."""
    asked = os.environ.get(LOOP_ENV, "").strip().lower()
    if os.environ.get("PNUT_NO_UVLOOP"):
        asked = "asyncio"
    if asked in ("", "epoll") and not daemon.needs_asyncio():
        return "epoll"
    if asked == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _run(daemon: Upsd, on_ready: Callable[[], None]) -> None:
    kind = loop_kind(daemon)
    log.debug("event loop: %s", kind)
    if kind == "epoll":
        daemon.run(on_ready)
        return
    import asyncio

    if kind == "uvloop":
        import uvloop

        uvloop.run(daemon.serve(on_ready))
    else:
        asyncio.run(daemon.serve(on_ready))


def _ready(daemon: Upsd, pidfile: Path | None, account: process.Account | None,
           ready_fd: int | None, chroot: str | None = None) -> None:
    """Listening: chroot (-r), drop privileges, write the pid file, tell whoever waits."""
    if chroot:
        if pidfile is not None:  # out of reach once inside
            _write_pid(pidfile)
            pidfile = None
        # What upsd imports after start: the TLS layer at the first STARTTLS, and a
        # reload's certificate - also when upsd.conf's did not load yet (fixed later).
        from pnut.server.config import TLS_LATE_IMPORTS

        upsd_conf = daemon.config.upsd
        late = TLS_LATE_IMPORTS if daemon.config.tls is not None or \
            upsd_conf.certfile is not None or upsd_conf.wants_own_certificate else ()
        process.enter_chroot(chroot, late)
        log.info("chrooted to %s", chroot)
    process.drop_privileges(account, ())  # ports bound, files read: NUT's become_user()
    if account is not None:
        log.info("Running as user %s", account.name)
    if pidfile is not None:
        _write_pid(pidfile)
    process.announce_ready(ready_fd, "upsd")
    _systemd(daemon)


def _write_pid(pidfile: Path) -> None:
    try:
        process.write_pid(pidfile)
    except OSError as exc:
        log.warning("cannot write pid file %s: %s", pidfile, exc.strerror or exc)


def _systemd(daemon: Upsd) -> None:
    """READY=1 now, RELOADING=1 ... READY=1 around each SIGHUP, WATCHDOG=1 while alive."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return

    def reload() -> None:
        process.notify("RELOADING=1", f"MONOTONIC_USEC={process.monotonic_usec()}")
        daemon.reload()
        process.notify("READY=1")

    def stop() -> None:
        process.notify("STOPPING=1")
        daemon.stop()

    loop = daemon.loop
    loop.add_signal_handler(signal.SIGHUP, reload)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(sig, stop)
    process.notify("READY=1")
    interval = process.watchdog_interval()
    if interval is None:
        return

    def ping() -> None:
        process.notify("WATCHDOG=1")
        loop.call_later(interval, ping)

    ping()
