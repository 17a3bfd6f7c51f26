"""PID files of drivers (``<driver>-<ups>.pid``), shared by drivers and upsdrvctl.

NUT keeps them in ALTPIDPATH (env ``NUT_ALTPIDPATH``), falling back to the
state path; reading and writing them is :mod:`pnut.process`'s.  Before
signalling a PID read from such a file pnut checks that the process still
looks like that driver (its command line names the driver), so a stale
file whose PID was reused never gets a stranger killed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from pnut.process import alive, looks_like, read_pid, remove_pid, write_pid

__all__ = ["alive", "looks_like", "pid_dir", "pid_path", "read_pid", "remove_pid",
           "signal_driver", "write_pid"]


def pid_dir(statepath: Path) -> Path:
    env = os.environ.get("NUT_ALTPIDPATH")
    return Path(env) if env else statepath


def pid_path(statepath: Path, progname: str, upsname: str) -> Path:
    return pid_dir(statepath) / f"{progname}-{upsname}.pid"


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
