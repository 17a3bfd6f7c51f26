"""upsmon next to NUT 2.8.0's: same upsd, same upsmon.conf, same steps, same outcome.

Each scenario runs twice (``impl`` is ``nut`` or ``pnut``): pnut's upsd and
dummy-ups serve one or two UPSes whose status the test changes, and one
upsmon — NUT's C program or pnut's — watches them with the same
upsmon.conf.  The test asserts one outcome for both runs: which
notifications NOTIFYCMD got after each step (type, UPSNAME and message),
whether and when SHUTDOWNCMD ran, whether POWERDOWNFLAG was written, what
upsd's ``ups.status`` ended as.  The ``nut`` run proves the expectation is
NUT's behaviour, the ``pnut`` run that pnut behaves so.  Where pnut keeps a
deliberate deviation (docs/compat.md), the test says so and asserts each
side's behaviour.

Notifications of one step may reach NOTIFYCMD in any order (both upsmons
start a child per event), so each step compares them as a multiset; times
are compared with a tolerance of a poll or two.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import pytest
from monitors import USERS, Cluster, Link, Node

from conftest import requires_nut
from support import NUT_LIBDIR, PNUT, Stack, Ups, run, wait_for

DEV = "ups.status: OL\nbattery.charge: 100\n"
#: How long a step waits, once its notifications came, for any extra one
#: (POLLFREQ is 1 s: more than a poll cycle).
SETTLE = 1.4


@pytest.fixture(params=[pytest.param("nut", marks=requires_nut), "pnut"])
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def cluster(upses: tuple[str, ...] = ("ups",), upsd_conf: str = "",
            dev: str = DEV) -> Iterator[Cluster]:
    st = Stack([Ups(u, dev, extra={"pollinterval": "1"}) for u in upses], users=USERS,
               upsd_conf=upsd_conf)
    try:
        st.start(upsd="pnut", driver="pnut")
        yield Cluster(st)
    finally:
        for proc in st.procs:  # a driver a test stopped must see the SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
        st.close()


@dataclass(frozen=True)
class Note:
    type: str
    ups: str
    message: str
    time: float


class Watched:
    """One upsmon under test, and what its NOTIFYCMD received, step by step."""

    def __init__(self, c: Cluster, impl: str, name: str, monitors: list[str], *,
                 settings: dict[str, str] | None = None, extra: str = "") -> None:
        self.c, self.impl = c, impl
        self.node: Node = c.node(name, monitors, impl=impl, settings=settings, extra=extra,
                                 start=False)
        self.notes_path = self.node.dir / "notes"
        stamp = "$(date +%s.%N)"
        # $1 is the message (NUT: NOTIFYCMD "<message>"); the events line keeps
        # Cluster's record (SHUTDOWNCMD writes there too).
        (self.node.dir / "notify.sh").write_text(
            "#!/bin/sh\n"
            f'printf "%s\\t%s\\t%s\\t%s\\n" "$NOTIFYTYPE" "$UPSNAME" "$1" "{stamp}"'
            f" >> {self.notes_path}\n"
            f'echo "{name} notify $NOTIFYTYPE {stamp}" >> {c.events.path}\n')
        c.start(self.node, impl=impl)
        self.seen = 0

    @property
    def pid(self) -> int:
        return self.node.pid

    def notes(self) -> list[Note]:
        if not self.notes_path.exists():
            return []
        out = []
        for line in self.notes_path.read_text().splitlines():
            kind, ups, message, stamp = line.split("\t")
            out.append(Note(kind, ups, message, float(stamp)))
        return out

    def step(self, *expected: str, settle: float = SETTLE, timeout: float = 15) -> list[Note]:
        """Wait for the notifications ``expected`` (in any order) since the last
        step, then ``settle`` seconds for any unexpected one; return them."""
        want = Counter(expected)

        def arrived() -> bool:
            got = Counter(n.type for n in self.notes()[self.seen:])
            return all(got[k] >= v for k, v in want.items())

        try:
            wait_for(arrived, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"{self.impl}: waited for {sorted(expected)}, got "
                        f"{[n.type for n in self.notes()[self.seen:]]}\n{self.c.dump()}")
        time.sleep(settle)
        new = self.notes()[self.seen:]
        self.seen += len(new)
        assert Counter(n.type for n in new) == want, (self.impl, new, self.c.dump())
        return new

    def running(self) -> bool:
        return self.node.running()

    def exits(self, timeout: float = 20) -> float:
        """Wait for upsmon to end (status 0) after SHUTDOWNCMD; the time it ran."""
        assert self.c.wait_exit(self.node, timeout) == 0, self.c.dump()
        t = self.c.events.shutdown_time(self.node.name)
        assert t is not None, self.c.dump()
        assert len(self.c.events.of(self.node.name, "shutdown")) == 1
        return t

    def stop(self) -> None:
        self.c.stack.stop(self.node.proc)  # type: ignore[arg-type]


def mon(c: Cluster, ups: str, role: str = "primary", pv: int = 1, port: int | None = None) -> str:
    user = "admin adminpw" if role == "primary" else "mon monpw"
    return f"{ups}@127.0.0.1:{port or c.stack.port} {pv} {user} {role}"


def logged_in(c: Cluster, ups: str, n: int = 1) -> None:
    wait_for(lambda: c.numlogins(ups) == n, timeout=20)


def set_fsd(c: Cluster, ups: str) -> None:
    """What a primary upsmon elsewhere does: ``FSD <ups>`` on upsd."""
    reply = c.stack.talk(["USERNAME admin", "PASSWORD adminpw", f"FSD {ups}"])
    assert reply[-1] == "OK FSD-SET", reply


def driver(c: Cluster, ups: str) -> subprocess.Popen[bytes]:
    return next(p for p in c.stack.procs
                if "driver" in p.args and ups in p.args)  # type: ignore[operator]


def user_fsd(impl: str, pid: int) -> None:
    """``upsmon -c fsd`` to the running process (-P: NUT's PID file is private)."""
    argv = ([str(NUT_LIBDIR / "upsmon")] if impl == "nut" else [*PNUT, "upsmon"])
    done = run([*argv, "-c", "fsd", "-P", str(pid)])
    assert done.returncode == 0, done


class FakeSecondary:
    """A secondary upsmon as upsd counts it: logged in to the UPS until told."""

    def __init__(self, port: int, ups: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rwb")
        for line in ("USERNAME mon", "PASSWORD monpw", f"LOGIN {ups}"):
            self.file.write(line.encode() + b"\n")
            self.file.flush()
            assert self.file.readline().startswith(b"OK")

    def logout(self) -> float:
        self.file.write(b"LOGOUT\n")
        self.file.flush()
        self.file.readline()
        self.file.close()
        self.sock.close()
        return time.time()


# -- user FSD and a secondary's shutdown ----------------------------------------------


def test_fsd_command_on_a_primary_waits_for_the_secondaries(impl: str) -> None:
    """``upsmon -c fsd`` with power present: FSD on the UPS at once, then the
    primary waits (HOSTSYNC 10) for the secondary to log out; SHUTDOWN is
    notified only then, SHUTDOWNCMD runs FINALDELAY later, the flag is written."""
    with cluster() as c:
        w = Watched(c, impl, "primary", [mon(c, "ups")], settings={"HOSTSYNC": "10"})
        logged_in(c, "ups")
        fake = FakeSecondary(c.stack.port, "ups")
        user_fsd(impl, w.pid)
        wait_for(lambda: c.status("ups") == "FSD OL", timeout=10)
        time.sleep(1.5)
        assert w.running() and w.notes() == [], c.dump()
        t_out = fake.logout()
        [note] = w.step("SHUTDOWN", settle=0)
        assert (note.ups, note.message) == ("", "Auto logout and shutdown proceeding")
        t_down = w.exits()
        assert 0.8 <= t_down - t_out <= 4.0, c.dump()  # FINALDELAY 1 after the logout
        assert c.flag(w.node).read_bytes() == b"upsmon-shutdown-file"
        assert [r.what for r in c.events.of("primary", "upsmon-K")] == ["0"]


def test_secondary_shuts_down_at_once_on_fsd(impl: str) -> None:
    """A secondary seeing FSD: FSD and SHUTDOWN in the same poll, SHUTDOWNCMD
    FINALDELAY later; a POWERDOWNFLAG configured on a secondary is written too."""
    with cluster() as c:
        flag = c.stack.dir / "mon-secondary" / "killpower"
        w = Watched(c, impl, "secondary", [mon(c, "ups", "secondary")],
                    settings={"HOSTSYNC": "30", "FINALDELAY": "2"},
                    extra=f"POWERDOWNFLAG {flag}\n")
        logged_in(c, "ups")
        c.set_status("ups", "OB")
        [onbatt] = w.step("ONBATT")
        assert onbatt.message == f"UPS ups@127.0.0.1:{c.stack.port} on battery"
        t_fsd = time.time()
        set_fsd(c, "ups")
        notes = w.step("FSD", "SHUTDOWN", settle=0)
        assert all(n.time - t_fsd < 2.5 for n in notes), notes
        t_down = w.exits()
        assert 1.8 <= t_down - t_fsd <= 5.0, c.dump()
        assert flag.read_bytes() == b"upsmon-shutdown-file"
        assert c.status("ups") == "FSD OB"


def test_secondary_gives_up_on_the_primary_after_hostsync(impl: str) -> None:
    """OB+LB and no primary setting FSD: a secondary waits HOSTSYNC (3 s) from
    the first poll that saw it, then shuts down; it never sets FSD itself."""
    with cluster() as c:
        w = Watched(c, impl, "secondary", [mon(c, "ups", "secondary")],
                    settings={"HOSTSYNC": "3", "FINALDELAY": "0"})
        logged_in(c, "ups")
        t_lb = time.time()
        c.set_status("ups", "OB LB")
        w.step("ONBATT", "LOWBATT", settle=0.5)
        assert w.running()
        w.step("SHUTDOWN", settle=0)
        t_down = w.exits()
        assert 3.0 <= t_down - t_lb <= 7.0, c.dump()
        assert c.status("ups") == "OB LB"


# -- battery replacement, lost data ---------------------------------------------------


def test_replbatt_repeats_every_rbwarntime_while_rb_lasts(impl: str) -> None:
    with cluster() as c:
        w = Watched(c, impl, "primary", [mon(c, "ups")], settings={"RBWARNTIME": "2"})
        logged_in(c, "ups")
        c.set_status("ups", "OL RB")
        wait_for(lambda: w.notes(), timeout=10)
        time.sleep(3.5)
        c.set_status("ups", "OL")
        time.sleep(SETTLE)
        notes = w.notes()
        assert {n.type for n in notes} == {"REPLBATT"}, notes
        assert 2 <= len(notes) <= 3, notes  # at 0, after > 2 s, perhaps after > 4 s
        gaps = [b.time - a.time for a, b in pairwise(notes)]
        assert all(g > 1.9 for g in gaps), gaps
        assert notes[0].message == f"UPS ups@127.0.0.1:{c.stack.port} battery needs to be replaced"
        time.sleep(1.5)  # RB gone: no more
        assert len(w.notes()) == len(notes) and w.running()


def test_stale_data_on_line_commbad_nocomm_repeats_then_commok(impl: str) -> None:
    """The driver stops answering (upsd: DATA-STALE): COMMBAD, NOCOMM once
    NOCOMMWARNTIME (2 s) passed since the last good poll and again every
    2 s; data back: COMMOK, no ONLINE, nothing else, no shutdown."""
    with cluster(upsd_conf="MAXAGE 2\n") as c:
        w = Watched(c, impl, "primary", [mon(c, "ups")],
                    settings={"NOCOMMWARNTIME": "2", "DEADTIME": "3"})
        logged_in(c, "ups")
        drv = driver(c, "ups")
        os.kill(drv.pid, signal.SIGSTOP)
        w.step("COMMBAD", settle=0, timeout=20)
        time.sleep(4.2)
        nocomm = w.notes()[w.seen:]
        w.seen += len(nocomm)
        assert {n.type for n in nocomm} == {"NOCOMM"} and 2 <= len(nocomm) <= 3, nocomm
        gaps = [b.time - a.time for a, b in pairwise(nocomm)]
        assert all(g > 1.9 for g in gaps), gaps
        assert nocomm[0].message == f"UPS ups@127.0.0.1:{c.stack.port} is unavailable"
        os.kill(drv.pid, signal.SIGCONT)
        w.step("COMMOK", timeout=20)
        assert w.running() and c.events.shutdown_time("primary") is None


def test_stale_data_on_battery_primary_shuts_down_after_deadtime(impl: str) -> None:
    """On battery, then the driver goes silent: after DEADTIME (3 s) without a
    good poll the UPS counts as OB+LB (no LOWBATT notification) and the
    primary shuts down."""
    with cluster(upsd_conf="MAXAGE 2\n") as c:
        w = Watched(c, impl, "primary", [mon(c, "ups")],
                    settings={"DEADTIME": "3", "FINALDELAY": "0"})
        logged_in(c, "ups")
        c.set_status("ups", "OB")
        w.step("ONBATT", settle=0.5)
        os.kill(driver(c, "ups").pid, signal.SIGSTOP)
        [bad] = w.step("COMMBAD", settle=0, timeout=20)
        w.step("SHUTDOWN", settle=0)
        t_down = w.exits()
        # DEADTIME counts from the last good poll, about a poll before COMMBAD.
        assert 1.0 <= t_down - bad.time <= 5.0, c.dump()
        assert c.flag(w.node).read_bytes() == b"upsmon-shutdown-file"


# -- notification settings ---------------------------------------------------------


def test_notifyflag_and_notifymsg(impl: str) -> None:
    """IGNORE (even with EXEC), SYSLOG only, an empty flag word (ignored), and
    messages with %s as printf reads it (flags, width, precision), %% and none."""
    extra = ('NOTIFYMSG ONBATT "on battery: [%-30.12s] 100%% sure"\n'
             'NOTIFYMSG lowbatt "low battery, 100% sure"\n'
             'NOTIFYMSG SHUTDOWN "bye%s."\n'
             "NOTIFYFLAG ONLINE EXEC+IGNORE\n"
             "NOTIFYFLAG LOWBATT SYSLOG\n"
             "NOTIFYFLAG SHUTDOWN SYSLOG+EXEC+\n")
    with cluster() as c:
        system = f"ups@127.0.0.1:{c.stack.port}"
        w = Watched(c, impl, "primary", [mon(c, "ups")], extra=extra)
        logged_in(c, "ups")
        c.set_status("ups", "OB")
        [note] = w.step("ONBATT")
        assert (note.ups, note.message) == (system, f"on battery: [{system[:12]:<30}] 100% sure")
        c.set_status("ups", "OL")
        w.step()  # ONLINE: ignored
        c.set_status("ups", "OB LB")
        [_, shutdown] = sorted(w.step("ONBATT", "SHUTDOWN", settle=0), key=lambda n: n.type)
        assert (shutdown.ups, shutdown.message) == ("", "bye.")
        w.exits()
        # SYSLOG only: upsmon's log, where "% s" (printf's space flag) took the name
        assert f"low battery, 100{system}ure" in w.node.log_text()


# -- several UPSes, power values ------------------------------------------------------


def test_minsupplies_two_one_critical_ups_of_two_shuts_down(impl: str) -> None:
    """MINSUPPLIES 2 with two UPSes of power 1: one critical is enough; FSD
    goes to both UPSes this upsmon is primary for."""
    with cluster(("ups", "ups2")) as c:
        w = Watched(c, impl, "primary", [mon(c, "ups"), mon(c, "ups2")],
                    extra="MINSUPPLIES 2\n")
        logged_in(c, "ups")
        logged_in(c, "ups2")
        c.set_status("ups2", "OB LB")
        notes = w.step("ONBATT", "LOWBATT", "SHUTDOWN", settle=0)
        assert {n.ups for n in notes} == {f"ups2@127.0.0.1:{c.stack.port}", ""}
        w.exits()
        assert (c.status("ups"), c.status("ups2")) == ("FSD OL", "FSD OB LB")


def test_monitor_only_ups_never_counts(impl: str) -> None:
    """Power value 0 (monitor only) next to one of power 1, MINSUPPLIES 1: the
    monitored UPS going critical changes nothing; the powering one does, and
    then FSD goes to both (primary for both)."""
    with cluster(("ups", "ups2")) as c:
        w = Watched(c, impl, "primary", [mon(c, "ups"), mon(c, "ups2", pv=0)])
        logged_in(c, "ups")
        logged_in(c, "ups2")
        c.set_status("ups2", "OB LB")
        w.step("ONBATT", "LOWBATT", settle=1.8)
        assert w.running() and "FSD" not in c.status("ups2")
        c.set_status("ups", "OB LB")
        notes = w.step("ONBATT", "LOWBATT", "SHUTDOWN", settle=0)
        assert {n.ups for n in notes} == {f"ups@127.0.0.1:{c.stack.port}", ""}
        w.exits()
        assert (c.status("ups"), c.status("ups2")) == ("FSD OB LB", "FSD OB LB")


def test_minsupplies_zero_only_monitors(impl: str) -> None:
    """MINSUPPLIES 0: OB+LB and even FSD on the UPS shut nothing down."""
    with cluster() as c:
        w = Watched(c, impl, "primary", [mon(c, "ups")], extra="MINSUPPLIES 0\n")
        logged_in(c, "ups")
        c.set_status("ups", "OB LB")
        w.step("ONBATT", "LOWBATT")
        assert c.status("ups") == "OB LB"  # no FSD from this primary
        set_fsd(c, "ups")
        w.step("FSD", settle=1.8)
        assert w.running() and c.events.shutdown_time("primary") is None


# -- status words -------------------------------------------------------------------


def test_status_words_nut_2_8_0_does_not_notify(impl: str) -> None:
    """BYPASS, TRIM, BOOST, OVER, OFF, ALARM, CHRG: NUT 2.8.0's upsmon raises
    nothing for them (OFF etc. are events of later releases)."""
    with cluster() as c:
        w = Watched(c, impl, "primary", [mon(c, "ups")])
        logged_in(c, "ups")
        for status in ("OL BYPASS TRIM OVER", "OFF", "OL BOOST CHRG ALARM"):
            c.set_status("ups", status)
            time.sleep(1.1)
        w.step()
        c.set_status("ups", "OB DISCHRG")  # still watching
        w.step("ONBATT", settle=0)
        assert w.running()


def test_calibration(impl: str) -> None:
    """CAL is notified, and OB+LB while calibrating is not critical.  When CAL
    leaves the status NUT 2.8.0 never forgets it (a deviation pnut does not
    copy, docs/compat.md): the same OB+LB then shuts pnut's primary down and
    leaves NUT's running."""
    with cluster() as c:
        w = Watched(c, impl, "primary", [mon(c, "ups")], settings={"FINALDELAY": "0"})
        logged_in(c, "ups")
        c.set_status("ups", "OL CAL")
        [cal] = w.step("CAL")
        assert cal.message == f"UPS ups@127.0.0.1:{c.stack.port}: calibration in progress"
        c.set_status("ups", "OB LB CAL")
        w.step("ONBATT", "LOWBATT", settle=1.5)
        assert w.running()
        c.set_status("ups", "OB LB")
        if impl == "nut":  # NUT 2.8.0: still "calibrating", never critical again
            w.step(settle=2.5)
            assert w.running() and "FSD" not in c.status("ups")
        else:
            w.step("SHUTDOWN", settle=0)
            w.exits()
            assert c.status("ups") == "FSD OB LB"


def test_pollfreq_from_the_start(impl: str) -> None:
    """POLLFREQ 1 and a UPS reporting neither OL nor OB: pnut polls every
    second; NUT 2.8.0 sleeps its built-in 5 s until some UPS first reports
    OL or OB (a deviation pnut does not copy, docs/compat.md)."""
    with cluster(dev="ups.status: OFF\nbattery.charge: 100\n") as c:
        link = Link(c.stack.port)
        try:
            Watched(c, impl, "primary", [mon(c, "ups", port=link.port)])
            logged_in(c, "ups")
            first = len(link.sent)
            time.sleep(4.5)
            polls = sum(1 for line in link.sent[first:] if line == "GET VAR ups ups.status")
            if impl == "nut":
                assert polls <= 1, link.sent
            else:
                assert polls >= 4, link.sent
        finally:
            link.cut()
