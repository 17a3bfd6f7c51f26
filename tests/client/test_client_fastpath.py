"""The client's fast reply split agrees with NUT's tokenizer on every line."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnut.client.core import _FAST_REPLY, ClientConnection
from pnut.client.errors import ProtocolError

# Bytes that matter to the grammar, plus ordinary ones.
_ALPHABET = st.sampled_from([b" ", b'"', b"#", b"=", b"\\", b"\t", b"\r", b"a", b"B", b"0",
                             b".", b"-", b"\x7f", b"\x80", b"\x01", b"[", b"]", b"~", b"!"])
_WORD = st.lists(_ALPHABET, min_size=0, max_size=8).map(b"".join)


def _outcome(classify: object, raw: bytes) -> object:
    try:
        return classify(raw)  # type: ignore[operator]
    except ProtocolError as exc:
        return ("ProtocolError", str(exc))


@settings(max_examples=600, deadline=None)
@given(st.lists(_WORD, min_size=1, max_size=5), _WORD)
def test_fast_split_equals_tokenizer(words: list[bytes], value: bytes) -> None:
    for raw in (b" ".join(words) + b' "' + value + b'"', b" ".join([*words, value])):
        fast = _outcome(ClientConnection._classify, raw)
        slow = _outcome(ClientConnection._classify_slow, raw)
        assert fast == slow, raw


def test_fast_path_takes_the_usual_lines() -> None:
    for raw in (b'VAR ups1 battery.charge "100"', b'UPS rack "Main UPS in rack 1"',
                b'DESC ups1 ups.load "Load on UPS (percent)"', b'VAR u x ""'):
        assert _FAST_REPLY.fullmatch(raw) is not None
        assert ClientConnection._classify(raw) == ClientConnection._classify_slow(raw)
    long_word = b'VAR ups ' + b"x" * 600 + b' "1"'  # past MAX_WORD_LEN: the tokenizer cuts it
    assert ClientConnection._classify(long_word) == ClientConnection._classify_slow(long_word)
