"""NUT's line tokenizer ("parseconf") and value encoder.

How this works
--------------
Network requests, driver-socket messages and every config file share one
grammar: words split on ASCII white space, ``"..."`` groups a word (``""``
is an empty word), ``\\x`` takes ``x`` literally, ``#`` at a word start or
inside an unquoted word starts a comment, an unescaped ``#`` inside quotes
is a parse error (in config files, with ``hash_in_quotes``, part of the
word: :mod:`pnut.config.parser`), ``=`` is always a word of its own, bytes outside
0x20..0x7F are dropped, and a line keeps at most ``MAX_ARGS`` words of at
most ``MAX_WORD_LEN`` characters.

:class:`Tokenizer` is incremental: feed it bytes as they arrive, it yields
one :class:`Line` per finished line.  Most lines are plain words, so a fast
path splits them with ``bytes.split``; anything with quotes, escapes,
comments, ``=`` or odd bytes goes through the state machine below, which is
a faithful port of NUT's.  The machine takes runs of ordinary bytes and
escape pairs (inside a word, inside quotes, white space, a comment) a whole
regex match at a time, so hostile input costs C speed, not a Python call
per byte; :meth:`Tokenizer._step` stays the one-byte reference, and the
fuzz tests check that both agree.  Once a line has ``MAX_ARGS`` words, the
rest of it up to the next newline byte is skipped unparsed (NUT keeps
parsing words it then drops; docs/compat.md).  Memory is bounded whatever arrives: an
unterminated line longer than ``MAX_PENDING_LINE`` is streamed through the
state machine, which keeps only truncated words.

Deviation (docs/compat.md): after a parse error NUT resumes parsing in the
middle of the broken line (and upsd drops the rest of its 512-byte read);
here the rest of that line is skipped, whatever the packet boundaries.
"""

from __future__ import annotations

import re
from enum import Enum, auto
from typing import Final, NamedTuple

from pnut.protocol.limits import MAX_ARGS, MAX_PENDING_LINE, MAX_WORD_LEN

_SPACE: Final = frozenset(b" \t\r\x0b\x0c")
_NEWLINE: Final = 0x0A
# A line the fast path may split: printable ASCII and white space, none of
# the characters that change the grammar.
_SIMPLE: Final = re.compile(rb'[^"\\#=\x00-\x08\x0a\x0e-\x1f\x80-\xff]*')
# Whole reads of such lines (newlines allowed): one match, one decode.
_SIMPLE_LINES: Final = re.compile(rb'[^"\\#=\x00-\x08\x0e-\x1f\x80-\xff]*')
# Characters the encoder escapes (pconf_encode).
_ESCAPE_RE: Final = re.compile(r'([#\\"])')
_NEEDS_QUOTES: Final = re.compile(r"[\s=]|^$")
# Runs the state machine may take at once: ordinary bytes of an unquoted
# word, of a quoted word (newlines included: quotes span lines), and blanks.
_WORD_RUN: Final = re.compile(rb'(?:[^\t\n\x0b\x0c\r #=\\]+|\\[\s\S])+')
_QUOTED_RUN: Final = re.compile(rb'(?:[^"#\\]+|\\[\s\S])+')
_ESCAPED: Final = re.compile(rb"\\([\s\S])")
_BLANK_RUN: Final = re.compile(rb"[\t\x0b\x0c\r ]+")
# Bytes _addchar drops (outside 0x20..0x7F).
_DROPPED: Final = bytes(range(0x20)) + bytes(range(0x80, 0x100))


class _State(Enum):
    WORDSTART = auto()
    SKIP_TO_EOL = auto()
    QUOTED = auto()
    QUOTED_LITERAL = auto()
    WORD = auto()
    WORD_LITERAL = auto()
    ERROR = auto()


_WORDSTART: Final = _State.WORDSTART


class Line(NamedTuple):
    """One logical line: its words, or the parse error that broke it.

    A named tuple rather than a frozen dataclass: one is built per request
    on the server's hot path, and tuples are several times cheaper to make.
    """

    words: tuple[str, ...]
    lineno: int
    error: str | None = None


class Tokenizer:
    """Incremental, bounded port of NUT's parseconf state machine."""

    # One per client connection: slots make it smaller and quicker to make.
    __slots__ = ("_error", "_hash_in_quotes", "_line_start", "_max_args", "_max_word",
                 "_pending", "_state", "_word", "_words", "hash_lines", "lineno", "partial")

    def __init__(self, max_args: int = MAX_ARGS, max_word: int = MAX_WORD_LEN, *,
                 hash_in_quotes: bool = False) -> None:
        self._max_args = max_args
        self._max_word = max_word
        #: Config files (pnut.config.parser): an unescaped ``#`` inside quotes
        #: is part of the word, and its physical line goes to :attr:`hash_lines`,
        #: instead of NUT's parse error.
        self._hash_in_quotes = hash_in_quotes
        self.hash_lines: list[int] = []
        self._pending = bytearray()
        self._state = _State.WORDSTART
        self._word = bytearray()
        self._words: list[str] = []
        self._error: str | None = None
        #: Physical line number of the next byte (1-based), for file errors.
        self.lineno = 1
        self._line_start = 1
        #: True while bytes of an unfinished line are held (set by :meth:`feed`).
        self.partial = False

    # -- public ---------------------------------------------------------
    def feed(self, data: bytes) -> list[Line]:
        """Consume ``data``; return every line it completed."""
        if data[-1:] == b"\n" and not self._pending and self._state is _WORDSTART \
                and not self._words and not self._word and _SIMPLE_LINES.fullmatch(data):
            return self._feed_simple(data)
        out: list[Line] = []
        if self._pending:
            data = bytes(self._pending) + data
            self._pending.clear()
        start = 0
        size = len(data)
        while start < size:
            nl = data.find(b"\n", start)
            if self._state is not _State.WORDSTART or self._words or self._word:
                # The state machine is inside a line (quotes, continuation,
                # or a streamed over-long line): it takes bytes to the newline.
                end = size if nl < 0 else nl + 1
                self._run(data[start:end], out)
                start = end
                continue
            if nl < 0:
                rest = data[start:]
                if len(rest) > MAX_PENDING_LINE:
                    self._line_start = self.lineno
                    self._run(rest, out)
                else:
                    self._pending += rest
                break
            raw = data[start:nl]
            if _SIMPLE.fullmatch(raw) is not None:
                out.append(Line(self._split_simple(raw), self.lineno))
                self.lineno += 1
            else:
                self._line_start = self.lineno
                self._run(data[start : nl + 1], out)
            start = nl + 1
        self.partial = bool(self._pending) or self._state is not _State.WORDSTART \
            or bool(self._words) or bool(self._word)
        return out

    def _idle(self) -> bool:
        return self._state is _State.WORDSTART and not self._words and not self._word

    def finish(self) -> list[Line]:
        """End of input: a last line without newline still counts (files)."""
        if self._pending or not self._idle():
            return self.feed(b"\n")
        return []


    def cut(self) -> list[Line]:
        """End the current line here, as a newline outside quotes would.

        For a line too long to be legal: the caller then skips its rest
        unread (:class:`pnut.server.connection.Connection`).
        """
        out: list[Line] = []
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            self._line_start = self.lineno
            self._run(data, out)
        if self._idle():
            self.partial = False
            return out
        if self._state in (_State.WORD, _State.WORD_LITERAL, _State.QUOTED,
                           _State.QUOTED_LITERAL):
            self._endword()
        self._emit(out)
        self.partial = False
        return out

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished line (bounded)."""
        return len(self._pending) + len(self._word) + sum(len(w) for w in self._words)

    # -- fast path ------------------------------------------------------
    def _feed_simple(self, data: bytes) -> list[Line]:
        """Whole lines of plain words (what clients send): as the loop in
        :meth:`feed` would split them, one line at a time through
        :meth:`_split_simple`, without the per-line state checks."""
        rows = data.decode("ascii").split("\n")
        rows.pop()  # after the last newline: empty
        lineno = self.lineno
        max_args, limit = self._max_args, self._max_word
        out: list[Line] = []
        for row in rows:
            words = row.split()
            if len(words) > max_args:
                del words[max_args:]
            if len(row) > limit:
                words = [w[:limit] for w in words]
            out.append(Line(tuple(words), lineno))
            lineno += 1
        self.lineno = lineno
        self.partial = False
        return out

    def _split_simple(self, raw: bytes) -> tuple[str, ...]:
        # The fast path's line is printable ASCII, so decoding first is safe
        # and str.split() sees the same white space as bytes.split().
        words = raw.decode("ascii").split()
        if len(words) > self._max_args:
            del words[self._max_args :]
        limit = self._max_word
        if len(raw) > limit:
            words = [w[:limit] for w in words]
        return tuple(words)

    # -- state machine --------------------------------------------------
    def _run(self, data: bytes, out: list[Line]) -> None:
        i, size = 0, len(data)
        while i < size:
            state = self._state
            if len(self._words) >= self._max_args and state is not _State.ERROR:
                # Every further word would be dropped: skip to the line's end.
                self._state = _State.WORDSTART
                self._word.clear()
                nl = data.find(b"\n", i)
                if nl < 0:
                    return
                i = nl
            elif state is _State.WORD or state is _State.QUOTED:
                m = (_WORD_RUN if state is _State.WORD else _QUOTED_RUN).match(data, i)
                if m is not None:
                    run = m.group()
                    self.lineno += run.count(b"\n")
                    if len(self._word) < self._max_word:
                        self._add_run(run)
                    i = m.end()
                    continue
            elif state is _State.WORDSTART:
                m = _BLANK_RUN.match(data, i)
                if m is not None:
                    i = m.end()
                    continue
            elif state is _State.SKIP_TO_EOL or state is _State.ERROR:
                nl = data.find(b"\n", i)
                if nl < 0:
                    return
                i = nl
            if self._step(data[i]):
                self._emit(out)
            i += 1

    def _add_run(self, run: bytes) -> None:
        """Add a run of word bytes and escape pairs, as many _step calls would.

        Only as much of a long run is decoded as can still reach the word,
        in pieces cut between escape pairs.
        """
        pos, size = 0, len(run)
        while pos < size:
            room = self._max_word - len(self._word)
            if room <= 0:
                return
            cut = min(size, pos + 4 * room + 64)
            if cut < size:
                k = cut
                while k > pos and run[k - 1] == 0x5C:  # a backslash starts a pair
                    k -= 1
                cut += (cut - k) % 2
            piece = run[pos:cut]
            if b"\\" in piece:
                piece = _ESCAPED.sub(rb"\1", piece)
            self._word += piece.translate(None, _DROPPED)[:room]
            pos = cut

    def _run_bytewise(self, data: bytes, out: list[Line]) -> None:
        """The reference: one :meth:`_step` per byte (tests compare with :meth:`_run`)."""
        for ch in data:
            if self._step(ch):
                self._emit(out)

    def _emit(self, out: list[Line]) -> None:
        if self._error is not None:
            out.append(Line(tuple(self._words), self._line_start, self._error))
        else:
            out.append(Line(tuple(self._words), self._line_start))
        self._words = []
        self._word.clear()
        self._error = None
        self._state = _State.WORDSTART
        self._line_start = self.lineno

    def _addchar(self, ch: int) -> None:
        if ch < 0x20 or ch > 0x7F:
            return
        if len(self._word) < self._max_word:
            self._word.append(ch)

    def _endword(self) -> None:
        if len(self._words) < self._max_args:
            self._words.append(self._word.decode("ascii"))
        self._word.clear()

    def _step(self, ch: int) -> bool:
        """Advance one byte; True when a logical line ended."""
        state = self._state
        if ch == _NEWLINE:
            self.lineno += 1
        if state is _State.WORDSTART:
            if ch == _NEWLINE:
                return True
            if ch == 0x23:  # '#'
                self._state = _State.SKIP_TO_EOL
            elif ch in _SPACE:
                pass
            elif ch == 0x5C:  # '\\'
                self._state = _State.WORD_LITERAL
            elif ch == 0x22:  # '"'
                self._state = _State.QUOTED
            else:
                self._addchar(ch)
                if ch == 0x3D:  # '=' is a word of its own
                    self._endword()
                else:
                    self._state = _State.WORD
        elif state is _State.WORD:
            if ch == 0x23:
                self._endword()
                self._state = _State.SKIP_TO_EOL
            elif ch == _NEWLINE:
                self._endword()
                return True
            elif ch in _SPACE:
                self._endword()
                self._state = _State.WORDSTART
            elif ch == 0x3D:
                self._endword()
                self._addchar(ch)
                self._endword()
                self._state = _State.WORDSTART
            elif ch == 0x5C:
                self._state = _State.WORD_LITERAL
            else:
                self._addchar(ch)
        elif state is _State.QUOTED:
            if ch == 0x23 and self._hash_in_quotes:
                self._addchar(ch)
                self.hash_lines.append(self.lineno)
            elif ch == 0x23:
                self._error = "Unbalanced word due to unescaped # in quotes"
                self._endword()
                self._state = _State.ERROR
            elif ch == 0x22:
                self._endword()
                self._state = _State.WORDSTART
            elif ch == 0x5C:
                self._state = _State.QUOTED_LITERAL
            else:
                self._addchar(ch)
        elif state is _State.QUOTED_LITERAL:
            if ch != _NEWLINE:
                self._addchar(ch)
            self._state = _State.QUOTED
        elif state is _State.WORD_LITERAL:
            if ch != _NEWLINE:
                self._addchar(ch)
            self._state = _State.WORD
        else:  # SKIP_TO_EOL and ERROR both wait for the newline
            return ch == _NEWLINE
        return False


def split_line(line: str | bytes) -> list[str]:
    """Tokenize one complete line; raise ``ValueError`` on a parse error."""
    raw = line.encode("latin-1") if isinstance(line, str) else line
    tok = Tokenizer()
    lines = tok.feed(raw if raw.endswith(b"\n") else raw + b"\n")
    if not lines:
        return []
    first = lines[0]
    if first.error is not None:
        raise ValueError(first.error)
    return list(first.words)


def escape(value: str) -> str:
    """NUT's pconf_encode: backslash before ``#``, ``\\`` and ``"``."""
    if '"' not in value and "\\" not in value and "#" not in value:
        return value
    return _ESCAPE_RE.sub(r"\\\1", value)


def quote(value: str) -> str:
    """A value as it appears between quotes in a reply: ``"escaped"``."""
    return f'"{escape(value)}"'


def quote_word(value: str) -> str:
    """A request argument as NUT's clients send it (upsclient build_cmd).

    Escaped always; wrapped in quotes only when it would not survive as one
    bare word (spaces, ``=``, empty).
    """
    if _NEEDS_QUOTES.search(value):
        return quote(value)
    return escape(value)
