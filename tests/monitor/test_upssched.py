"""upssched: config, the timer table, and the real CLI + daemon under load."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pnut.config.parser import ConfigError
from pnut.config.upssched_conf import load_upssched_conf
from pnut.monitor.upssched import Cancel, Start, Timers, format_request, parse_request
from pnut.monitor.upssched_daemon import TimerDaemon, send_request
from pnut.protocol.tokens import split_line
from support import PNUT, wait_for

# -- config -------------------------------------------------------------------------


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "upssched.conf"
    path.write_text(f"CMDSCRIPT {tmp_path}/cmd.sh\nPIPEFN {tmp_path}/pipe\n"
                    f"LOCKFN {tmp_path}/lock\n{body}")
    return path


def test_rules_match_in_file_order(tmp_path: Path) -> None:
    conf = load_upssched_conf(_write(tmp_path, (
        "AT ONBATT * START-TIMER a 30\n"
        "AT onbatt ups1@h EXECUTE b\n"
        "AT ONBATT ups2@h EXECUTE c\n"
        "AT ONLINE * CANCEL-TIMER a back\n"
        "AT OFF * EXECUTE later-nut-event\n")))
    assert [(r.command, r.args) for r in conf.matching("ONBATT", "ups1@h")] == [
        ("START-TIMER", ("a", "30")), ("EXECUTE", ("b",))]
    assert [r.args for r in conf.matching("online", "x")] == [("a", "back")]
    assert conf.matching("LOWBATT", "ups1@h") == []


def test_at_before_the_three_files_is_fatal_as_in_nut(tmp_path: Path) -> None:
    path = tmp_path / "upssched.conf"
    path.write_text("CMDSCRIPT /x\nAT ONBATT * EXECUTE a\n")
    with pytest.raises(ConfigError) as info:
        load_upssched_conf(path)
    assert info.value.lineno == 2 and "PIPEFN must be set before any AT line" in str(info.value)


@pytest.mark.parametrize(("body", "warning", "args"), [
    # NUT's upssched daemon drops a START without a time: no timer
    ("AT ONBATT * START-TIMER a", "START-TIMER takes 2 argument(s), got 1: the line is ignored",
     None),
    # NUT reads the time with strtol: "soon" is 0 (at once), "5m" is 5 seconds
    ("AT ONBATT * START-TIMER a soon", "AT ONBATT * START-TIMER: time 'soon' is read as 0 "
     "seconds, as NUT reads it", ("a", "0")),
    ("AT ONBATT * START-TIMER a 5m", "AT ONBATT * START-TIMER: time '5m' is read as 5 seconds, "
     "as NUT reads it", ("a", "5")),
    ("AT ONBATT * START-TIMER a -1", "START-TIMER a: negative time '-1': the line is ignored",
     None),
    ("AT ONBATT * CANCEL-TIMER a b c", "AT ONBATT * CANCEL-TIMER: takes 1 or 2 argument(s): the "
     "words after them are ignored, as NUT ignores them", ("a", "b")),
    ("AT ONBATT * EXECUTE a b", "AT ONBATT * EXECUTE: takes 1 argument(s): the words after them "
     "are ignored, as NUT ignores them", ("a",)),
    ('AT ONBATT * EXECUTE ""', "EXECUTE needs a non-empty argument: the line is ignored", None),
    ("AT ONBATT * STOP-TIMER a", "unknown AT command 'STOP-TIMER' (did you mean "
     "'START-TIMER'?): the line is ignored", None),
    ("AT ONBATT * WAIT a", "unknown AT command 'WAIT' (START-TIMER, CANCEL-TIMER or EXECUTE): "
     "the line is ignored", None),
    ("AT ONBATT * START-TIMR a 5", "unknown AT command 'START-TIMR' (did you mean "
     "'START-TIMER'?): the line is ignored", None),
    ("AT ONBATT * START-TIMER-SHARED a 5", "START-TIMER-SHARED is from NUT 2.8.5 and not "
     "supported: the line is ignored", None),
    ("AT NOSUCH * EXECUTE a", "unknown notify type 'NOSUCH': the line is ignored", None),
    ("AT ONBATT *", "AT needs: AT <notifytype> <upsname|*> <command> <argument...>: the line is "
     "ignored", None),
    ("PIPEFN", "PIPEFN needs one argument: the line is ignored", None),
])
def test_lines_nut_reads_past_are_warnings(tmp_path: Path, body: str, warning: str,
                                           args: tuple[str, ...] | None) -> None:
    """Issue 11: NUT's upssched logs (or silently skips) these lines and carries
    on; pnut reads them the same way and names the line."""
    path = _write(tmp_path, f"{body}\n")
    conf = load_upssched_conf(path)
    assert conf.warnings == [f"{path}:4: {warning}"]
    assert [r.args for r in conf.rules] == ([] if args is None else [args])
    assert conf.pipefn == f"{tmp_path}/pipe"


def test_unknown_directive_is_a_warning_as_in_nut(tmp_path: Path) -> None:
    conf = load_upssched_conf(_write(tmp_path, "LOKFN /x\nAT ONBATT * EXECUTE a\n"))
    assert conf.warnings == [f"{tmp_path}/upssched.conf:4: unknown directive 'LOKFN' is ignored "
                             "(did you mean 'LOCKFN'?)"]
    assert [r.args for r in conf.rules] == [("a",)]


def test_at_before_paths_refused(tmp_path: Path) -> None:
    path = tmp_path / "upssched.conf"
    path.write_text(f"CMDSCRIPT /bin/true\nAT ONBATT * EXECUTE x\nPIPEFN {tmp_path}/p\n")
    with pytest.raises(ConfigError, match=r":2: PIPEFN must be set before any AT line"):
        load_upssched_conf(path)


# -- timers and protocol ------------------------------------------------------------


def test_timers_duplicates_cancel_oldest_and_due_order() -> None:
    t = Timers()
    t.start("a", 10, now=0)
    t.start("b", 5, now=0)
    t.start("a", 20, now=0)
    assert len(t) == 3 and t.next_deadline() == 5
    assert t.cancel("a")  # the one due at 10
    assert t.due(19) == ["b"]
    assert t.due(20) == ["a"]
    assert not t.cancel("a") and len(t) == 0 and t.next_deadline() is None


@pytest.mark.parametrize("req", [Start("on batt", 30), Cancel('we"ird#', "cmd x"), Cancel("a")])
def test_request_round_trip(req: Start | Cancel) -> None:
    assert parse_request(tuple(split_line(format_request(req)))) == req


@pytest.mark.parametrize("line", ["START a", "START a b", "STOP a", "CANCEL", "START a 1 2"])
def test_bad_requests(line: str) -> None:
    assert parse_request(tuple(split_line(line))) is None


# -- the real thing -------------------------------------------------------------------


class Sched:
    """A private upssched.conf whose CMDSCRIPT records its argument and the
    PID of the upssched process (daemon or client) that ran it."""

    def __init__(self, tmp_path: Path, rules: str) -> None:
        self.dir = tmp_path
        self.out = tmp_path / "out"
        script = tmp_path / "cmd.sh"
        script.write_text(
            "#!/bin/sh\n"
            "p=$PPID\n"
            "while [ \"$p\" -gt 1 ] && ! tr '\\0' ' ' < /proc/$p/cmdline | grep -q upssched; do\n"
            "  p=$(cut -d' ' -f4 /proc/$p/stat)\n"
            "done\n"
            f'echo "$1 $p" >> {self.out}\n')
        script.chmod(0o755)
        _write(tmp_path, rules)
        self.pipe = tmp_path / "pipe"

    def run(self, event: str, ups: str = "ups@localhost") -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, NUT_CONFPATH=str(self.dir), NOTIFYTYPE=event, UPSNAME=ups)
        return subprocess.run([*PNUT, "upssched", f"UPS {ups}: {event}"], env=env,
                              capture_output=True, text=True, timeout=60)

    def fired(self) -> list[tuple[str, int]]:
        if not self.out.exists():
            return []
        return [(a, int(p)) for a, p in (ln.split() for ln in self.out.read_text().splitlines())]

    def daemon_pid(self) -> int:
        fired = self.fired()
        assert fired, "no command has run yet"
        return fired[-1][1]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_timer_started_by_onbatt_cancelled_by_online(tmp_path: Path) -> None:
    s = Sched(tmp_path, "AT ONBATT * START-TIMER onbatt 3\n"
                        "AT ONLINE * CANCEL-TIMER onbatt\n"
                        "AT LOWBATT * START-TIMER marker 0\n"
                        "AT COMMBAD * CANCEL-TIMER nothing-running ran-instead\n"
                        "AT COMMOK * EXECUTE direct\n")
    try:
        assert s.run("ONBATT").returncode == 0
        assert s.pipe.exists()  # a daemon listens now
        assert s.run("ONLINE").returncode == 0  # within the 3 s
        assert s.run("COMMBAD").returncode == 0  # nothing to cancel: runs its command
        assert s.run("COMMOK").returncode == 0  # EXECUTE: at once, by the client
        wait_for(lambda: len(s.fired()) == 2, timeout=10)
        # Timers fire through the daemon, EXECUTE from the client itself.
        by_arg = dict(s.fired())
        daemon = by_arg["ran-instead"]
        assert by_arg["direct"] != daemon
        time.sleep(3.5)  # past the cancelled timer's deadline
        assert s.run("LOWBATT").returncode == 0  # a 0 s timer marks "later"
        wait_for(lambda: len(s.fired()) == 3, timeout=10)
        assert sorted(a for a, _ in s.fired()[:2]) == ["direct", "ran-instead"]
        assert s.fired()[2][0] == "marker"
        assert s.fired()[-1][1] == daemon  # the same daemon all along
    finally:
        for _, pid in s.fired():
            _kill(pid)


def test_lines_nut_reads_past_still_run_the_rest(tmp_path: Path) -> None:
    """Issue 11: a broken AT line used to stop upssched, so no rule of the file
    ran. NUT's upssched reads past these lines; pnut's too, naming each, and runs
    the good rules (a timer of 'soon' is 0 s, as NUT's strtol reads it)."""
    s = Sched(tmp_path, "AT ONBATT * START-TIMER soon-timer soon\n"
                        "AT ONBATT * STOP-TIMER soon-timer\n"
                        "AT ONBATT\n"
                        "AT ONBAT * EXECUTE never\n"
                        "AT ONBATT * EXECUTE direct extra\n")
    try:
        r = s.run("ONBATT")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: len(s.fired()) == 2, timeout=10)
        assert sorted(a for a, _ in s.fired()) == ["direct", "soon-timer"]
        conf = f"{tmp_path}/upssched.conf"
        for line, warning in [
            (4, "AT ONBATT * START-TIMER: time 'soon' is read as 0 seconds, as NUT reads it"),
            (5, "unknown AT command 'STOP-TIMER' (did you mean 'START-TIMER'?): the line is "
                "ignored"),
            (6, "AT needs: AT <notifytype> <upsname|*> <command> <argument...>: the line is "
                "ignored"),
            (7, "unknown notify type 'ONBAT' (did you mean 'ONBATT'?): the line is ignored"),
            (8, "AT ONBATT * EXECUTE: takes 1 argument(s): the words after them are ignored, "
                "as NUT ignores them"),
        ]:
            assert f"{conf}:{line}: {warning}" in r.stderr, (line, r.stderr)
    finally:
        for _, pid in s.fired():
            _kill(pid)


def test_started_timer_fires_once(tmp_path: Path) -> None:
    s = Sched(tmp_path, "AT ONBATT * START-TIMER onbatt 1\n")
    try:
        start = time.monotonic()
        assert s.run("ONBATT").returncode == 0
        wait_for(lambda: s.fired(), timeout=10)
        assert time.monotonic() - start >= 1.0
        time.sleep(1.5)
        assert [a for a, _ in s.fired()] == ["onbatt"]
    finally:
        for _, pid in s.fired():
            _kill(pid)


def test_burst_of_50_starts_then_50_cancels_one_daemon(tmp_path: Path) -> None:
    """50 concurrent invocations start exactly one daemon and lose nothing.

    50 STARTs of one name, then 50 concurrent CANCELs: every CANCEL must
    find a timer (else it would run ``extra``), so all 50 STARTs reached the
    one daemon that answers on PIPEFN, and every CANCEL was applied once.
    """
    s = Sched(tmp_path, "AT ONBATT * START-TIMER t 120\n"
                        "AT ONLINE * CANCEL-TIMER t extra\n"
                        "AT LOWBATT * START-TIMER marker 0\n")
    pids: set[int] = set()
    try:
        with ThreadPoolExecutor(50) as pool:
            starts = list(pool.map(lambda i: s.run("ONBATT", f"ups{i}"), range(50)))
        assert [r.returncode for r in starts] == [0] * 50, [r.stderr for r in starts][:3]
        with ThreadPoolExecutor(50) as pool:
            cancels = list(pool.map(lambda i: s.run("ONLINE", f"ups{i}"), range(50)))
        assert [r.returncode for r in cancels] == [0] * 50
        assert s.run("LOWBATT").returncode == 0
        wait_for(lambda: s.fired(), timeout=10)
        pids = {pid for _, pid in s.fired()}
        time.sleep(0.5)
        assert [a for a, _ in s.fired()] == ["marker"]  # no CANCEL missed its timer
    finally:
        for pid in pids:
            _kill(pid)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_idle_daemon_exits_under_the_start_lock(tmp_path: Path) -> None:
    """The exit protocol, in process with a short idle time: no exit while a
    timer runs or while a client holds LOCKFN; then PIPEFN goes away."""
    Sched(tmp_path, "")
    conf = load_upssched_conf(tmp_path / "upssched.conf")
    log = logging.getLogger("test.upssched.idle")
    log.setLevel(logging.DEBUG)
    handler = _Records()
    records = handler.messages
    log.addHandler(handler)
    daemon = TimerDaemon(conf, log, idle_exit=0.3)
    thread = threading.Thread(target=lambda: asyncio.run(daemon.serve()), daemon=True)
    pipe = tmp_path / "pipe"
    try:
        with open(tmp_path / "lock", "a") as lock:  # as a client starting a daemon
            fcntl.flock(lock, fcntl.LOCK_EX)
            thread.start()
            wait_for(pipe.exists, timeout=5)
            send_request(conf, Start("t", 3600), log)
        time.sleep(0.8)  # the timer keeps it alive past idle_exit (load only widens this window)
        assert thread.is_alive() and pipe.exists()
        with open(tmp_path / "lock", "a") as lock:  # a client starting a daemon
            fcntl.flock(lock, fcntl.LOCK_EX)
            records.clear()  # the daemon may have tried to exit under the first lock
            send_request(conf, Cancel("t"), log)  # idle from now on, but the lock is held
            wait_for(lambda: any("holds the start lock" in r for r in records), timeout=10)
            assert thread.is_alive() and pipe.exists()
        thread.join(10)
        assert not thread.is_alive() and not pipe.exists()
        assert "Timer queue empty, exiting" in records
    finally:
        log.removeHandler(handler)
    send_request(conf, Cancel("t"), log)  # nothing to cancel: no daemon needed


def test_stale_socket_of_a_killed_daemon_is_recovered(tmp_path: Path) -> None:
    s = Sched(tmp_path, "AT ONBATT * START-TIMER marker 0\n")
    pids: list[int] = []
    try:
        assert s.run("ONBATT").returncode == 0
        wait_for(lambda: s.fired(), timeout=10)
        pids.append(s.daemon_pid())
        os.kill(pids[0], signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{pids[0]}").exists(), timeout=5)
        assert s.pipe.exists()  # left behind
        assert s.run("ONBATT").returncode == 0
        wait_for(lambda: len(s.fired()) == 2, timeout=10)
        pids.append(s.daemon_pid())
        assert pids[1] != pids[0]
    finally:
        for pid in pids:
            _kill(pid)


def test_without_environment_refuses(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("UPSNAME", "NOTIFYTYPE")}
    r = subprocess.run([sys.executable, "-m", "pnut", "upssched"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "UPSNAME and NOTIFYTYPE must be set" in r.stderr
