"""PID files of drivers (``<driver>-<ups>.pid``), shared by drivers and upsdrvctl.

NUT keeps them in ALTPIDPATH (env ``NUT_ALTPIDPATH``), falling back to the
state path.  Before signalling a PID read from such a file pnut checks
that the process still looks like that driver (its command line names the
driver), so a stale file whose PID was reused never gets a stranger killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def pid_dir(statepath: Path) -> Path:
    env = os.environ.get("NUT_ALTPIDPATH")
    return Path(env) if env else statepath


def pid_path(statepath: Path, progname: str, upsname: str) -> Path:
    return pid_dir(statepath) / f"{progname}-{upsname}.pid"


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


def looks_like(pid: int, progname: str) -> bool:
    """True if process ``pid`` is alive and its command line mentions ``progname``."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        # No /proc: fall back to "is it alive".
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    return any(w == progname or w.endswith("/" + progname) for w in words)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not alive for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


def signal_driver(path: Path, progname: str, sig: int = signal.SIGTERM) -> int | None:
    """Send ``sig`` to the driver named by ``path``; its PID, or None if none runs."""
    pid = read_pid(path)
    if pid is None or pid == os.getpid() or not looks_like(pid, progname):
        return None
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return None
    return pid
