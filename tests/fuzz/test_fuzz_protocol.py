"""Property-based fuzzing of the protocol core (no sockets): bounded, a few seconds.

- The tokenizer's fast paths (simple-line split, regex runs, skipping past
  the 32nd word) give exactly what one :meth:`Tokenizer._step` per byte
  gives, for any bytes cut into any packets.
- Whatever words arrive, a server :class:`Session` answers one text ending
  in a newline and never raises; request parsing only raises NutError.
- Whatever bytes a server sends, the client core raises only its own
  errors, and config parsers only ConfigError.
"""

from __future__ import annotations

import contextlib

from fuzz_support import REPLY_LINE, reference, session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnut.client.core import ClientConnection, Exchange
from pnut.client.errors import ClientError
from pnut.config.parser import ConfigError, parse_text
from pnut.config.upsd_conf import parse_upsd_conf
from pnut.config.users import parse_users
from pnut.protocol import requests as rq
from pnut.protocol.commands import parse_request
from pnut.protocol.errors import NutError
from pnut.protocol.tokens import Line, Tokenizer

FAST = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

#: Bytes that matter to the grammar, plus a few that must be dropped.
SPECIAL = b' \t\r\n"\\#=abcXYZ.0\x00\x7f\x80\xff'
grammar_bytes = st.lists(st.sampled_from([bytes([b]) for b in SPECIAL]) | st.binary(max_size=8),
                         max_size=120).map(b"".join)
cuts = st.lists(st.integers(min_value=0, max_value=200), max_size=6)


def pieces(data: bytes, at: list[int]) -> list[bytes]:
    points = sorted({min(a, len(data)) for a in at})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@settings(FAST, max_examples=1500)
@given(grammar_bytes, cuts, st.sampled_from([(32, 512), (3, 4), (1, 1)]))
def test_tokenizer_fast_paths_match_the_bytewise_reference(
        data: bytes, at: list[int], limits: tuple[int, int]) -> None:
    max_args, max_word = limits
    tok = Tokenizer(max_args, max_word)
    got: list[Line] = []
    for piece in pieces(data, at):
        got.extend(tok.feed(piece))
    want = reference(data, max_args, max_word)
    assert [(ln.words, ln.error) for ln in got] == [(ln.words, ln.error) for ln in want]
    assert tok.partial == (bool(tok._pending) or not tok._idle())


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.binary(min_size=1, max_size=40), st.integers(min_value=1, max_value=40))
def test_overlong_lines_stay_bounded(pattern: bytes, packets: int) -> None:
    """A 300 kB line in any number of packets: the held state never grows past the bounds."""
    tok = Tokenizer()
    junk = pattern * (300_000 // len(pattern) + 1)
    step = len(junk) // packets + 1
    for i in range(0, len(junk), step):
        tok.feed(junk[i:i + step])
        assert tok.buffered <= 64 * 1024 + 512 * 33
        assert len(tok._words) <= 32


words_strategy = st.lists(
    st.sampled_from(["GET", "LIST", "SET", "VAR", "ups", "UPS", "INSTCMD", "LOGIN", "USERNAME",
                     "PASSWORD", "STARTTLS", "TRACKING", "ON", "FSD", "PRIMARY", "ups.status",
                     "load.off", "CLIENT", "RW", "ENUM", "RANGE", "DESC", "CMDDESC", "TYPE",
                     "NUMLOGINS", "LOGOUT", "HELP", "VER", "ATTACH", "DETACH", ""])
    | st.text(max_size=20), max_size=8)


@FAST
@given(st.lists(words_strategy, min_size=1, max_size=12), st.booleans())
def test_session_always_answers_one_reply(requests: list[list[str]], require_tls: bool) -> None:
    sess = session()
    sess.ctx.require_tls = require_tls
    for words in requests:
        reply = sess.handle(words)
        assert reply.endswith("\n") and reply.strip()
        for line in reply[:-1].split("\n"):
            assert REPLY_LINE.fullmatch(line), (words, line)
        if sess.closing:
            break
        sess.start_tls = False


@FAST
@given(words_strategy)
def test_parse_request_raises_only_nut_errors(words: list[str]) -> None:
    try:
        req = parse_request(words)
    except NutError:
        return
    assert rq.to_line(req)


replies_strategy = st.lists(
    st.sampled_from([b"OK\n", b"OK STARTTLS\n", b"ERR ACCESS-DENIED\n", b'VAR ups x "1"\n',
                     b"BEGIN LIST VAR ups\n", b"END LIST VAR ups\n", b"\n", b'"\n', b"#\n"])
    | st.binary(max_size=40), max_size=10).map(b"".join)


@FAST
@given(replies_strategy, st.sampled_from(["get_var", "list_var", "starttls", "login", "ver",
                                          "get_type", "list_range", "get_tracking_status"]))
def test_client_core_survives_any_server_bytes(data: bytes, op_name: str) -> None:
    conn = ClientConnection()
    args = {"get_var": ("ups", "x"), "list_var": ("ups",), "login": ("ups",),
            "get_type": ("ups", "x"), "list_range": ("ups", "x"),
            "get_tracking_status": ("12345678-1234-4123-8123-123456789012",)}.get(op_name, ())
    exchange = Exchange(conn, getattr(conn, op_name)(*args))
    try:
        exchange.start()
        conn.receive_data(data)
        for _ in range(50):
            if exchange.done:
                return
            received = conn.next_reply()
            if received is None:
                return
            exchange.receive(received)
    except ClientError:
        pass


@FAST
@given(grammar_bytes)
def test_config_parsers_raise_only_config_errors(data: bytes) -> None:
    for parse in (parse_upsd_conf, parse_users):
        with contextlib.suppress(ConfigError):
            parse(parse_text(data, "fuzz.conf"))
