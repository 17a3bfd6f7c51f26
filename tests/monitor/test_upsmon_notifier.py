"""Notification delivery with real child processes: EXEC, timeouts, bounds."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from pnut.config.notify import NotifyType
from pnut.config.upsmon_conf import parse_upsmon_conf
from pnut.monitor.notifier import Notifier
from pnut.protocol.tokens import quote


def _conf(notifycmd: str, extra: str = "") -> str:
    return (f"MONITOR u@h 1 u p primary\nNOTIFYCMD {quote(notifycmd)}\n"
            f"NOTIFYFLAG ONBATT SYSLOG+EXEC\nNOTIFYFLAG SHUTDOWN EXEC\n{extra}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_exec_gets_message_and_environment(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    script = tmp_path / "notify.sh"
    script.write_text('#!/bin/sh\n'
                      f'printf "%s|%s|%s|%s\\n" "$NOTIFYTYPE" "$UPSNAME" "$#" "$1" >> {out}\n')
    script.chmod(0o755)
    msg = 'NOTIFYMSG ONBATT "$HOME `id` \\"%s\\" on battery"\n'
    conf = parse_upsmon_conf(_conf(str(script), msg))
    log = logging.getLogger("test.notifier")

    async def go() -> None:
        n = Notifier(conf, log, wall=False)
        n.notify(NotifyType.ONBATT, "u@h")
        n.notify(NotifyType.SHUTDOWN, None)
        await n.drain(10)

    with caplog.at_level(logging.INFO, logger="test.notifier"):
        asyncio.run(go())
    lines = sorted(out.read_text().splitlines())
    # The message reaches the command as one argument, never shell-expanded.
    assert lines == ["ONBATT|u@h|1|$HOME `id` \"u@h\" on battery",
                     "SHUTDOWN||1|Auto logout and shutdown proceeding"]
    # SYSLOG only where flagged: ONBATT yes, SHUTDOWN (EXEC only) no.
    logged = [r.getMessage() for r in caplog.records]
    assert '$HOME `id` "u@h" on battery' in logged
    assert "Auto logout and shutdown proceeding" not in logged


def test_hanging_notifycmd_never_blocks_and_is_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The shell starts a grandchild; both must die with the process group.
    conf = parse_upsmon_conf(_conf(f"sleep 60 & echo $! >> {pids}; echo $$ >> {pids}; wait; true"))
    log = logging.getLogger("test.notifier")

    async def go() -> tuple[float, list[int], list[bool], int]:
        n = Notifier(conf, log, wall=False, exec_timeout=0.5)
        start = time.monotonic()
        for _ in range(3):
            n.notify(NotifyType.ONBATT, "u@h")
        spent = time.monotonic() - start
        for _ in range(100):
            if pids.exists() and len(pids.read_text().split()) == 6:
                break
            await asyncio.sleep(0.05)
        seen = [int(p) for p in pids.read_text().split()]
        running_early = [_alive(p) for p in seen]
        await n.drain(10)
        return spent, seen, running_early, n.running

    spent, seen, running_early, running = asyncio.run(go())
    assert spent < 0.2
    assert len(seen) == 6 and all(running_early)
    assert running == 0
    # All gone, and reaped (a zombie would still answer kill(pid, 0)).
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in seen)


def test_running_children_are_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    conf = parse_upsmon_conf(_conf("sleep 30"))
    log = logging.getLogger("test.notifier")

    async def go() -> int:
        n = Notifier(conf, log, wall=False, exec_timeout=0.5, max_running=2)
        for _ in range(5):
            n.notify(NotifyType.ONBATT, "u@h")
        count = n.running
        await n.drain(10)
        return count

    with caplog.at_level(logging.ERROR, logger="test.notifier"):
        assert asyncio.run(go()) == 2
    assert sum("still running; not starting" in r.getMessage() for r in caplog.records) == 3


def test_failing_or_missing_notifycmd_is_only_logged(tmp_path: Path) -> None:
    conf = parse_upsmon_conf(_conf(str(tmp_path / "does-not-exist")))
    log = logging.getLogger("test.notifier")

    async def go() -> int:
        n = Notifier(conf, log, wall=False)
        n.notify(NotifyType.ONBATT, "u@h")
        await n.drain(10)
        return n.running

    assert asyncio.run(go()) == 0


def test_ignore_and_hook(tmp_path: Path) -> None:
    out = tmp_path / "out"
    conf = parse_upsmon_conf(_conf(f"touch {out}", "NOTIFYFLAG ONBATT IGNORE+EXEC\n"))
    seen = []

    async def go() -> None:
        n = Notifier(conf, logging.getLogger("test.notifier"), wall=False, on_event=seen.append)
        n.notify(NotifyType.ONBATT, "u@h")
        await n.drain(5)

    asyncio.run(go())
    assert not out.exists()
    assert [(s.type, s.system, s.message) for s in seen] == [
        (NotifyType.ONBATT, "u@h", "UPS u@h on battery")]
