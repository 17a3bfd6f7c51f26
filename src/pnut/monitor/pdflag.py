"""POWERDOWNFLAG: the file that tells late shutdown scripts to cut UPS power.

upsmon writes it (content exactly ``upsmon-shutdown-file``) just before
SHUTDOWNCMD; ``upsmon -K`` exits 0 only when it is present with that
content; upsmon removes a stale one at start-up, but never a file with
other content, so a mistyped path cannot destroy an unrelated file.
"""

from __future__ import annotations

import contextlib
import os
from enum import Enum
from pathlib import Path

from pnut.config.upsmon_conf import POWERDOWN_MAGIC


class FlagState(Enum):
    ABSENT = "absent"
    SET = "set"
    FOREIGN = "foreign"  # exists, but is not ours


def status(path: str | os.PathLike[str]) -> FlagState:
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(POWERDOWN_MAGIC))
    except FileNotFoundError:
        return FlagState.ABSENT
    except OSError:
        return FlagState.FOREIGN
    return FlagState.SET if head == POWERDOWN_MAGIC.encode() else FlagState.FOREIGN


def write(path: str | os.PathLike[str]) -> None:
    """Create the flag (raises OSError; the caller logs and carries on)."""
    Path(path).write_bytes(POWERDOWN_MAGIC.encode())


def clear_stale(path: str | os.PathLike[str]) -> FlagState:
    """At start-up: remove our own flag; report what was there.

    Never raises: a flag that cannot be removed (a root-owned directory
    while upsmon runs unprivileged, a read-only file system) stays, and
    upsmon starts anyway, as NUT does; the caller may check and log.
    """
    state = status(path)
    if state is FlagState.SET:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return state
