"""Everything at once: upsd under a crowd of attackers while honest clients work.

The attackers (abuse_attacker.py, a separate process) open 2000 connections
at once and hold them, push 400 more from one address (beyond
MAXCONN_PER_ADDRESS), trickle bytes slowloris-style, blast random bytes,
send megabyte lines, brute-force a password and ask for replies they never
read, each from its own loopback address.  Meanwhile, from 127.0.0.1, one
honest client polls GET VAR and LIST VAR and must get every answer, correct
and complete, within a second; a second one changes a variable with SET VAR
and the poller must see each new value.  Bounded: about 20 s.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pnut.client import Client
from support import Stack, Ups, wait_for

#: An honest answer's latency under attack is the point: alone, after the parallel part.
pytestmark = pytest.mark.serial

HERE = Path(__file__).resolve().parent
DEV = "ups.status: OL\nups.load: 10\nbattery.charge: 100\n" + "".join(
    f"ups.test.var{i}: value {i}\n" for i in range(40))
USERS = "[admin]\n  password = adminpw\n  actions = SET\n"
CONF = ("LIMIT_LOOPBACK yes\nMAXCONN_PER_ADDRESS 256\nLINE_TIMEOUT 2\n"
        "MAX_LOGIN_FAILURES 10\n")
SECONDS = 15.0


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_honest_clients_are_served_through_an_attack() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # upsd inherits it
    with Stack([Ups("u", DEV)], users=USERS, upsd_conf=CONF) as st:
        st.start(upsd="pnut", driver="pnut")
        upsd = next(p for p in st.procs if "upsd" in str(p.args))
        attacker = subprocess.Popen(
            [sys.executable, str(HERE / "abuse_attacker.py"), str(st.port), str(SECONDS)],
            stdout=subprocess.PIPE, text=True)
        try:
            assert attacker.stdout is not None
            assert attacker.stdout.readline().strip() == "STARTED"
            wait_for(lambda: _fds(upsd.pid) > 1500, timeout=10)  # the flood is in
            worst, polls, changes = _honest_work(st.port, time.monotonic() + SECONDS - 3)
            out, _ = attacker.communicate(timeout=60)
        finally:
            if attacker.poll() is None:
                attacker.kill()
                attacker.wait()
        counts = json.loads(out.strip().splitlines()[-1])
        log = st.log_text()
        assert upsd.poll() is None, log[-3000:]
        assert worst < 1.0, f"an honest answer took {worst:.2f} s; attack: {counts}"
        assert polls > 50 and changes >= 5, (polls, changes)
        assert counts.get("flood_served", 0) >= 1990, counts
        assert counts.get("flood_lost", 0) == 0 and counts.get("flood_error", 0) == 0, counts
        assert counts.get("extra_served", 0) <= 256 <= counts["extra_served"] + 10, counts
        assert counts.get("extra_refused", 0) + counts.get("extra_error", 0) >= 130, counts
        assert counts.get("slow_dropped") == 50, counts
        assert counts.get("slow_dropped_after_ms", 99_999) < 6000, counts
        assert counts.get("long_answered", 0) >= 1 and "long_bad_reply" not in counts, counts
        assert counts.get("brute_denied", 0) >= 10 and "brute_other" not in counts, counts
        assert counts.get("random_kib", 0) > 1000, counts
        assert "Too many failed logins from 127.0.0.14" in log
        assert "MAXCONN_PER_ADDRESS (256) reached for 127.0.0.10" in log
        assert "Dropping client 127.0.0.15: not reading its replies" in log
        assert "internal error" not in log and "Traceback" not in log
        wait_for(lambda: _fds(upsd.pid) < 50, timeout=15)  # everything given back


def _honest_work(port: int, until: float) -> tuple[float, int, int]:
    """Poll and SET until ``until``; the slowest answer, polls done, values seen."""
    worst = 0.0
    polls = changes = 0
    with Client("127.0.0.1", port, timeout=5) as poller, \
            Client("127.0.0.1", port, timeout=5) as admin:
        admin.authenticate("admin", "adminpw")
        wanted = 10
        seen_at = time.monotonic()
        while time.monotonic() < until:
            started = time.monotonic()
            load = poller.get_var("u", "ups.load")
            variables = poller.list_var("u")
            worst = max(worst, time.monotonic() - started)
            assert len(variables) >= 43 and variables["ups.test.var39"] == "value 39"
            polls += 1
            if load == str(wanted):
                changes += 1
                wanted += 1
                started = time.monotonic()
                admin.set_var("u", "ups.load", str(wanted))
                worst = max(worst, time.monotonic() - started)
                seen_at = time.monotonic()
            else:
                assert time.monotonic() - seen_at < 5, f"SET ups.load {wanted} never showed"
            time.sleep(0.05)
    return worst, polls, changes
