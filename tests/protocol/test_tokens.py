"""The tokenizer against NUT's parseconf rules, plus property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnut.protocol.limits import MAX_ARGS, MAX_PENDING_LINE, MAX_WORD_LEN
from pnut.protocol.tokens import Tokenizer, escape, quote, quote_word, split_line

CASES = [
    ("GET VAR ups ups.status", ["GET", "VAR", "ups", "ups.status"]),
    ("  get   var\tups  x  ", ["get", "var", "ups", "x"]),
    ('SET VAR u v "a b  c"', ["SET", "VAR", "u", "v", "a b  c"]),
    ('SET VAR u v "say \\"hi\\" \\\\ ok"', ["SET", "VAR", "u", "v", 'say "hi" \\ ok']),
    ('x ""', ["x", ""]),
    ("a=b", ["a", "=", "b"]),
    ("a = b", ["a", "=", "b"]),
    ("=a", ["=", "a"]),
    ("a # comment", ["a"]),
    ("a#comment", ["a"]),
    ("# only a comment", []),
    ("a \\# b", ["a", "#", "b"]),
    ('"a"b', ["a", "b"]),
    ('a"b', ['a"b']),
    ("a\\ b", ["a b"]),
    ("GET VAR ups x\r", ["GET", "VAR", "ups", "x"]),
    ("a \x01\x02 b", ["a", "", "b"]),  # NUT: a word of dropped bytes is empty
    ("caf\xc3\xa9 ok", ["caf", "ok"]),
    ("", []),
]


@pytest.mark.parametrize(("line", "words"), CASES)
def test_split_line_matches_parseconf(line: str, words: list[str]) -> None:
    assert split_line(line) == words


def test_unescaped_hash_in_quotes_is_an_error_and_only_that_line_is_lost() -> None:
    tok = Tokenizer()
    lines = tok.feed(b'SET VAR u v "a#b" tail\nVER\n')
    assert lines[0].error is not None
    assert [ln.words for ln in lines[1:]] == [("VER",)]


def test_limits_truncate_like_nut() -> None:
    words = split_line(" ".join(f"w{i}" for i in range(40)))
    assert len(words) == MAX_ARGS and words[-1] == f"w{MAX_ARGS - 1}"
    assert split_line("x" * 2000) == ["x" * MAX_WORD_LEN]
    assert split_line('"' + "y" * 2000 + '"') == ["y" * MAX_WORD_LEN]


def test_line_continuation_and_quotes_across_newlines() -> None:
    tok = Tokenizer()
    assert [ln.words for ln in tok.feed(b"a \\\nb\n")] == [("a", "b")]
    assert [ln.words for ln in tok.feed(b'"x\ny" z\n')] == [("xy", "z")]


def test_over_long_line_is_streamed_with_bounded_memory() -> None:
    tok = Tokenizer()
    chunk = b"A" * 65536
    for _ in range(64):  # 4 MiB without a newline
        assert tok.feed(chunk) == []
        assert tok.buffered <= MAX_PENDING_LINE + MAX_WORD_LEN * MAX_ARGS
    lines = tok.feed(b" tail\nVER\n")
    assert [ln.words for ln in lines] == [("A" * MAX_WORD_LEN, "tail"), ("VER",)]


def test_line_numbers_count_physical_lines() -> None:
    tok = Tokenizer()
    lines = tok.feed(b"a\n\n# c\nb \\\nc\nd\n")
    assert [(ln.words, ln.lineno) for ln in lines if ln.words] == [
        (("a",), 1), (("b", "c"), 4), (("d",), 6)]


def test_quote_and_escape() -> None:
    assert escape('a"b\\c#d') == 'a\\"b\\\\c\\#d'
    assert quote("x y") == '"x y"'
    assert quote_word("plain") == "plain"
    assert quote_word("two words") == '"two words"'
    assert quote_word('q"uote') == 'q\\"uote'
    assert quote_word("") == '""'
    assert quote_word("a=b") == '"a=b"'


printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@given(st.lists(printable, min_size=1, max_size=MAX_ARGS))
def test_quote_word_round_trips(words: list[str]) -> None:
    line = " ".join(quote_word(w) for w in words)
    assert split_line(line) == words


@given(printable)
def test_quoted_value_round_trips(value: str) -> None:
    assert split_line(f"VAR ups x {quote(value)}") == ["VAR", "ups", "x", value]


@settings(max_examples=200)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
def test_any_bytes_any_split_gives_same_lines(data: bytes, step: int) -> None:
    """Packet boundaries never change what a byte stream means."""
    whole = Tokenizer().feed(data + b"\n")
    tok = Tokenizer()
    parts = []
    for i in range(0, len(data), step):
        parts += tok.feed(data[i : i + step])
    parts += tok.feed(b"\n")
    assert [(ln.words, ln.error) for ln in parts] == [(ln.words, ln.error) for ln in whole]
    for ln in whole:
        assert len(ln.words) <= MAX_ARGS
        assert all(len(w) <= MAX_WORD_LEN and w.isascii() for w in ln.words)
