"""Property tests of the client's reply reading (no sockets).

Round trip: what a server writes with ``pnut.protocol.replies.format_*``,
cut into arbitrary TCP segments and fed to :class:`ClientConnection`,
comes back as exactly the values that were formatted - for any printable
value, quotes, backslashes and ``#`` included.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnut.client import ProtocolError, Range, UnknownUps, UpsEntry, VarType
from pnut.client.core import ClientConnection, Exchange, Op, Received
from pnut.protocol import replies
from pnut.protocol.errors import NutError
from pnut.protocol.replies import DescReply, RangeReply, UpsReply, VarReply

NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
SPICY = st.text(alphabet=st.sampled_from('ab "\\#=\t'), max_size=30)
ANY_VALUE = st.one_of(VALUE, SPICY.map(lambda s: s.replace("\t", " ")))


def feed_in_pieces(conn: ClientConnection, data: bytes, cuts: list[int]) -> list[Received]:
    """Feed ``data`` split at ``cuts``; collect every reply line."""
    out: list[Received] = []
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        conn.receive_data(data[start:cut])
        start = cut
        while (r := conn.next_reply()) is not None:
            out.append(r)
    return out


def drive(op: Op[object], wire: bytes, cuts: list[int] | None = None) -> object:
    """Run an operation against a canned server answer."""
    conn = ClientConnection()
    exchange = Exchange(conn, op)
    exchange.start()
    received = feed_in_pieces(conn, wire, cuts or [])
    for r in received:
        exchange.receive(r)
        if exchange.done:
            break
    return exchange.result


@given(NAME, NAME, ANY_VALUE, st.lists(st.integers(0, 400), max_size=6))
def test_var_line_round_trip(ups: str, var: str, value: str, cuts: list[int]) -> None:
    wire = replies.format_var(ups, var, value).encode()
    [got] = feed_in_pieces(ClientConnection(), wire, cuts)
    assert got.reply == VarReply("VAR", ups, var, value)
    assert drive(ClientConnection().get_var(ups, var), wire, cuts) == value


@given(NAME, NAME, ANY_VALUE, ANY_VALUE)
def test_desc_upsdesc_and_range_round_trip(ups: str, name: str, text: str, other: str) -> None:
    conn = ClientConnection()
    wire = (replies.format_desc("DESC", ups, name, text)
            + replies.format_desc("CMDDESC", ups, name, other)
            + replies.format_upsdesc(ups, text)
            + replies.format_range(ups, name, text, other)).encode()
    got = [r.reply for r in feed_in_pieces(conn, wire, [])]
    assert got == [
        DescReply("DESC", ups, name, text),
        DescReply("CMDDESC", ups, name, other),
        DescReply("UPSDESC", ups, "", text),
        RangeReply(ups, name, text, other),
    ]
    assert drive(ClientConnection().get_desc(ups, name), wire) == text


@given(NAME, st.dictionaries(NAME, ANY_VALUE, max_size=12), st.lists(st.integers(0, 2000)))
def test_list_var_round_trip(ups: str, variables: dict[str, str], cuts: list[int]) -> None:
    body = [replies.format_var(ups, k, v) for k, v in variables.items()]
    wire = replies.format_list(f"VAR {ups}", body).encode()
    assert drive(ClientConnection().list_var(ups), wire, cuts) == variables


@given(st.lists(st.tuples(NAME, ANY_VALUE), max_size=8, unique_by=lambda t: t[0]))
def test_list_ups_round_trip(entries: list[tuple[str, str]]) -> None:
    body = [f"UPS {name} {replies.quote(desc)}\n" for name, desc in entries]
    wire = replies.format_list("UPS", body).encode()
    assert drive(ClientConnection().list_ups(), wire) == [UpsEntry(n, d) for n, d in entries]
    conn = ClientConnection()
    got = [r.reply for r in feed_in_pieces(conn, wire, [])]
    assert got[1:-1] == [UpsReply(n, d) for n, d in entries]


@given(NAME, NAME, st.lists(st.tuples(ANY_VALUE, ANY_VALUE), max_size=5))
def test_list_range_round_trip(ups: str, var: str, ranges: list[tuple[str, str]]) -> None:
    body = [replies.format_range(ups, var, lo, hi) for lo, hi in ranges]
    wire = replies.format_list(f"RANGE {ups} {var}", body).encode()
    assert drive(ClientConnection().list_range(ups, var), wire) == [Range(a, b) for a, b in ranges]


@given(st.lists(st.sampled_from(["RW", "ENUM", "RANGE", "NUMBER", "STRING:12"]), max_size=4))
def test_type_words(words: list[str]) -> None:
    wire = replies.format_type("u", "v", words).encode()
    vtype = drive(ClientConnection().get_type("u", "v"), wire)
    assert isinstance(vtype, VarType)
    assert vtype.words == tuple(words)
    assert vtype.rw == ("RW" in words) and vtype.enum == ("ENUM" in words)
    assert vtype.kind == ("STRING" if "STRING:12" in words else "NUMBER")


def test_err_becomes_the_typed_exception() -> None:
    wire = replies.format_err(NutError("UNKNOWN-UPS")).encode()
    with pytest.raises(UnknownUps):
        drive(ClientConnection().get_var("u", "v"), wire)


@pytest.mark.parametrize("wire", [
    b'VAR u other "1"\n',          # answer for another variable
    b'BEGIN LIST VAR x\nEND LIST VAR x\n',
    b'VAR u v "unterminated #"\n',  # a parse error
])
def test_answers_that_do_not_fit_are_protocol_errors(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        drive(ClientConnection().get_var("u", "v"), wire)


def test_list_for_another_ups_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        drive(ClientConnection().list_var("u"), b"BEGIN LIST VAR other\nEND LIST VAR other\n")


def test_reply_line_is_bounded() -> None:
    conn = ClientConnection()
    with pytest.raises(ProtocolError):
        for _ in range(100):
            conn.receive_data(b"x" * 4096)


@given(VALUE)
def test_requests_carry_printable_text_and_refuse_the_rest(value: str) -> None:
    conn = ClientConnection()
    exchange = Exchange(conn, conn.set_var("u", "v", value))
    line = exchange.start()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    for bad in ("\n", "\r", "\x00", "é"):
        conn2 = ClientConnection()
        with pytest.raises(ValueError):
            Exchange(conn2, conn2.set_var("u", "v", value + bad)).start()


def test_a_flooding_server_costs_one_line_of_work_per_reply_asked_for() -> None:
    conn = ClientConnection()
    flood = b'VAR u v "1"\n' * 100_000  # 1.2 MB of replies nobody asked for
    conn.receive_data(flood)
    assert conn.has_partial
    first = conn.next_reply()
    assert first is not None and first.raw == 'VAR u v "1"'
    assert conn._pos == len(b'VAR u v "1"\n')  # nothing else was cut or tokenized
    for _ in range(99_999):
        assert conn.next_reply() is not None
    assert conn.next_reply() is None and not conn.has_partial


def test_an_endless_reply_line_is_refused_once_over_the_bound() -> None:
    conn = ClientConnection()
    conn.receive_data(b"OK\n")
    for _ in range(3):
        conn.receive_data(b"x" * 30_000)  # complete line first, then an endless one
    assert conn.next_reply() is not None
    with pytest.raises(ProtocolError):
        conn.receive_data(b"x" * 30_000)
