"""Process plumbing for every pnut daemon, the way NUT does it.

How this works
--------------
NUT's daemons (upsd, upsmon, the drivers) share one process model, and so
do pnut's, through this module only:

* **Foreground or background.**  A daemon goes to the background unless
  ``-F`` (or ``-D``) keeps it in the foreground; ``-B`` backgrounds even when
  debugging; ``-FF`` stays in the foreground *and* writes the pid file.
  :func:`start_background` forks before any event loop or thread exists;
  the parent waits on a pipe until the child says it is ready
  (:func:`announce_ready`), so ``pnut upsd`` returns 0 only once upsd
  listens, and 1 with the error on the terminal when start-up failed.
* **Privileges.**  Started as root, a daemon becomes the run-as user
  (``-u``, ups.conf ``user =``, RUN_AS_USER; default ``nut`` when that
  account exists, as Debian's build) right after opening what needs root.
  Not root: nothing changes, as in NUT.
* **Pid files** live where NUT puts them: ``NUT_ALTPIDPATH``, else
  ``NUT_STATEPATH``, else ``/run/nut``.  ``-c reload|stop`` signals the pid
  in the file and says what to do when there is none.
* **systemd.**  :func:`notify` speaks sd_notify (READY=1, RELOADING=1,
  STOPPING=1, WATCHDOG=1) on ``$NOTIFY_SOCKET`` when a unit of
  ``Type=notify`` started the daemon; it is a no-op otherwise.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pwd
import signal
import socket
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The account NUT's Debian build runs its daemons as.
DEFAULT_USER = "nut"
#: NUT's compiled-in pid directory on Debian.
DEFAULT_PIDPATH = "/run/nut"

log = logging.getLogger("pnut.process")


class ProcessError(Exception):
    """A start-up problem of the process itself (unknown user, chroot failed)."""


# -- foreground / background ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Mode:
    foreground: bool
    pidfile: bool


def mode(foreground: int = 0, background: bool = False, debug: int = 0) -> Mode:
    """NUT's rules: -F/-D stay, -B leaves anyway, -FF stays and writes the pid file."""
    stay = (foreground > 0 or debug > 0) and not background
    return Mode(stay, not stay or foreground >= 2)


def start_background() -> int:
    """Fork; the parent exits once the child is ready (0) or gone (its status).

    Returns, in the child, the pipe to pass to :func:`announce_ready`.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(wfd)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(rfd, 16):
                data += chunk
        if data.startswith(b"ok"):
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) or 1)
    os.close(rfd)
    os.setsid()
    return wfd


def announce_ready(fd: int | None, progname: str) -> None:
    """Release the waiting parent, then leave the terminal (logs go to syslog).

    Standard output and error that are regular files (a log the caller
    chose) are kept; a terminal or pipe is replaced by /dev/null.
    """
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, b"ok")
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    kept = []
    for out in (1, 2):
        try:
            keep = os.path.isfile(os.readlink(f"/proc/self/fd/{out}"))
        except OSError:
            keep = False
        if not keep:
            os.dup2(devnull, out)
        kept.append(keep)
    os.close(devnull)
    if not kept[1] and os.path.exists("/dev/log"):
        from logging.handlers import SysLogHandler

        handler = SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter(f"{progname}[%(process)d]: %(message)s"))
        logging.getLogger().addHandler(handler)


# -- privileges ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    gid: int


def run_as(explicit: str | None) -> Account | None:
    """The account to become: ``explicit``, else ``nut`` if it exists; None = stay.

    Only root can switch; ``root`` means stay root.  An explicit account
    that does not exist is an error; a missing default is not (a machine
    without NUT's package has no ``nut`` user, and NUT's build would use
    another default).
    """
    if os.geteuid() != 0:
        return None
    name = explicit or DEFAULT_USER
    if name == "root":
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if explicit:
            raise ProcessError(f"user {name!r} not found (-u, 'user =' or RUN_AS_USER)") from None
        log.warning("no user %r here: staying root (set one with -u)", name)
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


#: Standard modules the daemons import only when first needed (a login, a pin,
#: a misspelt name at reload).  They are loaded before giving up root: after
#: it the run-as user may not be able to read Python's own files (an
#: interpreter under /root, a chroot), and a login must not fail with
#: ImportError.
LATE_IMPORTS = ("hashlib", "hmac", "difflib")


def load_late_imports(names: tuple[str, ...] = LATE_IMPORTS) -> None:
    """Import ``names`` while the files are still readable."""
    for name in names:
        importlib.import_module(name)


def drop_privileges(account: Account | None,
                    late_imports: tuple[str, ...] = LATE_IMPORTS) -> None:
    """Become ``account`` for good (group, supplementary groups, then user).

    ``late_imports``: what to import first (upsd needs none of
    :data:`LATE_IMPORTS`: it loads hashlib with hashed passwords, and lives
    without difflib's hints)."""
    if account is None or os.geteuid() != 0:
        return
    load_late_imports(late_imports)
    os.setgid(account.gid)
    os.initgroups(account.name, account.gid)
    os.setuid(account.uid)
    if os.geteuid() != account.uid or os.getuid() != account.uid:
        raise ProcessError(f"could not become user {account.name!r}")


def give_to(path: str | os.PathLike[str], account: Account | None) -> None:
    """Hand a file made as root (a kept certificate) to the run-as user."""
    if account is not None and os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.chown(path, account.uid, account.gid)


def set_group(path: str | os.PathLike[str], group: str | None) -> None:
    """A socket's group (ups.conf ``group =``, ``-g``) with NUT's g+rw."""
    if not group:
        return
    import grp

    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise ProcessError(f"group {group!r} not found ('group =' or -g)") from None
    os.chown(path, -1, gid)
    os.chmod(path, os.stat(path).st_mode | 0o060)


def enter_chroot(path: str, late_imports: tuple[str, ...] = LATE_IMPORTS) -> None:
    """``-r DIR`` (drivers, upsd): confine the process there (needs root), after
    importing ``late_imports``: Python's files are out of reach from inside."""
    load_late_imports(late_imports)
    try:
        os.chroot(path)
        os.chdir("/")
    except OSError as exc:
        raise ProcessError(f"-r {path}: cannot chroot: {exc.strerror or exc}") from None


# -- pid files -----------------------------------------------------------------------------

def pid_dir() -> Path:
    """NUT's altpidpath: NUT_ALTPIDPATH, else NUT_STATEPATH, else /run/nut."""
    env = os.environ.get("NUT_ALTPIDPATH") or os.environ.get("NUT_STATEPATH")
    return Path(env or DEFAULT_PIDPATH)


def write_pid(path: Path, pid: int | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid or os.getpid()}\n")
    os.chmod(tmp, 0o644)
    tmp.replace(path)


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def remove_pid(path: Path, pid: int | None = None) -> None:
    """Remove ``path`` if it still names ``pid`` (default: this process)."""
    if read_pid(path) == (pid or os.getpid()):
        with contextlib.suppress(OSError):
            path.unlink()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie answers kill(0) but is gone
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


def looks_like(pid: int, progname: str) -> bool:
    """True if process ``pid`` is alive and its command line names ``progname``."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return alive(pid)
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    return any(w == progname or w.endswith("/" + progname) for w in words)


def send_command(progname: str, pidfile: Path, sig: int, pid: int | None = None) -> int:
    """``-c reload|stop``: signal the daemon named by its pid file; 0 on success.

    Without a pid file the error says why there may be none and what to do.
    """
    target = pid if pid is not None else read_pid(pidfile)
    if target is None:
        sys.stderr.write(
            f"{progname}: no PID file {pidfile}: {progname} is not running, or runs in the "
            f"foreground with -F (which writes none: start it with -FF, or signal it with "
            f"-P PID, or 'systemctl reload/stop' when systemd runs it)\n")
        return 1
    try:
        os.kill(target, sig)
    except ProcessLookupError:
        sys.stderr.write(f"{progname}: PID {target} from {pidfile} is not running "
                         "(a stale PID file; remove it)\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"{progname}: cannot signal PID {target}: {exc.strerror}\n")
        return 1
    return 0


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait (bounded) for ``pid`` to exit; True when it did."""
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


# -- systemd ---------------------------------------------------------------------------------

def notify(*states: str) -> bool:
    """sd_notify: send ``READY=1`` etc. to ``$NOTIFY_SOCKET``; False when there is none."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not states:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(states).encode(), address)
    except OSError as exc:
        log.debug("sd_notify to %s failed: %s", address, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec for this process (seconds), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    owner = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (owner and owner != str(os.getpid())):
        return None
    return int(usec) / 2e6


async def keep_watchdog() -> None:
    """Ping systemd's watchdog every half WatchdogSec, for as long as the loop runs."""
    import asyncio

    interval = watchdog_interval()
    while interval is not None:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


async def run_notified(main: Coroutine[Any, Any, int]) -> int:
    """Run a daemon's main coroutine with READY=1 at start, watchdog pings, STOPPING=1."""
    import asyncio

    notify("READY=1")
    dog = asyncio.create_task(keep_watchdog())
    try:
        return await main
    finally:
        notify("STOPPING=1")
        dog.cancel()


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


SIGNALS = {"reload": signal.SIGHUP, "stop": signal.SIGTERM, "exit": signal.SIGTERM}
