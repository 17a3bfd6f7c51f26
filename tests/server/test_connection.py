"""The sans-IO client connection: every rule of upsd's connections, without sockets."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnut.protocol.tokens import Tokenizer
from pnut.server.connection import MAX_LINE, Close, Connection, Drop, Limits, StartTLS
from pnut.server.guard import LogLimiter
from pnut.server.replycache import ReplyCache
from pnut.server.session import Context, Session
from pnut.server.store import UpsEntry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def context() -> Context:
    ctx = Context()
    entry = UpsEntry("ups", "dummy-ups-ups", "desc")
    entry.connected, entry.stale = True, False
    entry.state.set_info("ups.status", "OL")
    ctx.store.add(entry)
    ctx.tls_ready = True
    return ctx


def conn(limits: Limits | None = None, clock: Clock | None = None,
         cache: ReplyCache | None = None) -> Connection:
    ctx = context()
    return Connection(ctx, "192.0.2.7", cache, limits or Limits(), clock or Clock())


def drain(c: Connection, turns: int = 10_000) -> tuple[bytes, list[object]]:
    """Run the connection's turns until it has no backlog; collect output and events."""
    out = [c.data_to_send()]
    for _ in range(turns):
        if not c.backlogged:
            break
        c.process()
        out.append(c.data_to_send())
    events = []
    while (ev := c.next_event()) is not None:
        events.append(ev)
    return b"".join(out), events


def test_one_request_one_reply_and_pipelining() -> None:
    c = conn()
    c.receive_data(b"VER\nGET VAR ups ups.status\nNETVER\n")
    out, events = drain(c)
    assert out == (b"Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/\n"
                   b'VAR ups ups.status "OL"\n1.3\n')
    assert events == []


def test_a_megabyte_of_random_bytes_is_worked_in_bounded_turns_then_dropped() -> None:
    limits = Limits()
    c = conn(limits)
    junk = random.Random(15).randbytes(1 << 20)
    c.receive_data(junk)
    assert c.data_to_send().count(b"\n") <= limits.lines_per_turn
    turns = 0
    while c.backlogged:
        before = c._inbox
        c.process()
        turns += 1
        used = len(before) - len(c._inbox)
        if not c.done:  # (a drop discards what is left unread)
            assert used <= limits.bytes_per_turn
            if turns > 10:  # by now a junk sender: a smaller share, less often
                assert used <= limits.junk_bytes_per_turn
                assert c.turn_delay == limits.junk_turn_delay
            assert before[:used].count(b"\n") <= limits.lines_per_turn
        assert c.data_to_send().count(b"\n") <= limits.lines_per_turn
    event = c.next_event()
    assert isinstance(event, Drop) and event.invalid, event
    assert f"{limits.max_invalid_lines} invalid lines" in event.reason
    assert c.done and not c.backlogged and turns < 1000
    c.receive_data(b"VER\n")  # nothing more is read once the drop is decided
    assert c.data_to_send() == b""


def test_valid_lines_in_junk_are_answered_and_keep_the_connection() -> None:
    rng = random.Random(3)
    c = conn(Limits(max_invalid_lines=50))
    stream = b""
    for _ in range(400):
        # Junk without newline, quote or backslash: each junk line ends at its newline.
        stream += rng.randbytes(rng.randrange(1, 200)).translate(None, b'\n"\\') + b"\n"
        if rng.random() < 0.1:
            stream += b"NETVER\n"
    stream += b"\nNETVER\n"
    c.receive_data(stream)
    out, events = drain(c)
    assert events == []
    assert out.count(b"1.3\n") == stream.count(b"\nNETVER\n")
    c.receive_data(b"\x01\n" * 60)  # then only junk: dropped after the 50th line
    out, events = drain(c)
    assert out.count(b"ERR UNKNOWN-COMMAND\n") == 49
    assert len(events) == 1 and isinstance(events[0], Drop)


# Streams of bytes that exercise the whole grammar; lines stay under MAX_LINE.
_ALPHABET = st.sampled_from(
    [b" ", b"\t", b"\n", b"\r", b'"', b"\\", b"#", b"=", b"\x00", b"\x01\x02", b"\xff\xfe\x80",
     b"VER", b"GET", b"VAR", b"ups", b"ups.status", b"x" * 600, b"\x0b", b"NETVER"])
_STREAMS = st.lists(_ALPHABET, max_size=120).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_STREAMS, st.lists(st.integers(1, 4000), max_size=8))
def test_the_fast_path_gives_the_reference_tokenizers_lines(stream: bytes,
                                                            cuts: list[int]) -> None:
    """Collapsed dropped bytes, per-turn slices, any read boundaries: same replies."""
    reference = Tokenizer()
    ref_lines: list = []
    reference._run_bytewise(stream, ref_lines)
    ctx = context()
    expected = "".join(Session(ctx, "x").handle(line.words)
                       for line in ref_lines if line.error is None)
    c = Connection(ctx, "x", None, Limits(bytes_per_turn=97, lines_per_turn=3,
                                          max_invalid_lines=10**9), Clock())
    out = []
    pos = 0
    for size in [*cuts, len(stream)]:
        c.receive_data(stream[pos:pos + size])
        pos += size
        while c.backlogged:
            c.process()
        out.append(c.data_to_send())
        if pos >= len(stream):
            break
    assert b"".join(out).decode() == expected


def test_an_over_long_line_is_answered_as_cut_and_its_rest_skipped() -> None:
    c = conn(Limits(bytes_per_turn=4096))
    c.receive_data(b"GET VAR ups " + b"x" * 3_000_000 + b"\nNETVER\n")
    out, events = drain(c)
    assert out == b"ERR VAR-NOT-SUPPORTED\n1.3\n" and events == []
    assert len(c._inbox) == 0 and c._tok.buffered < 2 * MAX_LINE


def test_starttls_then_nothing_more_in_clear_text() -> None:
    c = conn()
    c.receive_data(b"STARTTLS\n")
    assert c.data_to_send() == b"OK STARTTLS\n"
    assert isinstance(c.next_event(), StartTLS)
    c.receive_data(b"VER\n")  # decrypted data that came before the handshake finished
    assert c.data_to_send() == b"" and not c.backlogged
    c.tls_established()
    assert c.session.tls and c.data_to_send().startswith(b"Network UPS Tools")

    piped = conn()
    piped.receive_data(b"STARTTLS\nVER\n")
    out, events = drain(piped)
    assert out == b"OK STARTTLS\n"
    assert events == [Drop("sent data after STARTTLS before the TLS handshake")]


def test_logout_and_end_of_input_close_after_the_replies() -> None:
    c = conn()
    c.receive_data(b"LOGOUT\nVER\n")
    out, events = drain(c)
    assert out == b"OK Goodbye\n" and events == [Close()]
    half = conn(Limits(bytes_per_turn=8))
    half.receive_data(b"NETVER\nNETVER\nNETVER\n")
    half.receive_data(b"")  # the client shut its side down while work was queued
    out, events = drain(half)
    assert out == b"1.3\n" * 3 and events == [Close()]


def test_idle_and_line_timeouts_on_an_injected_clock() -> None:
    clock = Clock()
    idle = conn(clock=clock)
    trickle = conn(clock=clock)
    trickle.receive_data(b"GET VA")
    clock.now += 5
    assert not idle.expired(clock.now, idle=60, line=10)
    trickle.receive_data(b"R ups")  # still the same line
    clock.now += 6
    assert trickle.expired(clock.now, idle=60, line=10)
    assert trickle.next_event() == Drop("a request line took more than 10 seconds")
    clock.now += 50
    assert idle.expired(clock.now, idle=60, line=10)
    assert idle.next_event() == Drop("idle for more than 60 seconds")


def test_a_client_that_does_not_read_is_dropped() -> None:
    c = conn(Limits(max_unsent=1000))
    c.unsent(1000)
    assert c.next_event() is None
    c.unsent(1001)
    assert c.next_event() == Drop("not reading its replies")


def test_a_repeated_get_var_is_answered_from_the_cache_while_the_ups_is_unchanged() -> None:
    ctx = context()
    cache = ReplyCache(ctx)
    c = Connection(ctx, "x", cache, Limits(), Clock())
    line = b"GET VAR ups ups.status\n"
    c.receive_data(line)
    assert c.data_to_send() == b'VAR ups ups.status "OL"\n' and len(cache) == 1
    assert cache.get(line) == b'VAR ups ups.status "OL"\n'
    ctx.store.get("ups").state.set_info("ups.status", "OB")  # type: ignore[union-attr]
    c.receive_data(line)
    assert c.data_to_send() == b'VAR ups ups.status "OB"\n'


@pytest.mark.parametrize("burst", [1, 5])
def test_log_limiter_bounds_lines_and_counts_the_rest(burst: int) -> None:
    clock = Clock()
    limiter = LogLimiter(rate=2.0, burst=burst, clock=clock)
    told = [limiter.allow() for _ in range(100)]
    assert told[:burst] == [0] * burst and told[burst:] == [None] * (100 - burst)
    clock.now += 0.5  # one more line allowed, naming what was suppressed
    assert limiter.allow() == 100 - burst
    assert limiter.allow() is None
