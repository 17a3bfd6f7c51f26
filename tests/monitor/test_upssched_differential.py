"""upssched, NUT 2.8.0's against pnut's: one upssched.conf, the same calls.

Each test writes one upssched.conf per implementation (CMDSCRIPT a shell
script that appends ``<wall time> <argument count> <arguments>`` to a file;
PIPEFN and LOCKFN in a short private temp dir), makes the same invocations
upsmon makes (UPSNAME and NOTIFYTYPE in the environment, the message as the
argument) against NUT's upssched and pnut's -- both halves at once, in two
threads -- and compares what CMDSCRIPT received, in order, and when (with
room for NUT's whole-second clock and a loaded machine).

Where NUT 2.8.0 is plainly wrong the test says so, holds pnut to its own
behaviour, and docs/compat.md (upssched) records the deviation.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from support import PNUT, needs, wait_for

NUT_UPSSCHED = shutil.which("upssched", path="/usr/sbin:/sbin")
pytestmark = needs(None if NUT_UPSSCHED else "NUT's upssched (Debian nut-client) not installed")

IMPLS = ("nut", "pnut")
#: Every process a half starts carries this in its environment (the daemons
#: too), so the test finds its own daemons, and only those, to end them.
MARK = "PNUT_UPSSCHED_DIFF"
T = TypeVar("T")


@dataclass(frozen=True)
class Fired:
    at: float  # wall-clock time the script ran
    argc: int
    args: str  # "$*"


class Half:
    """One implementation's upssched with its own config, script and files."""

    def __init__(self, impl: str, rules: str) -> None:
        self.impl = impl
        # Short: PIPEFN must fit a Unix socket address (108 bytes).
        self.dir = Path(tempfile.mkdtemp(prefix=f"us-{impl}-"))
        self.out = self.dir / "out"
        self.script = self.dir / "cmd.sh"
        self.script.write_text(
            "#!/bin/sh\n"
            'case "$1" in slow*) sleep 0.5 ;; esac\n'
            f'echo "$(date +%s.%N) $# $*" >> {self.out}\n')
        self.script.chmod(0o755)
        self.pipe = self.dir / "pipe"
        body = rules.replace("{script}", str(self.script)).replace("{dir}", str(self.dir))
        (self.dir / "upssched.conf").write_text(
            f"CMDSCRIPT {self.script}\nPIPEFN {self.pipe}\nLOCKFN {self.dir}/lock\n{body}")

    def run(self, event: str, ups: str = "ups1@localhost") -> subprocess.CompletedProcess[str]:
        argv = [NUT_UPSSCHED] if self.impl == "nut" else [*PNUT, "upssched"]
        env = dict(os.environ, NUT_CONFPATH=str(self.dir), UPSNAME=ups, NOTIFYTYPE=event)
        env[MARK] = str(self.dir)
        return subprocess.run([*argv, f"UPS {ups}: {event}"], env=env, capture_output=True,
                              errors="replace",  # NUT logs a reply buffer without its NUL
                              text=True, timeout=60)

    def fired(self) -> list[Fired]:
        if not self.out.exists():
            return []
        out = []
        for line in self.out.read_text().splitlines():
            at, argc, *args = line.split(" ", 2)
            out.append(Fired(float(at), int(argc), args[0] if args else ""))
        return out

    def args(self) -> list[str]:
        return [f.args for f in self.fired()]

    def daemons(self) -> list[int]:
        """PIDs of upssched processes started from this half (the daemons, once the
        invocations are over)."""
        mark = f"{MARK}={self.dir}".encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if (mark in (proc / "environ").read_bytes().split(b"\0")
                        and b"upssched" in (proc / "cmdline").read_bytes()
                        and (proc / "stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"):
                    pids.append(int(proc.name))
        return pids

    def close(self) -> None:
        for pid in self.daemons():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def halves(rules: str) -> Iterator[dict[str, Half]]:
    made = {impl: Half(impl, rules) for impl in IMPLS}
    try:
        yield made
    finally:
        for half in made.values():
            half.close()


def both(rules: str, scenario: Callable[[Half], T]) -> dict[str, T]:
    """Run ``scenario`` on NUT's half and pnut's at the same time."""
    with halves(rules) as made, ThreadPoolExecutor(len(made)) as pool:
        futures = {impl: pool.submit(scenario, half) for impl, half in made.items()}
        return {impl: future.result() for impl, future in futures.items()}


def same(got: dict[str, T], expected: T) -> None:
    """Both halves gave ``expected``."""
    if got != dict.fromkeys(IMPLS, expected):
        pytest.fail(f"expected {expected!r} from both, got {got!r}", pytrace=False)


def sleep_until(when: float) -> None:
    time.sleep(max(0.0, when - time.time()))


# -- cases ----------------------------------------------------------------------------


def test_timer_cancelled_before_it_is_due_never_fires() -> None:
    def scenario(h: Half) -> list[str]:
        start = time.time()
        assert h.run("ONBATT").returncode == 0
        assert h.pipe.exists(), "a timer daemon listens"
        assert h.run("ONLINE").returncode == 0  # well inside the 5 s (NUT: 4 to 5 s)
        sleep_until(start + 6.5)
        assert h.run("LOWBATT").returncode == 0
        return h.args()

    got = both("AT ONBATT * START-TIMER onbatt 5\n"
               "AT ONLINE * CANCEL-TIMER onbatt\n"
               "AT LOWBATT * EXECUTE marker\n", scenario)
    same(got, ["marker"])


def test_timer_fires_once_on_time() -> None:
    """NUT adds whole seconds to time(), so its 2 s timer fires 1 to 2 s (plus its
    checking pass) after the START; pnut's fires 2 s after it. The START happens
    while the invocation runs: the window is measured from its start to its end."""
    def scenario(h: Half) -> tuple[list[str], float, float]:
        start = time.time()
        assert h.run("ONBATT").returncode == 0
        returned = time.time()
        first = wait_for(h.fired, timeout=10)[0]
        time.sleep(1.5)
        return h.args(), first.at - start, first.at - returned

    got = both("AT ONBATT * START-TIMER onbatt 2\n", scenario)
    assert got["nut"][0] == got["pnut"][0] == ["onbatt"], got
    assert got["nut"][1] >= 0.9 and got["pnut"][1] >= 1.95, got
    assert got["nut"][2] <= 3.0 and got["pnut"][2] <= 3.0, got


def test_start_of_a_running_name_adds_a_second_timer_and_cancel_takes_the_oldest() -> None:
    """NUT's start_timer() appends to its list whatever the name; cancel_timer()
    removes the first of that name, i.e. the oldest."""
    def scenario(h: Half) -> tuple[list[str], float]:
        start = time.time()
        assert h.run("ONBATT").returncode == 0  # t, 8 s
        assert h.run("LOWBATT").returncode == 0  # t again, 1 s
        assert h.run("ONLINE").returncode == 0  # cancels one t: the 8 s one
        first = wait_for(h.fired, timeout=8)[0]
        assert h.run("COMMBAD").returncode == 0  # d, 1 s
        assert h.run("COMMBAD").returncode == 0  # d again: both run
        wait_for(lambda: len(h.fired()) >= 3, timeout=8)
        sleep_until(start + 9.5)  # past the cancelled 8 s timer
        return h.args(), first.at - start

    got = both("AT ONBATT * START-TIMER t 8\n"
               "AT LOWBATT * START-TIMER t 1\n"
               "AT ONLINE * CANCEL-TIMER t\n"
               "AT COMMBAD * START-TIMER d 1\n", scenario)
    assert got["nut"][0] == got["pnut"][0] == ["t", "d", "d"], got
    # The 1 s timer survived, the 8 s one was cancelled.
    assert got["nut"][1] < 6 and got["pnut"][1] < 6, got


def test_at_lines_match_the_wildcard_and_the_exact_ups_name() -> None:
    def scenario(h: Half) -> list[str]:
        assert h.run("ONBATT", "ups1@localhost").returncode == 0
        assert h.run("ONBATT", "ups2@localhost").returncode == 0
        return h.args()

    got = both("AT ONBATT * EXECUTE any\n"
               "AT ONBATT ups1@localhost EXECUTE one\n"
               "AT ONBATT ups2@localhost EXECUTE two\n"
               "AT ONBATT UPS1@localhost EXECUTE upper-case-name\n"
               "AT ONBATT ups1 EXECUTE without-host\n"
               "AT onbatt ups1@localhost EXECUTE lower-case-event\n"
               "AT ONLINE * EXECUTE other-event\n", scenario)
    same(got, ["any", "one", "lower-case-event", "any", "two"])


def test_execute_runs_at_once_and_a_cancel_needs_a_daemon_only_with_a_command() -> None:
    """EXECUTE runs in the invocation, done when it returns, no daemon started; a
    CANCEL-TIMER without a command finds no daemon and starts none; with one, it
    starts a daemon, which finds no timer and runs the command before its OK.
    (NUT's daemon then exits at once, its queue empty; pnut's stays 15 s.)"""
    def scenario(h: Half) -> list[object]:
        seen: list[object] = []
        assert h.run("ONBATT").returncode == 0
        seen += [h.args(), h.pipe.exists(), len(h.daemons())]
        assert h.run("ONLINE").returncode == 0
        seen += [h.args(), h.pipe.exists(), len(h.daemons())]
        assert h.run("COMMBAD").returncode == 0
        seen += [h.args()]
        return seen

    got = both("AT ONBATT * EXECUTE now\n"
               "AT ONLINE * CANCEL-TIMER none\n"
               "AT COMMBAD * CANCEL-TIMER none back\n", scenario)
    same(got, [["now"], False, 0, ["now"], False, 0, ["now", "back"]])


def test_several_at_lines_run_in_file_order() -> None:
    """NUT's daemon runs a CANCEL-TIMER's command (no timer to cancel) before it
    answers OK, so the client's next AT line waits for it; EXECUTE runs in the
    client, to its end. A ``slow*`` argument makes the script sleep 0.5 s first."""
    def scenario(h: Half) -> list[list[str]]:
        # A daemon already runs (see test_a_daemon_that_exits_at_once_* for why).
        assert h.run("LOWBATT").returncode == 0
        assert h.run("ONLINE").returncode == 0
        after_online = h.args()
        assert h.run("ONBATT").returncode == 0
        return [after_online, h.args()]

    got = both("AT LOWBATT * START-TIMER keep 30\n"
               "AT ONLINE * EXECUTE first\n"
               "AT ONLINE * CANCEL-TIMER none slow-back\n"
               "AT ONLINE * EXECUTE last\n"
               "AT ONBATT * EXECUTE slow-a\n"
               "AT ONBATT * CANCEL-TIMER none slow-b\n"
               "AT ONBATT * EXECUTE c\n", scenario)
    online = ["first", "slow-back", "last"]
    same(got, [online, [*online, "slow-a", "slow-b", "c"]])


def test_burst_at_the_same_moment_starts_one_daemon_and_loses_nothing() -> None:
    """16 STARTs of one name at once from a cold start, then 16 CANCELs at once:
    each CANCEL must find a timer (else it runs ``back``), and one daemon serves
    them all.

    NUT 2.8.0 is not held to this: a client that fails to create LOCKFN deletes it
    and retries, so a third can take the lock while the first daemon starts and
    start a second daemon, which unlinks the first one's socket and takes over
    PIPEFN; the timers queued in the first are then out of reach of every CANCEL
    (docs/compat.md, start/exit serialisation)."""
    n = 16

    def scenario(h: Half) -> tuple[list[str], int, list[int]]:
        with ThreadPoolExecutor(n) as pool:
            starts = list(pool.map(lambda i: h.run("ONBATT", f"ups{i}@localhost"), range(n)))
            cancels = list(pool.map(lambda i: h.run("ONLINE", f"ups{i}@localhost"), range(n)))
        time.sleep(0.5)
        codes = [r.returncode for r in starts + cancels]
        return h.args(), len(h.daemons()), codes

    got = both("AT ONBATT * START-TIMER t 60\n"
               "AT ONLINE * CANCEL-TIMER t back\n", scenario)
    args, daemons, codes = got["pnut"]
    assert (args, daemons, codes) == ([], 1, [0] * 2 * n)
    nut_args, nut_daemons, _ = got["nut"]
    # Whatever NUT did is reported, not asserted (it varies from run to run).
    print(f"NUT 2.8.0, burst of {n}: CMDSCRIPT got {nut_args}, {nut_daemons} daemon(s) left")


def test_idle_daemon_exits_and_the_next_start_makes_a_new_one() -> None:
    """NUT's daemon exits once its queue has been empty for 15 passes of its loop;
    pnut's after 15 s without timers. Either way the next START starts a fresh one
    and its timer fires."""
    def scenario(h: Half) -> tuple[list[str], bool]:
        assert h.run("ONBATT").returncode == 0
        first = h.daemons()  # while its timer runs (NUT's: 1 to 2 s)
        wait_for(h.fired, timeout=8)
        wait_for(lambda: not h.pipe.exists() and not h.daemons(), timeout=25, interval=0.2)
        assert h.run("ONLINE").returncode == 0
        second = h.daemons()
        wait_for(lambda: len(h.fired()) == 2, timeout=8)
        return h.args(), bool(first) and bool(second) and not set(first) & set(second)

    got = both("AT ONBATT * START-TIMER t 2\n"
               "AT ONLINE * START-TIMER u 2\n", scenario)
    same(got, (["t", "u"], True))


def test_odd_lines_nut_accepts() -> None:
    """Comments, blank lines, tabs, quotes, escapes, a continued line, words
    where NUT's parser splits (``=``), lines NUT 2.8.0 calls invalid directives
    (unknown keyword, lower-case ``at``, DEBUG_MIN, which is 2.8.1's) and words
    NUT does not read: each line means to pnut what it means to NUT."""
    def scenario(h: Half) -> list[str]:
        assert h.run("ONBATT").returncode == 0
        assert h.run("ONLINE").returncode == 0  # a timer of "1x": strtol reads 1
        wait_for(lambda: "t" in h.args(), timeout=8)
        time.sleep(0.3)
        return h.args()

    got = both("# a comment\n"
               "   # an indented one\n"
               "\n"
               "AT ONBATT * EXECUTE plain   # a comment after the words\n"
               'AT ONBATT "*" EXECUTE "quoted"\n'
               "AT\tONBATT\t*\tEXECUTE\ttabs\n"
               "AT ONBATT * EXECUTE esc\\#aped\n"
               "FOO bar\n"
               "at ONBATT * EXECUTE lower-case-at\n"
               "DEBUG_MIN 1\n"
               "AT ONBATT * EXECUTE extra words after it\n"
               "AT ONBATT * EXECUTE key=value\n"
               'AT ONBATT * EXECUTE ""\n'
               "AT ONBATT * EXECUTE cont\\\n"
               "inued\n"
               "AT ONBATT * EXECUTE last\r\n"
               "AT ONLINE * START-TIMER t 1x\n", scenario)
    same(got, ["plain", "quoted", "tabs", "esc#aped", "extra", "key", "continued", "last", "t"])


def test_cmdscript_given_again_between_at_lines() -> None:
    """NUT acts on each AT line as it reads the file, with the CMDSCRIPT (and
    PIPEFN, LOCKFN) set so far; a daemon keeps the CMDSCRIPT of the line that
    started it."""
    def scenario(h: Half) -> list[str]:
        assert h.run("ONBATT").returncode == 0
        assert h.run("ONLINE").returncode == 0
        wait_for(lambda: len(h.fired()) >= 3, timeout=8)
        return h.args()

    got = both("AT ONBATT * EXECUTE one\n"
               'CMDSCRIPT "{script} again"\n'
               "AT ONBATT * EXECUTE two\n"
               "AT ONLINE * START-TIMER t 0\n", scenario)
    same(got, ["one", "again two", "again t"])


def test_arguments_are_one_word_unlike_nut() -> None:
    """Deviation (docs/compat.md): NUT pastes the timer name or EXECUTE argument
    unquoted into ``system()``, so the shell splits it (and would run whatever
    shell syntax it holds); pnut passes it as one word, as upssched.conf(5)
    describes it."""
    def scenario(h: Half) -> list[tuple[int, str]]:
        assert h.run("ONBATT").returncode == 0
        return [(f.argc, f.args) for f in h.fired()]

    got = both('AT ONBATT * EXECUTE "two words"\n', scenario)
    assert got["nut"] == [(2, "two words")]
    assert got["pnut"] == [(1, "two words")]


def test_start_timer_without_its_time_stops_nut_but_not_pnut() -> None:
    """Deviation (docs/compat.md): NUT 2.8.0's client sends ``START "t"``, its
    daemon answers ERR UNKNOWN, and after 30 tries the client exits 1, so no AT
    line after this one runs. pnut warns, ignores the line and runs the rest."""
    def scenario(h: Half) -> tuple[int, list[str]]:
        r = h.run("ONBATT")
        return r.returncode, h.args()

    got = both("AT ONBATT * EXECUTE before\n"
               "AT ONBATT * START-TIMER t\n"
               "AT ONBATT * EXECUTE after\n", scenario)
    assert got["nut"] == (1, ["before"])
    assert got["pnut"] == (0, ["before", "after"])


def test_a_daemon_that_exits_at_once_makes_nut_run_the_next_lines_twice() -> None:
    """Deviation (docs/compat.md): NUT 2.8.0's client forks the timer daemon while
    it reads upssched.conf through stdio. A daemon with nothing left to do (a
    CANCEL-TIMER that found no timer, a timer of 0 s that fired) exits at once,
    and glibc's exit() sets the file offset it shares with the client back to
    where the client was reading: the client reads the rest of the file again
    and runs the AT lines after that one twice (how often depends on timing).
    pnut runs each matching line once."""
    def scenario(h: Half) -> list[str]:
        assert h.run("ONBATT").returncode == 0
        return h.args()

    got = both("AT ONBATT * EXECUTE before\n"
               "AT ONBATT * CANCEL-TIMER none back\n"
               "AT ONBATT * EXECUTE after1\n"
               "AT ONBATT * EXECUTE after2\n", scenario)
    once = ["before", "back", "after1", "after2"]
    assert got["pnut"] == once, got
    assert got["nut"] in (once, [*once, "after1", "after2"]), got


@pytest.mark.parametrize("impl", IMPLS)
def test_the_halves_are_what_they_say(impl: str) -> None:
    """The harness itself: each half runs its own binary (a daemon of the right
    kind answers on PIPEFN)."""
    with halves("AT ONBATT * START-TIMER t 30\n") as made:
        h = made[impl]
        assert h.run("ONBATT").returncode == 0
        daemons = h.daemons()
        assert len(daemons) == 1
        cmdline = Path(f"/proc/{daemons[0]}/cmdline").read_bytes()
        assert (b"pnut" in cmdline) == (impl == "pnut"), cmdline
