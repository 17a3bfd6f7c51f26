"""``pnut upsmon`` / ``upsmon``: NUT's arguments, NUT's process model.

Started as root without ``-p``, upsmon splits like NUT's: a privileged
parent that only waits on a pipe (to write POWERDOWNFLAG and run
SHUTDOWNCMD) and a child, running as RUN_AS_USER (or ``-u``), that does
all the monitoring.  ``-c fsd|stop|reload`` signals the running child
through its PID file; ``-K`` only checks POWERDOWNFLAG.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from pnut import __version__, process
from pnut.config.parser import ConfigError, confpath
from pnut.config.upsmon_conf import FILENAME, UpsmonConf, load_upsmon_conf
from pnut.monitor import log as logsetup
from pnut.monitor import pdflag
from pnut.monitor.daemon import COMMAND_SIGNALS, PIPE_SHUTDOWN, Options, Upsmon, run_shutdown
from pnut.protocol.limits import NUT_VERSION

PROG = "upsmon"
#: Account the monitoring child runs as when RUN_AS_USER is not set.
DEFAULT_USER = "nut"
#: Imported before dropping privileges (asyncio's resolver thread pool, IDNA).
_LAZY_MODULES = ("concurrent.futures.thread", "encodings.idna")
SIGNALS = {"fsd": signal.SIGUSR1, "stop": signal.SIGTERM, "reload": signal.SIGHUP}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Monitors UPS servers and may initiate "
                                "shutdown if necessary.")
    p.add_argument("-c", dest="command", metavar="CMD",
                   help="send a command to the running upsmon: fsd, stop, reload")
    p.add_argument("-P", dest="pid", type=int, help="signal this PID instead of the PID file's")
    p.add_argument("-D", dest="debug", action="count", default=0,
                   help="raise the debug level (and stay in the foreground)")
    p.add_argument("-F", dest="foreground", action="store_const", const=True,
                   help="stay in the foreground")
    p.add_argument("-B", dest="foreground", action="store_const", const=False,
                   help="go to the background even when debugging")
    p.add_argument("-K", dest="check_flag", action="store_true",
                   help="exit 0 if POWERDOWNFLAG is set, 1 otherwise")
    p.add_argument("-p", dest="privileged", action="store_true",
                   help="one privileged process (no split into parent and child)")
    p.add_argument("-u", dest="user", help="run the monitoring child as this user")
    p.add_argument("-f", dest="config", help="config file (default <confdir>/upsmon.conf)")
    p.add_argument("--confdir", help="config dir (default $NUT_CONFPATH or /etc/nut)")
    p.add_argument("-4", dest="family", action="store_const", const=4, help="IPv4 only")
    p.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 only")
    p.add_argument("-V", dest="version", action="store_true", help="show the version and exit")
    return p


def pidfile_path() -> Path:
    return process.pid_dir() / f"{PROG}.pid"


def _read_pid(path: Path) -> int | None:
    return process.read_pid(path)


def _command_signal(word: str) -> signal.Signals | None:
    # NUT accepts any prefix of the command name ("-c s" is stop).
    matches = [sig for name, sig in SIGNALS.items() if word and name.startswith(word)]
    return matches[0] if len(matches) == 1 else None


def _send(sig: signal.Signals, pid: int | None) -> int:
    return process.send_command(PROG, pidfile_path(), sig, pid)


def _running_instance() -> int | None:
    pid = _read_pid(pidfile_path())
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def check_flag(conf: UpsmonConf, log: logging.Logger) -> int:
    """``upsmon -K``: 0 only if POWERDOWNFLAG exists with the magic content."""
    if not conf.powerdownflag:
        log.error("No POWERDOWNFLAG configured")
        return 1
    state = pdflag.status(conf.powerdownflag)
    if state is pdflag.FlagState.SET:
        log.info("Power down flag is set")
        return 0
    if state is pdflag.FlagState.FOREIGN:
        log.error("POWERDOWNFLAG (%s) does not contain the upsmon magic string",
                  conf.powerdownflag)
    else:
        log.error("Power down flag is not set")
    return 1


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    print(f"Network UPS Tools {PROG} {NUT_VERSION} (pnut {__version__})", flush=True)
    if args.version:
        return 0
    if args.command is not None:
        sig = _command_signal(args.command)
        if sig is None:
            print(f"{PROG}: unknown command {args.command!r} (fsd, stop, reload)", file=sys.stderr)
            return 2
        return _send(sig, args.pid)

    foreground = args.foreground if args.foreground is not None else args.debug > 0
    log = logsetup.setup(PROG, stderr=True, debug=args.debug)
    path = args.config or str(confpath(args.confdir) / FILENAME)
    try:
        conf = load_upsmon_conf(path, require_monitor=not args.check_flag)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        if not args.check_flag:
            print(f"{PROG}: refusing to start", file=sys.stderr)
        return 1
    if args.check_flag:
        return check_flag(conf, log)
    if conf.debug_min and conf.debug_min > args.debug:
        log.setLevel(logging.DEBUG)
    from pnut.checks import upsmon_startup

    for problem in upsmon_startup(conf):  # the checks of 'pnut check-config'
        log.warning("%s", problem)
    if conf.powerdownflag:  # as NUT: removed while still root, before the split
        _clear_powerdownflag(conf, log)
    if (other := _running_instance()) is not None:
        print(f"Fatal error: a previous upsmon instance is already running (PID {other})!\n"
              "Either stop the previous instance first, or use the 'reload' command.",
              file=sys.stderr)
        return 1
    for mon in conf.monitors:
        role = "primary" if mon.primary else "secondary"
        what = f"({role}) (power value {mon.power_value})"
        if not mon.power_value:
            what = "(monitoring only)"
        log.info("UPS: %s %s", mon.system, what)

    ready = None if foreground else process.start_background()
    process.announce_ready(ready, PROG)
    # The PID file invites 'upsmon -c stop|fsd|reload' (and a service manager's
    # SIGTERM) before the handlers exist: hold those signals until they do,
    # rather than die of one (the monitor unblocks them once it handles them).
    signal.pthread_sigmask(signal.SIG_BLOCK, COMMAND_SIGNALS)
    split = not args.privileged and os.geteuid() == 0
    parent_fd: int | None = None
    if split:
        parent_fd = _split(conf, log, args.user or conf.run_as_user or DEFAULT_USER)
    else:
        log.info("Running as one process (no privileged parent)")
        _write_pidfile(log)
    options = Options(parent_fd=parent_fd, config_path=path)
    try:
        return asyncio.run(process.run_notified(Upsmon(conf, log, options).run()))
    finally:
        _remove_pidfile(os.getpid())


def _clear_powerdownflag(conf: UpsmonConf, log: logging.Logger) -> None:
    """A flag left by the last power-fail shutdown goes, as in NUT; never a crash.

    The first boot after an outage is the worst moment for upsmon to fail.
    """
    assert conf.powerdownflag is not None
    if pdflag.clear_stale(conf.powerdownflag) is not pdflag.FlagState.SET:
        return
    if os.path.lexists(conf.powerdownflag):
        log.error("POWERDOWNFLAG %s is left from the last shutdown and cannot be removed - "
                  "starting anyway", conf.powerdownflag)
    else:
        log.info("Removed POWERDOWNFLAG %s left by the last shutdown", conf.powerdownflag)


def _write_pidfile(log: logging.Logger) -> None:
    pidfile = pidfile_path()
    try:
        process.write_pid(pidfile)
    except OSError as exc:
        log.warning("cannot write PID file %s: %s", pidfile, exc.strerror)


def _remove_pidfile(pid: int) -> None:
    pidfile = pidfile_path()
    with contextlib.suppress(OSError):
        if _read_pid(pidfile) == pid:
            pidfile.unlink()


# -- process model ----------------------------------------------------------------


def _split(conf: UpsmonConf, log: logging.Logger, user: str) -> int:
    """Fork the privileged parent; returns (in the child) the pipe's write end.

    The parent never returns: it waits for the shutdown byte (or the
    child's exit), forwarding SIGTERM/SIGINT to the child meanwhile.
    """
    try:
        account = process.run_as(user)
    except process.ProcessError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        sys.exit(1)
    # Modules imported on first use must be loaded while still root: the
    # interpreter's files need not be readable by the unprivileged user.
    for name in _LAZY_MODULES:
        importlib.import_module(name)
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_fd)
        os.set_inheritable(write_fd, False)
        _write_pidfile(log)  # while still allowed to
        process.drop_privileges(account)
        return write_fd
    os.close(write_fd)
    sys.exit(_run_parent(read_fd, child, conf, log))


def _run_parent(fd: int, child: int, conf: UpsmonConf, log: logging.Logger) -> int:
    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, forward)
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, COMMAND_SIGNALS)  # blocked in main()
    data = b""
    with contextlib.suppress(OSError):
        data = os.read(fd, 1)  # interrupted calls are retried (PEP 475)
    if data == PIPE_SHUTDOWN:
        asyncio.run(run_shutdown(conf, log))
        _reap(child, timeout=10.0)
        _remove_pidfile(child)
        return 0
    if data:
        log.error("upsmon parent: got bogus pipe command %r", data)
        return 1
    status = _reap(child, timeout=10.0)
    _remove_pidfile(child)
    log.info("upsmon parent: exiting (child exited)")
    return status


def _reap(child: int, timeout: float) -> int:
    """Wait for the child (bounded); its exit status, or 1."""
    try:
        for _ in range(int(timeout * 10)):
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1
            time.sleep(0.1)
    except ChildProcessError:
        return 0
    return 1
