"""pnut upsd as a real process: commands, hostile input, limits, drivers.

Every test talks to a ``pnut upsd`` started from a private config dir on a
random port.  Drivers are Debian's C ``dummy-ups`` where it can show the
behaviour, and a scripted driver socket (``FakeDriver``) where a test needs
things dummy-ups cannot do (enums, ranges, read-only variables, DATASTALE,
garbage).
"""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Iterator
from functools import partial

import pytest

from conftest import requires_nut
from support import Stack, Ups, wait_for
from upsd_support import (
    QUOTING_DEV,
    USERS,
    Conn,
    FakeDriver,
    ready,
    rss_kb,
    run_transcript,
    wait_reply,
)

pytestmark = requires_nut

FAKE_DUMP = [
    'SETINFO ups.status "OL"',
    'SETINFO ups.mfr "Fake"',
    "SETFLAGS ups.mfr RW STRING",
    "SETAUX ups.mfr 8",
    'SETINFO ups.id "fixed"',
    'SETINFO input.sensitivity "normal"',
    "SETFLAGS input.sensitivity RW STRING",
    "SETAUX input.sensitivity 10",
    'ADDENUM input.sensitivity "low"',
    'ADDENUM input.sensitivity "normal"',
    'ADDENUM input.sensitivity "high \\"x\\""',
    'SETINFO battery.charge.low "20"',
    "SETFLAGS battery.charge.low RW NUMBER",
    "ADDRANGE battery.charge.low 5 30",
    "ADDRANGE battery.charge.low 50 60",
    'SETINFO ups.broken "x"',
    "SETFLAGS ups.broken RW STRING",
    "ADDCMD test.battery.start",
    "ADDCMD beeper.off",
    "DATAOK",
    "DUMPDONE",
]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Stack, FakeDriver]]:
    upses = [Ups("eaton", QUOTING_DEV, desc="dummy"), Ups("fake", "", desc="scripted driver")]
    st = Stack(upses, users=USERS, upsd_conf="MAXAGE 6\n")
    fake = FakeDriver(st.state / "dummy-ups-fake", FAKE_DUMP)
    try:
        st.start_driver(upses[0], "nut")
        st.start_upsd("pnut", wait_ups=False)
        ready(st, "eaton")
        ready(st, "fake")
        yield st, fake
    finally:
        st.close()
        fake.close()


def replies(port: int, lines: list[str]) -> list[str]:
    return [r.split("  ->  ", 1)[1] for r in run_transcript(port, lines)]


ADMIN = ["USERNAME admin", 'PASSWORD "s3cret pw"']


# -- the command table ----------------------------------------------------------

TABLE: list[tuple[str, str | None]] = [
    ("GET TYPE fake ups.mfr", "TYPE fake ups.mfr RW STRING:8"),
    ("GET TYPE fake ups.id", "TYPE fake ups.id NUMBER"),
    ("GET TYPE fake input.sensitivity", "TYPE fake input.sensitivity RW ENUM STRING:10"),
    ("GET TYPE fake battery.charge.low", "TYPE fake battery.charge.low RW RANGE NUMBER"),
    ("LIST ENUM fake input.sensitivity", "BEGIN LIST ENUM fake input.sensitivity | "
     'ENUM fake input.sensitivity "low" | ENUM fake input.sensitivity "normal" | '
     'ENUM fake input.sensitivity "high \\"x\\"" | END LIST ENUM fake input.sensitivity'),
    ("LIST RANGE fake battery.charge.low", "BEGIN LIST RANGE fake battery.charge.low | "
     'RANGE fake battery.charge.low "5" "30" | RANGE fake battery.charge.low "50" "60" | '
     "END LIST RANGE fake battery.charge.low"),
    ("LIST RW fake", 'BEGIN LIST RW fake | RW fake battery.charge.low "20" | '
     'RW fake input.sensitivity "normal" | RW fake ups.broken "x" | RW fake ups.mfr "Fake" | '
     "END LIST RW fake"),
    ("LIST CMD fake", "BEGIN LIST CMD fake | CMD fake beeper.off | "
     "CMD fake test.battery.start | END LIST CMD fake"),
    ("GET CMDDESC fake beeper.off", None),  # any description, checked below
    ("SET VAR fake ups.id x", "ERR USERNAME-REQUIRED"),
]


@pytest.mark.parametrize(("request_line", "expected"), TABLE)
def test_read_commands(stack: tuple[Stack, FakeDriver], request_line: str,
                       expected: str | None) -> None:
    st, _ = stack
    got = replies(st.port, [request_line])[0]
    if expected is None:
        assert got.startswith("CMDDESC fake beeper.off \"") and "unavailable" not in got
    else:
        assert got == expected


SET_TABLE: list[tuple[str, str, str | None]] = [
    # request, reply, line the driver must receive (None: nothing sent)
    ("SET VAR fake ups.id x", "ERR READONLY", None),
    ("SET VAR fake ups.mfr 123456789", "ERR TOO-LONG", None),
    ("SET VAR fake ups.mfr 12345678", "OK", 'SET ups.mfr "12345678"'),
    ("SET VAR fake ups.broken x", "ERR SET-FAILED", None),  # STRING with aux 0
    ("SET VAR fake input.sensitivity medium", "ERR INVALID-VALUE", None),
    ("SET VAR fake input.sensitivity LOW", "ERR INVALID-VALUE", None),
    ("SET VAR fake input.sensitivity low", "OK", 'SET input.sensitivity "low"'),
    ('SET VAR fake input.sensitivity "high \\"x\\""', "OK",
     'SET input.sensitivity "high \\"x\\""'),
    ("SET VAR fake battery.charge.low 31", "ERR INVALID-VALUE", None),
    ("SET VAR fake battery.charge.low 4", "ERR INVALID-VALUE", None),
    ("SET VAR fake battery.charge.low 55", "OK", 'SET battery.charge.low "55"'),
    ("SET VAR fake battery.charge.low 7abc", "OK", 'SET battery.charge.low "7abc"'),
    ('SET VAR fake ups.mfr "a\\#b\\\\c"', "OK", 'SET ups.mfr "a\\#b\\\\c"'),
    ("INSTCMD fake beeper.off", "OK", "INSTCMD beeper.off"),
    ("INSTCMD fake BEEPER.OFF now", "OK", "INSTCMD BEEPER.OFF now"),
    ('INSTCMD fake beeper.off "two words"', "OK", 'INSTCMD beeper.off "two words"'),
    ("INSTCMD fake load.off", "ERR CMD-NOT-SUPPORTED", None),
]


@pytest.mark.parametrize(("request_line", "expected", "forwarded"), SET_TABLE)
def test_set_and_instcmd_checks_and_forwarding(
    stack: tuple[Stack, FakeDriver], request_line: str, expected: str, forwarded: str | None
) -> None:
    st, fake = stack
    before = len(fake.received)
    marker = "INSTCMD fake test.battery.start"  # forwarded after anything the request sent
    assert replies(st.port, [*ADMIN, request_line, marker])[-2:] == [expected, "OK"]
    wait_for(lambda: "INSTCMD test.battery.start" in fake.received[before:], timeout=5)
    sent = [x for x in fake.received[before:] if x != "PING"]
    assert sent[-1] == "INSTCMD test.battery.start"
    assert sent[:-1] == ([] if forwarded is None else [forwarded])


def test_tracking_results_from_driver(stack: tuple[Stack, FakeDriver]) -> None:
    st, fake = stack
    with Conn(st.port) as conn:
        for line in [*ADMIN, "SET TRACKING ON"]:
            assert conn.ask(line) == ["OK"]
        ids = []
        for _ in range(5):
            reply = conn.ask("INSTCMD fake beeper.off")[0]
            assert reply.startswith("OK TRACKING ")
            ids.append(reply.split()[-1])
        for id_ in ids:
            line = f"INSTCMD beeper.off TRACKING {id_}"
            wait_for(partial(fake.received.__contains__, line), timeout=5)
            assert conn.ask(f"GET TRACKING {id_}") == ["PENDING"]
        for code, id_ in enumerate(ids):
            fake.push(f"TRACKING {id_} {code}\n")
        want = ["SUCCESS", "ERR UNKNOWN", "ERR INVALID-ARGUMENT", "ERR FAILED",
                "ERR INVALID-ARGUMENT"]
        for id_, answer in zip(ids, want, strict=True):
            wait_for(partial(_answers, conn, f"GET TRACKING {id_}", [answer]), timeout=5)
        # ids are case-insensitive, as in NUT
        assert conn.ask(f"GET TRACKING {ids[0].lower()}") == ["SUCCESS"]


# -- hostile and odd input ------------------------------------------------------


def test_hostile_bytes_get_nut_replies(stack: tuple[Stack, FakeDriver]) -> None:
    st, _ = stack
    with Conn(st.port) as conn:
        conn.send(b"GET VAR e\xffat\x00on ups.st\x80atus\r\n")  # bytes outside ASCII dropped
        assert conn.reply() == ['VAR eaton ups.status "OB LB"']
        conn.send(b"\x00\x01\x02\n")
        assert conn.reply() == ["ERR UNKNOWN-COMMAND"]
        conn.send(b"GET VAR eaton \"ups.status#\"\nVER\n")  # parse error: no reply
        assert conn.reply()[0].startswith("Network UPS Tools upsd")
        conn.send(b"GET VA")
        time.sleep(0.2)
        conn.send(b"R eaton battery.charge\n")
        assert conn.reply() == ['VAR eaton battery.charge "9"']
        conn.send(b"HELP " + b"x" * 2_000_000 + b"\n")  # a 2 MB line
        assert conn.reply() == ["ERR INVALID-ARGUMENT"]
        conn.send(b"GET VAR eaton " + b"y" * 100_000 + b"\n")
        assert conn.reply() == ["ERR VAR-NOT-SUPPORTED"]
        words = " ".join(["w"] * 100)
        conn.send(f"LIST UPS {words}\n".encode())
        assert conn.reply()[0] == "BEGIN LIST UPS"
        conn.send(b"VER\r\nNETVER\r\n")
        assert conn.reply()[0].startswith("Network UPS Tools")
        assert conn.reply() == ["1.3"]


def test_vanishing_clients_do_not_disturb_others(stack: tuple[Stack, FakeDriver]) -> None:
    st, _ = stack
    with Conn(st.port) as steady:
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", st.port))
            if i % 3 == 0:
                s.sendall(b"GET VAR eat")  # half a line
            elif i % 3 == 1:
                s.sendall(b"LIST VAR eaton\n" * 50)  # replies nobody reads
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()  # RST
            assert steady.ask("GET VAR eaton ups.load") == ['VAR eaton ups.load "42"']


def test_client_that_never_reads_is_dropped(stack: tuple[Stack, FakeDriver]) -> None:
    st, _ = stack
    pid = int(_upsd_pid(st))
    before = rss_kb(pid)
    hog = socket.create_connection(("127.0.0.1", st.port))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(0.5)
    sent = 0
    dropped = False
    deadline = time.monotonic() + 30
    with Conn(st.port) as steady:
        while time.monotonic() < deadline:
            try:
                hog.sendall(b"LIST VAR eaton\n" * 2000)
                sent += 1
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            assert steady.ask("GET VAR eaton ups.load") == ['VAR eaton ups.load "42"']
    hog.close()
    assert dropped, "a client that never reads was never dropped"
    assert rss_kb(pid) - before < 40_000  # bounded: far below what was requested
    assert "not reading its replies" in st.log_text()


# -- sessions -------------------------------------------------------------------------


def test_logout_closes_and_numlogins_follow_connections(stack: tuple[Stack, FakeDriver]) -> None:
    st, _ = stack
    with Conn(st.port) as a, Conn(st.port) as b:
        for line in [*ADMIN, "LOGIN eaton"]:
            assert a.ask(line) == ["OK"]
        for line in ["USERNAME monuser", "PASSWORD mon", "ATTACH EATON"]:
            assert b.ask(line) == ["OK"]
        assert a.ask("GET NUMLOGINS eaton") == ["NUMLOGINS eaton 2"]
        assert a.ask("LIST CLIENT Eaton") == [
            "BEGIN LIST CLIENT Eaton", "CLIENT eaton 127.0.0.1", "CLIENT eaton 127.0.0.1",
            "END LIST CLIENT Eaton"]
        assert b.ask("DETACH") == ["OK Goodbye"]
        assert b.readline() is None  # closed by the server
        wait_for(lambda: a.ask("GET NUMATTACH eaton") == ["NUMATTACH eaton 1"], timeout=5)
    wait_reply(st.port, "GET NUMLOGINS eaton", "NUMLOGINS eaton 0", timeout=5)


def test_ipv6_listener_and_list_client_address(tmp_path: object) -> None:
    st = Stack([Ups("u", "ups.status: OL\n")], users=USERS)
    st.write("upsd.conf", f"LISTEN 127.0.0.1 {st.port}\nLISTEN ::1 {st.port}\n")
    try:
        st.start(upsd="pnut")
        with Conn(st.port, host="::1") as conn:
            for line in ["USERNAME monuser", "PASSWORD mon", "LOGIN u"]:
                assert conn.ask(line) == ["OK"]
            assert conn.ask("LIST CLIENT u") == [
                "BEGIN LIST CLIENT u", "CLIENT u ::1", "END LIST CLIENT u"]
    finally:
        st.close()


# -- limits -------------------------------------------------------------------------


def test_maxconn_flood_while_another_client_works() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    st = Stack([Ups("u", "ups.status: OL\nups.load: 7\n")], users=USERS,
               upsd_conf="MAXCONN 20\n")
    try:
        st.start(upsd="pnut")
        with Conn(st.port) as steady:
            socks: list[socket.socket] = []
            for i in range(2000):
                try:
                    socks.append(socket.create_connection(("127.0.0.1", st.port), timeout=5))
                except OSError:
                    continue
                if i % 100 == 0:
                    assert steady.ask("GET VAR u ups.load") == ['VAR u ups.load "7"']
            # Extra connections are closed at once; at most MAXCONN stay open.  None
            # is closed before all are counted: a freed slot would let a connection
            # still queued in the kernel's backlog in.
            served = 0
            for s in socks:
                s.settimeout(2)
                try:
                    s.sendall(b"VER\n")
                    if s.recv(100).startswith(b"Network UPS Tools"):
                        served += 1
                except OSError:
                    pass
            for s in socks:
                s.close()
            assert 1 <= served <= 19
            assert steady.ask("GET VAR u ups.load") == ['VAR u ups.load "7"']
        assert "MAXCONN (20) reached" in st.log_text()
        wait_reply(st.port, "GET VAR u ups.load", 'VAR u ups.load "7"')
    finally:
        st.close()


def test_idle_clients_are_dropped() -> None:
    st = Stack([Ups("u", "ups.status: OL\n")], users=USERS)
    os.environ["PNUT_UPSD_IDLE_TIMEOUT"] = "2"
    try:
        st.start(upsd="pnut")
    finally:
        del os.environ["PNUT_UPSD_IDLE_TIMEOUT"]
    try:
        with Conn(st.port) as idle, Conn(st.port) as busy:
            deadline = time.monotonic() + 4  # timeout 2 s + one housekeeping tick
            while time.monotonic() < deadline:
                assert busy.ask("VER")[0].startswith("Network UPS Tools")
                time.sleep(0.5)
            assert idle.readline() is None  # dropped
            assert busy.ask("NETVER") == ["1.3"]
    finally:
        st.close()


def _upsd_pid(st: Stack) -> int:
    return next(p.pid for p in st.procs if "upsd" in str(p.args))


def _answers(conn: Conn, line: str, want: list[str]) -> bool:
    return conn.ask(line) == want


# -- what a driver may throw at upsd --------------------------------------------


def test_driver_garbage_never_hurts_upsd() -> None:
    st = Stack([Ups("g", "", desc="garbage driver")], users=USERS, upsd_conf="MAXAGE 30\n")
    fake = FakeDriver(st.state / "dummy-ups-g", ['SETINFO ups.status "OL"', "DATAOK", "DUMPDONE"])
    try:
        st.start_upsd("pnut", wait_ups=False)
        ready(st, "g")
        with Conn(st.port) as conn:
            fake.push(b"\x00\xff\xfe garbage \x01\n")
            fake.push("NOSUCHCOMMAND a b c\n")
            fake.push("SETINFO\nSETINFO only.name\nADDRANGE ups.status low high\n")
            fake.push("SETAUX ups.status many\nDELENUM nosuch x\nADDENUM nosuch.var x\n")
            fake.push("SETFLAGS nosuch RW\nTRACKING\nTRACKING unknown-id 0\nPONG extra\n")
            fake.push('SETINFO bad.quote "abc#def"\n')  # parse error
            fake.push("SETINFO " + "v" * 300_000 + " x\n")  # a huge line
            fake.push('SETINFO ups.load "17"\nADDCMD beeper.on\n')
            wait_for(lambda: conn.ask("GET VAR g ups.load") == ['VAR g ups.load "17"'])
            assert conn.ask("GET VAR g bad.quote") == ["ERR VAR-NOT-SUPPORTED"]
            assert conn.ask("LIST CMD g") == ["BEGIN LIST CMD g", "CMD g beeper.on",
                                              "END LIST CMD g"]
            # DATASTALE/DATAOK act at once.
            fake.push("DATASTALE\n")
            wait_for(lambda: conn.ask("GET VAR g ups.load") == ["ERR DATA-STALE"])
            assert conn.ask("GET UPSDESC g") == ['UPSDESC g "garbage driver"']
            fake.push("DATAOK\n")
            wait_for(lambda: conn.ask("GET VAR g ups.load") == ['VAR g ups.load "17"'])
        log = st.log_text()
        assert "Parse error on sock" in log
        assert "Traceback" not in log
        assert "Data for UPS [g] is stale - check driver" in log
        assert "UPS [g] data is no longer stale" in log
    finally:
        st.close()
        fake.close()


def test_status_is_wait_until_the_dump_is_done() -> None:
    st = Stack([Ups("w", "", desc="slow dump")], users=USERS, upsd_conf="MAXAGE 3\n")
    fake = FakeDriver(st.state / "dummy-ups-w", [])  # answers DUMPALL with nothing yet
    try:
        st.start_upsd("pnut", wait_ups=False)
        wait_reply(st.port, "GET VAR w ups.status", 'VAR w ups.status "WAIT"')
        assert st.talk(["LIST VAR w"]) == [
            "BEGIN LIST VAR w", 'VAR w ups.status "WAIT"', "END LIST VAR w"]
        fake.push('SETINFO ups.status "OB LB"\nSETINFO battery.charge "5"\nDATAOK\nDUMPDONE\n')
        wait_reply(st.port, "GET VAR w ups.status", 'VAR w ups.status "OB LB"')
        # PING after MAXAGE/3 of silence (here after 1 s); the PONG keeps it fresh.
        wait_for(lambda: len(fake.lines("PING")) >= 2, timeout=15)
        time.sleep(1.5)
        assert st.talk(["GET VAR w battery.charge"]) == ['VAR w battery.charge "5"']
    finally:
        st.close()
        fake.close()


def test_fsd_survives_driver_reconnect() -> None:
    st = Stack([Ups("f", "ups.status: OL\n")], users=USERS)
    try:
        st.start(upsd="pnut")
        assert run_transcript(st.port, [*ADMIN, "FSD f"])[-1].endswith("OK FSD-SET")
        assert st.talk(["GET VAR f ups.status"]) == ['VAR f ups.status "FSD OL"']
        st.stop(st.procs[0])
        wait_reply(st.port, "GET VAR f ups.status", "ERR DRIVER-NOT-CONNECTED")
        st.start_driver(st.upses[0])
        wait_reply(st.port, "GET VAR f ups.status", 'VAR f ups.status "FSD OL"', timeout=15)
    finally:
        st.close()


def test_thousand_idle_connections_stay_small() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    st = Stack([Ups("u", "ups.status: OL\n")], users=USERS)
    socks: list[socket.socket] = []
    try:
        st.start(upsd="pnut")
        pid = _upsd_pid(st)
        for _ in range(1000):
            socks.append(socket.create_connection(("127.0.0.1", st.port)))
        with Conn(st.port) as conn:
            assert conn.ask("NETVER") == ["1.3"]
        assert rss_kb(pid) < 80_000
    finally:
        for s in socks:
            s.close()
        st.close()
