"""The config reader never loses input without a word (issue 11, item 2).

Every daemon reads its files through :func:`pnut.config.parser.parse_text`.
Whatever bytes a file holds, the reader either returns lines (with
warnings for what NUT also drops) or raises one ConfigError naming file and
line; it never raises anything else, and every physical line that holds a
directive is either in the result or the reason for the error.
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnut.config.parser import ConfigError, parse_text
from pnut.config.upsd_conf import parse_upsd_conf
from pnut.config.upsmon_conf import parse_upsmon_conf
from pnut.protocol.tokens import quote

#: PNUT_FUZZ_EXAMPLES=20000 for a long run (clean at 20000 when written).
FUZZ = settings(max_examples=int(os.environ.get("PNUT_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

#: Bytes that matter to the grammar, plus ordinary ones and bytes NUT drops.
GRAMMAR_BYTES = st.sampled_from([*b'ab= \t"\\#\r', 0x01, 0x7F, 0xC3, 0xA9])
LINE = st.lists(GRAMMAR_BYTES, max_size=24).map(bytes)


def _starts_fresh(lines: list[bytes], index: int) -> bool:
    """False when the line before ``index`` ends in an unescaped backslash."""
    if index == 0:
        return True
    prev = lines[index - 1]
    return (len(prev) - len(prev.rstrip(b"\\"))) % 2 == 0


def _has_content(raw: bytes) -> bool:
    body = raw.strip(b" \t\r\x0b\x0c")
    return bool(body) and not body.startswith(b"#")


@FUZZ
@given(st.lists(LINE, max_size=12), st.booleans())
def test_every_directive_line_is_kept_or_named_in_the_error(lines: list[bytes],
                                                             final_newline: bool) -> None:
    text = b"\n".join(lines) + (b"\n" if final_newline else b"")
    try:
        out = parse_text(text, "f.conf")
    except ConfigError as exc:
        assert exc.path == "f.conf"
        assert exc.lineno is not None and 1 <= exc.lineno <= max(1, len(lines))
        assert str(exc).startswith(f"f.conf:{exc.lineno}: ")
        assert "\n" not in str(exc)
        return
    starts = {line.lineno for line in out}
    for index, raw in enumerate(lines):
        if _starts_fresh(lines, index) and _has_content(raw):
            assert index + 1 in starts, (index + 1, raw, [tuple(x) for x in out])
    for warning in out.warnings:
        assert re.match(r"f\.conf:\d+: ", warning) and "\n" not in warning


#: Words as an admin writes them: any printable ASCII, spaces and quotes included.
WORD = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


def _encode(word: str) -> str:
    """How a value is written so NUT reads it back as one word."""
    if word and re.fullmatch(r"[A-Za-z0-9._/:@+-]+", word):
        return word
    return quote(word)


@FUZZ
@given(st.lists(st.lists(WORD, min_size=1, max_size=6), max_size=10))
def test_written_words_read_back_exactly(directives: list[list[str]]) -> None:
    """Words written the way NUT's own encoder writes them come back unchanged."""
    text = "".join(" ".join(_encode(w) for w in words) + "\n" for words in directives)
    out = parse_text(text.encode(), "f.conf")
    assert [list(line.words) for line in out] == directives
    assert [line.lineno for line in out] == list(range(1, len(directives) + 1))
    assert out.warnings == []


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_config_error(data: bytes) -> None:
    for parse in (lambda: parse_upsd_conf(parse_text(data, "upsd.conf"), "upsd.conf"),
                  lambda: parse_upsmon_conf(data.decode("latin-1"), require_monitor=False)):
        try:
            parse()
        except ConfigError as exc:
            assert "\n" not in str(exc)


@pytest.mark.parametrize(("text", "line"), [
    # The two examples: upsd silently listened on the defaults, and an
    # unclosed SHUTDOWNCMD swallowed the POWERDOWNFLAG line after it.
    (b'LISTEN "127.0.0.1 3502\nMAXAGE 5\n', 1),
    (b'MONITOR u 1 a b primary\nSHUTDOWNCMD "/sbin/poweroff\nPOWERDOWNFLAG /etc/killpower\n', 2),
    (b'A "x\\\ny\nB\n', 2),  # continued inside quotes, then left open on line 2
    (b'A b\nC "open at the end of the file', 2),
    (b'"\\', 1),  # found by the fuzz test: a continued quote at the end of the file
])
def test_unclosed_quote_is_one_error_naming_its_line(text: bytes, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "x.conf")
    assert info.value.lineno == line
    assert str(info.value).startswith(f"x.conf:{line}: missing closing quote")


def test_continuations_still_work_inside_and_outside_quotes() -> None:
    # A backslash after a blank starts an (empty) word, exactly as in NUT.
    out = parse_text(b'SHUTDOWNCMD "/sbin/shutdown \\\n-h now"\nA b\\\n  c\nD \\\n e\n',
                     "x.conf")
    assert [(line.words, line.lineno) for line in out] == [
        (("SHUTDOWNCMD", "/sbin/shutdown -h now"), 1), (("A", "b", "c"), 3),
        (("D", "", "e"), 5)]


def test_what_nut_drops_is_dropped_with_a_warning() -> None:
    text = (b"A " + b"w " * 40 + b"\n" + b"B " + b"x" * 600 + b"\n"
            + "desc = \"B\u00fcro\" # caf\u00e9 is fine in a comment\n".encode())
    out = parse_text(text, "x.conf")
    assert len(out[0].words) == 32 and out[1].words[1] == "x" * 512
    assert out[2].words == ("desc", "=", "Bro")
    assert out.warnings == [
        "x.conf:1: more than 32 words: the rest of the line is ignored (as NUT does)",
        "x.conf:2: a word longer than 512 characters is cut short (as NUT does)",
        "x.conf:3: byte 0xc3 is not printable ASCII and was dropped (as NUT does)",
    ]


@given(st.text(alphabet="0123456789+- \tsx", min_size=1, max_size=8))
@settings(max_examples=300)
def test_nut_int_reads_a_number_as_c_atoi_does(word: str) -> None:
    """What NUT reads with atoi, pnut reads the same (or ignores, with a warning,
    a word atoi would read as 0 for want of a number)."""
    from pnut.config.parser import ConfLine, nut_int
    from pnut.protocol.cnum import atoi

    warnings: list[str] = []
    value = nut_int(ConfLine(("POLLFREQ", word), 3, "upsmon.conf"), word, warnings)
    if value is None:
        assert atoi(word) == 0 and warnings
    else:
        assert value == atoi(word)
        plain = (word.lstrip("+-")[:1].isdigit() and word[1:].isdigit()) or word.isdigit()
        assert bool(warnings) == (not plain)  # a warning whenever atoi reads less than written
