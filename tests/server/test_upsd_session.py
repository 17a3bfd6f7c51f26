"""The sans-IO session: words in, reply text out, no sockets involved."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnut.config.parser import parse_text
from pnut.config.users import parse_users
from pnut.protocol.commands import TABLE, Command
from pnut.protocol.driversock import SockCommand, serialize
from pnut.server.session import Context, Session
from pnut.server.store import UpsEntry
from pnut.server.tracking import Tracker, new_id
from upsd_support import USERS, UUID_RE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock | None = None) -> tuple[Context, UpsEntry, list[str]]:
    sent: list[str] = []
    ctx = Context(users=parse_users(parse_text(USERS.encode())))
    if clock is not None:
        ctx.tracker = Tracker(60.0, clock)
    entry = UpsEntry("Ups1", "dummy-ups-Ups1", "first")
    entry.connected, entry.stale = True, False
    entry.state.set_info("ups.status", "OL")
    entry.state.set_info("ups.mfr", "Acme")
    entry.state.set_flags("ups.mfr", {"RW", "STRING"})
    entry.state.set_aux("ups.mfr", 10)
    entry.state.add_cmd("load.off")

    def sender(msg: SockCommand) -> bool:
        sent.append(serialize(msg))
        return True

    entry.sender = sender
    ctx.store.add(entry)
    return ctx, entry, sent


def session(ctx: Context, addr: str = "10.0.0.1") -> Session:
    s = Session(ctx, addr)
    ctx.sessions[s] = None
    return s


def say(s: Session, *lines: str) -> list[str]:
    from pnut.protocol.tokens import split_line

    return [s.handle(split_line(line)) for line in lines]


def test_list_client_newest_first_and_numlogins_follow_close() -> None:
    ctx, entry, _ = make()
    a, b = session(ctx, "10.0.0.1"), session(ctx, "::1")
    assert say(a, "USERNAME monuser", "PASSWORD mon", "LOGIN ups1") == ["OK\n"] * 3
    assert say(b, "USERNAME admin", 'PASSWORD "s3cret pw"', "ATTACH UPS1") == ["OK\n"] * 3
    assert say(a, "LIST CLIENT ups1") == [
        "BEGIN LIST CLIENT ups1\nCLIENT Ups1 ::1\nCLIENT Ups1 10.0.0.1\nEND LIST CLIENT ups1\n"]
    assert entry.numlogins == 2
    b.close()
    del ctx.sessions[b]
    assert say(a, "GET NUMATTACH ups1", "GET NUMLOGINS UPS1") == [
        "NUMATTACH ups1 1\n", "NUMLOGINS UPS1 1\n"]


def test_forwarding_and_driver_write_failure() -> None:
    ctx, entry, sent = make()
    s = session(ctx)
    say(s, "USERNAME admin", 'PASSWORD "s3cret pw"')
    assert say(s, 'SET VAR ups1 UPS.MFR "a \\"b\\""') == ["OK\n"]
    assert say(s, "INSTCMD ups1 LOAD.OFF 5") == ["OK\n"]
    assert sent == ['SET UPS.MFR "a \\"b\\""\n', "INSTCMD LOAD.OFF 5\n"]
    entry.sender = lambda line: False
    assert say(s, "SET VAR ups1 ups.mfr x", "INSTCMD ups1 load.off") == [
        "ERR SET-FAILED\n", "ERR INSTCMD-FAILED\n"]
    entry.connected = False
    assert say(s, "SET VAR ups1 ups.mfr x") == ["ERR DRIVER-NOT-CONNECTED\n"]


def test_tracking_entries_expire_after_trackingdelay() -> None:
    clock = Clock()
    ctx, _, sent = make(clock)
    s = session(ctx)
    say(s, "USERNAME admin", 'PASSWORD "s3cret pw"', "SET TRACKING ON")
    reply = say(s, "INSTCMD ups1 load.off")[0]
    found = UUID_RE.search(reply)
    assert found is not None and reply == f"OK TRACKING {found.group(0)}\n"
    tid = found.group(0)
    assert sent == [f"INSTCMD load.off TRACKING {tid}\n"]
    assert say(s, f"GET TRACKING {tid}") == ["PENDING\n"]
    clock.now += 30
    assert ctx.tracker.set_result(tid, "3")
    assert say(s, f"GET TRACKING {tid}") == ["ERR FAILED\n"]
    clock.now += 31
    assert say(s, f"GET TRACKING {tid}") == ["ERR UNKNOWN\n"]
    assert len(ctx.tracker) == 0


def test_tracking_ids_are_uuid4_and_distinct() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(UUID_RE.fullmatch(i) for i in ids)


def test_starttls_hook() -> None:
    ctx, _, _ = make()
    s = session(ctx)
    assert say(s, "STARTTLS") == ["ERR FEATURE-NOT-CONFIGURED\n"]
    ctx.tls_ready = True
    assert say(s, "STARTTLS") == ["OK STARTTLS\n"] and s.start_tls
    s.tls = True
    assert say(s, "STARTTLS") == ["ERR ALREADY-SSL-MODE\n"]


def _line(row: Command) -> str:
    args = {"SET TRACKING": ["ON"], "SET VAR": ["Ups1", "ups.mfr", "x"],
            "INSTCMD": ["Ups1", "load.off"]}.get(row.name)
    return " ".join([*row.name.split(), *(args or ["Ups1", "ups.mfr"][:row.arity[0]])])


def test_required_tls_without_a_certificate_answers_only_public_rows() -> None:
    """REQUIRE_TLS when STARTTLS cannot succeed (no certificate): every row the
    table marks public answers as without REQUIRE_TLS, every other row (USERNAME,
    PASSWORD, all that need a login) and unknown words get TLS-NOT-ENABLED.  With
    a certificate only the before_tls rows answer in clear text; over TLS, all."""
    refused = "ERR TLS-NOT-ENABLED\n"

    def reply(line: str, require: bool, cert: bool, tls: bool = False) -> str:
        ctx = make()[0]
        ctx.require_tls, ctx.tls_ready = require, cert
        s = session(ctx)
        s.tls = tls
        return say(s, line)[0]

    for row in TABLE:
        line = _line(row)
        for spelling in (line, line.lower()):
            for cert, passes in ((False, row.public), (True, row.before_tls)):
                free = reply(spelling, False, cert)
                assert free != refused
                assert reply(spelling, True, cert) == (free if passes else refused), line
            assert reply(spelling, True, True, tls=True) == reply(spelling, False, True, True)
    ctx = make()[0]
    ctx.require_tls = True
    assert say(session(ctx), "BOGUS", "") == [refused, refused]
    assert {row.name for row in TABLE if not row.public} == {
        "USERNAME", "PASSWORD", "LOGIN", "PRIMARY", "FSD", "SET VAR", "SET TRACKING",
        "INSTCMD"}


WORDS = st.lists(
    st.one_of(
        st.sampled_from(["GET", "LIST", "SET", "VAR", "INSTCMD", "LOGIN", "ATTACH", "USERNAME",
                         "PASSWORD", "TRACKING", "ON", "OFF", "ups1", "ups.mfr", "load.off",
                         "FSD", "PRIMARY", "MASTER", "DETACH", "LOGOUT", "NUMLOGINS", "CLIENT",
                         "ENUM", "RANGE", "TYPE", "DESC", "CMDDESC", "UPSDESC", "STARTTLS",
                         "server.info", "admin", "s3cret pw", ""]),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    ),
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(WORDS, max_size=6))
def test_any_words_get_one_reply_and_never_raise(lines: list[list[str]]) -> None:
    ctx, _, _ = make()
    s = session(ctx)
    for words in lines:
        reply = s.handle(words)
        assert reply.endswith("\n")
        if not reply.startswith("BEGIN LIST"):
            assert reply.count("\n") == 1


def test_tracking_table_is_capped_oldest_first() -> None:
    from pnut.server.tracking import MAX_TRACKING

    clock = Clock()
    tracker = Tracker(3600.0, clock)
    for i in range(MAX_TRACKING + 5):
        tracker.add(f"id{i}")
    assert len(tracker) == MAX_TRACKING
    assert tracker.answer("id0") == "ERR UNKNOWN"
    assert tracker.answer(f"id{MAX_TRACKING + 4}") == "PENDING"
