"""``pnut upsd``: the attachment daemon, always in the foreground.

Options follow NUT's upsd where they make sense for a foreground process
(``-F``, ``-D``, ``-c reload|stop``, ``-P pid``, ``-4``/``-6``); the config
and state directories can also be given as flags.  Logs go to stderr.  A
config or startup problem is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from pnut.config.parser import ConfigError, confpath
from pnut.protocol.limits import NUT_VERSION

PIDFILE = "upsd.pid"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pnut upsd", description="Network server for UPS data.")
    p.add_argument("--confdir", help="config directory (default: $NUT_CONFPATH or /etc/nut)")
    p.add_argument("--statepath", help="directory of the driver sockets "
                   "(default: STATEPATH in upsd.conf, $NUT_STATEPATH, ups.conf statepath)")
    p.add_argument("-F", action="count", default=0,
                   help="stay in the foreground (always); -FF also writes the pid file")
    p.add_argument("-D", action="count", default=0, help="raise the debugging level")
    p.add_argument("-c", dest="command", choices=["reload", "stop"],
                   help="send a command to the running upsd (via its pid file)")
    p.add_argument("-P", dest="pid", type=int, help="with -c: signal this PID instead")
    p.add_argument("--pidfile", help="write the process id to this file")
    p.add_argument("-u", dest="user", help="accepted for NUT compatibility; pnut upsd "
                   "does not switch users (start it as the user it should run as)")
    p.add_argument("-4", dest="ipv4", action="store_true", help="IPv4 only")
    p.add_argument("-6", dest="ipv6", action="store_true", help="IPv6 only")
    p.add_argument("-V", "--version", action="store_true", help="show the version")
    return p


def _pid_dir(statepath: str | None, default: str = "/run/nut") -> Path:
    """Where the pid file lives: NUT's altpidpath (NUT_ALTPIDPATH, else STATEPATH)."""
    env = os.environ.get("NUT_ALTPIDPATH") or os.environ.get("NUT_STATEPATH")
    return Path(statepath or env or default)


def _signal(args: argparse.Namespace) -> int:
    sig = signal.SIGHUP if args.command == "reload" else signal.SIGTERM
    if args.pid is not None:
        pid = args.pid
    else:
        pidfile = Path(args.pidfile) if args.pidfile else _pid_dir(args.statepath) / PIDFILE
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError) as exc:
            sys.stderr.write(f"upsd: cannot read pid file {pidfile}: {exc}\n")
            return 1
    try:
        os.kill(pid, sig)
    except OSError as exc:
        sys.stderr.write(f"upsd: cannot signal process {pid}: {exc.strerror}\n")
        return 1
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(f"Network UPS Tools upsd {NUT_VERSION} (pnut)")
        return 0
    if args.command:
        return _signal(args)

    level = logging.DEBUG if args.D else logging.INFO
    logging.basicConfig(stream=sys.stderr, level=level, format="upsd: %(message)s")
    if args.user:
        logging.getLogger("pnut.upsd").info(
            "-u %s ignored: pnut upsd runs as the user that starts it", args.user)

    from pnut.server.daemon import StartupError, Upsd, raise_open_files_limit

    families: tuple[int, ...] = ()
    if args.ipv4 != args.ipv6:
        families = (socket.AF_INET,) if args.ipv4 else (socket.AF_INET6,)
    raise_open_files_limit()
    pidfile: Path | None = None
    try:
        daemon = Upsd(confpath(args.confdir), args.statepath, families)
        if (daemon.config.upsd.debug_min or 0) > 0:  # DEBUG_MIN: debugging from the config
            logging.getLogger().setLevel(logging.DEBUG)
        if args.pidfile or args.F >= 2:
            pidfile = Path(args.pidfile) if args.pidfile else _pid_dir(
                args.statepath, str(daemon.config.statepath)) / PIDFILE
        _run(_serve(daemon, pidfile))
    except (ConfigError, StartupError) as exc:
        sys.stderr.write(f"upsd: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if pidfile is not None:
            with contextlib.suppress(OSError):
                pidfile.unlink()
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (about twice the requests per CPU
    second), else on asyncio's own loop; PNUT_NO_UVLOOP=1 forces the latter."""
    if not os.environ.get("PNUT_NO_UVLOOP"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


async def _serve(daemon: object, pidfile: Path | None) -> None:
    from pnut.server.daemon import Upsd

    assert isinstance(daemon, Upsd)
    ready = asyncio.Event()
    task = asyncio.create_task(daemon.serve(ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()  # raises the startup error
        return
    if pidfile is not None:
        try:
            pidfile.write_text(f"{os.getpid()}\n")
        except OSError as exc:
            logging.getLogger("pnut.upsd").warning("cannot write pid file %s: %s", pidfile, exc)
    await task
