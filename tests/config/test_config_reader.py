"""The config reader never loses input without a word (issue 11, item 2).

Every daemon reads its files through :func:`pnut.config.parser.parse_text`.
Whatever bytes a file holds, the reader returns lines, with a ``file:line:``
warning for what NUT also drops or reads differently; it never raises (a
UPS daemon that does not start protects nobody), and every physical line
that holds a directive starts a line of the result.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnut.config.parser import ConfigError, parse_text
from pnut.config.ups_conf import parse_ups_conf
from pnut.config.upsd_conf import parse_upsd_conf
from pnut.config.upsmon_conf import parse_upsmon_conf
from pnut.config.upssched_conf import parse_lines as parse_upssched
from pnut.config.users import parse_users
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
def test_every_directive_line_is_kept_with_warnings_naming_lines(lines: list[bytes],
                                                             final_newline: bool) -> None:
    text = b"\n".join(lines) + (b"\n" if final_newline else b"")
    out = parse_text(text, "f.conf")  # whatever the bytes: NUT reads on, so does pnut
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


def _every_reader(data: bytes) -> list[Callable[[], object]]:
    """``data`` read as each of the five file kinds, one call each."""
    return [lambda: parse_upsd_conf(parse_text(data, "upsd.conf"), "upsd.conf"),
            lambda: parse_upsmon_conf(data.decode("latin-1"), require_monitor=False),
            lambda: parse_ups_conf(parse_text(data, "ups.conf"), "ups.conf"),
            lambda: parse_users(parse_text(data, "upsd.users"), "upsd.users"),
            lambda: parse_upssched(parse_text(data, "upssched.conf"), "upssched.conf")]


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_config_error(data: bytes) -> None:
    """What is not a ConfigError (which NUT refuses too) must be a warning: no
    LineIgnored or other exception may escape a file kind's reader."""
    for parse in _every_reader(data):
        try:
            parse()
        except ConfigError as exc:
            assert "\n" not in str(exc)


@pytest.mark.parametrize(("text", "line", "words"), [
    # The two examples: upsd silently listened on the defaults, and an
    # unclosed SHUTDOWNCMD swallowed the POWERDOWNFLAG line after it.
    (b'LISTEN "127.0.0.1 3502\nMAXAGE 5\n', 1,
     [("LISTEN", "127.0.0.1 3502"), ("MAXAGE", "5")]),
    (b'MONITOR u 1 a b primary\nSHUTDOWNCMD "/sbin/poweroff\nPOWERDOWNFLAG /etc/killpower\n', 2,
     [("MONITOR", "u", "1", "a", "b", "primary"), ("SHUTDOWNCMD", "/sbin/poweroff"),
      ("POWERDOWNFLAG", "/etc/killpower")]),
    # NUT would read the comment's text as a directive after the '#' broke the run.
    (b'STATEPATH "/run/nut\n# LISTEN 0.0.0.0 3493\nMAXAGE 5\n', 1,
     [("STATEPATH", "/run/nut"), ("MAXAGE", "5")]),
    (b'A "x\\\ny\nB\n', 2, [("A", "xy"), ("B",)]),  # continued in quotes, left open on line 2
    (b'A b\nC "open at the end of the file', 2, [("A", "b"), ("C", "open at the end of the file")]),
    (b'"\\', 1, [("",)]),  # found by the fuzz test: a continued quote at the end of the file
])
def test_unclosed_quote_ends_at_its_line_with_a_warning(text: bytes, line: int,
                                                         words: list[tuple[str, ...]]) -> None:
    """NUT reads an unclosed quote on into the following lines; pnut closes it at
    the end of its line, so every following line counts as written, and warns."""
    out = parse_text(text, "x.conf")
    assert [x.words for x in out] == words
    assert out.warnings == [f"x.conf:{line}: missing closing quote: the value is read to the "
                            "end of this line (NUT reads on into the lines after it); close it "
                            'with ", or end the line with a backslash to continue it']


def test_hash_inside_quotes_is_part_of_the_value_with_a_warning() -> None:
    """NUT drops such a line as a parse error and parses what follows the '#' as a
    line of its own; pnut reads the value as written."""
    out = parse_text(b'NOTIFYMSG ONBATT "UPS #1 on battery" # a comment\n'
                     b'password = "a#b"\nX "no hash" # "#"\n', "x.conf")
    assert [x.words for x in out] == [("NOTIFYMSG", "ONBATT", "UPS #1 on battery"),
                                      ("password", "=", "a#b"), ("X", "no hash")]
    warning = ("'#' inside quotes is read as part of the value (NUT drops this line as a parse "
               "error and reads what follows the '#' as a line of its own); write \\# to be "
               "clear")
    assert out.warnings == [f"x.conf:1: {warning}", f"x.conf:2: {warning}"]


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


#: Directive names of every file kind, and words that stress their values.
_KEYS = ["LISTEN", "MAXAGE", "MAXCONN", "ALLOW_NO_DEVICE", "CERTREQUEST", "DEBUG_MIN",
         "HTTP_LISTEN", "TLS_MIN_VERSION", "IDLE_TIMEOUT", "MONITOR", "MINSUPPLIES", "POLLFREQ",
         "FORCESSL", "CERTHOST", "CERTPIN", "NOTIFYURL", "NOTIFYFLAG", "SHUTDOWNCMD",
         "SHUTDOWNEXIT", "NOTIFY_LOAD_ABOVE", "AT", "CMDSCRIPT", "PIPEFN", "LOCKFN", "[u]",
         "[a b", "[]", "password", "upsmon", "actions", "driver", "port"]
_VALUES = ["", "0", "-1", "1x", "99999", "yes", "maybe", "=", "u@h", "u@h:0", "@", "[::1",
           "ONBATT", "START-TIMER", "EXECUTE", "primary", "http://h/", "$argon2id$x", "*"]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(_KEYS), st.lists(st.sampled_from(_VALUES),
                                                              max_size=6)), max_size=8))
def test_directive_shaped_lines_start_or_fail_only_as_nut_does(
        lines: list[tuple[str, list[str]]]) -> None:
    """Lines built from real directive names: every reader returns (with
    warnings) or raises one of the few ConfigErrors NUT shares, never anything
    else."""
    text = "".join(" ".join([key, *(quote(w) for w in words)]) + "\n" for key, words in lines)
    data = ("CMDSCRIPT /x\nPIPEFN /p\nLOCKFN /l\n" + text).encode()
    for parse in _every_reader(data):
        try:
            parse()
        except ConfigError as exc:
            assert re.search(r"port|old-style MONITOR", str(exc)), str(exc)
