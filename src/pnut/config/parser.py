"""One reader for NUT's config syntax, shared by every config file kind.

A file becomes a :class:`ConfText`, a list of :class:`ConfLine` (words
plus line number); a tokenizer error, an unreadable file or a bad directive
is a :class:`ConfigError` that names the file, the line and the problem, so
that every daemon can print one clear line and exit non-zero.

No input is lost without a word (issue 11), and no line NUT 2.8.0 reads
stops a daemon from starting: what pnut reads differently, or NUT drops,
is a ``file:line:`` warning in :attr:`ConfText.warnings`, which every file
kind passes on to its daemon and to ``pnut check-config``.

Two readings differ from NUT's on purpose, because NUT's turns a typo into
lines nobody wrote:

- A quoted value left open at the end of its line ends there.  NUT reads on
  into the following lines (dropping their newlines), so an unclosed quote
  in SHUTDOWNCMD swallowed the POWERDOWNFLAG and MONITOR lines after it,
  and the first ``#`` of a comment below made the whole run a parse error,
  after which NUT read the comment's text as a directive.
- An unescaped ``#`` inside quotes is part of the value (``"UPS #1"``).  NUT
  drops the line as a parse error and reads the text after the ``#`` as a
  line of its own.

A backslash at the end of a line still continues it, inside quotes too.
What NUT truncates or drops and pnut keeps doing so (words after the 32nd,
characters after the 512th, bytes outside printable ASCII) is warned about
too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pnut.protocol.limits import MAX_ARGS, MAX_WORD_LEN
from pnut.protocol.tokens import Tokenizer

#: Compiled-in default of NUT's Debian build.
DEFAULT_CONFPATH = "/etc/nut"
DEFAULT_STATEPATH = "/run/nut"


class ConfigError(Exception):
    """A config problem: ``file:line: problem``."""

    def __init__(self, path: str | os.PathLike[str], lineno: int | None, problem: str) -> None:
        self.path = str(path)
        self.lineno = lineno
        self.problem = problem
        where = f"{self.path}:{lineno}" if lineno else self.path
        super().__init__(f"{where}: {problem}")


class LineIgnored(Exception):
    """A line NUT 2.8.0 logs and skips (or reads past): pnut skips it too, and
    the file kinds turn this into a ``file:line: problem: the line is ignored``
    warning instead of refusing to start."""


@dataclass(frozen=True, slots=True)
class ConfLine:
    words: tuple[str, ...]
    lineno: int
    path: str
    #: The physical line(s) this line was read from, as in the file.
    source: bytes = b""

    def error(self, problem: str) -> ConfigError:
        """For what NUT refuses too: the daemon does not start."""
        return ConfigError(self.path, self.lineno, problem)

    def ignored(self, problem: str) -> LineIgnored:
        """For what NUT logs and carries on with: a warning, the line skipped."""
        return LineIgnored(f"{self.path}:{self.lineno}: {problem}: the line is ignored")

    def rest_as_written(self) -> str | None:
        """The text after the first word as the file has it (quotes and
        backslashes kept; comment, continuations and dropped bytes gone), for
        a command a shell reads; None when the first word cannot be found in
        it (a quoted or escaped directive name)."""
        raw = _outside_comment(_CONTINUATION.sub(b"", self.source))
        match = _FIRST_WORD.match(_DROPPED_BYTE.sub(b"", raw).decode("ascii"))
        if match is None or match.group(1) != self.words[0]:
            return None
        return match.group(2).rstrip()


class ConfText(list[ConfLine]):
    """The lines of one file, plus warnings about input NUT would also drop."""

    def __init__(self, lines: list[ConfLine] | None = None, warnings: list[str] | None = None):
        super().__init__(lines or [])
        self.warnings: list[str] = warnings or []


#: Bytes the tokenizer drops (it keeps 0x20..0x7F and white space between words).
_DROPPED_BYTE = re.compile(rb"[^\x20-\x7f\t\r\n\x0b\x0c]")
_PHYSICAL = re.compile(rb"[^\n]*\n|[^\n]+")
_CONTINUATION = re.compile(rb"\\\r?\n")
_FIRST_WORD = re.compile(r"[ \t]*([^ \t]+)[ \t]+(.*)", re.DOTALL)
_UNCLOSED_QUOTE = ("missing closing quote: the value is read to the end of this line (NUT "
                   "reads on into the lines after it); close it with \", or end the line "
                   "with a backslash to continue it")
_HASH_IN_QUOTES = ("'#' inside quotes is read as part of the value (NUT drops this line as a "
                   "parse error and reads what follows the '#' as a line of its own); "
                   "write \\# to be clear")


def _outside_comment(raw: bytes) -> bytes:
    """The part of a physical line before an unquoted ``#`` (for warnings only)."""
    quoted = escaped = False
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
        elif ch == 0x5C:
            escaped = True
        elif ch == 0x22:
            quoted = not quoted
        elif ch == 0x23 and not quoted:
            return raw[:i]
    return raw


def _continues(raw: bytes) -> bool:
    """True when a physical line ends in an unescaped backslash (line continuation)."""
    body = raw[:-1] if raw.endswith(b"\n") else raw
    return (len(body) - len(body.rstrip(b"\\"))) % 2 == 1


def parse_text(text: bytes, path: str = "<string>") -> ConfText:
    """Tokenize a whole file; empty lines and comments are dropped.

    The tokenizer is fed one physical line at a time so that a line which
    leaves a logical line open is caught on the spot: that is either a
    continuation (a final backslash) or an unclosed quote, which is closed
    there.  Only an unreadable file is an error (:func:`read_conf`).
    """
    # One more word and character than NUT keeps, to tell when it truncates.
    tok = Tokenizer(max_args=MAX_ARGS + 1, max_word=MAX_WORD_LEN + 1, hash_in_quotes=True)
    out = ConfText()
    physical = _PHYSICAL.findall(text)
    for number, raw in enumerate(physical, 1):
        bad = _DROPPED_BYTE.search(_outside_comment(raw))
        if bad is not None:
            out.warnings.append(f"{path}:{number}: byte 0x{bad.group()[0]:02x} is not printable "
                                "ASCII and was dropped (as NUT does)")
        done = tok.feed(raw) if number < len(physical) or raw.endswith(b"\n") else \
            tok.feed(raw) + tok.finish()
        _hashes(out, tok, path)
        if tok.partial and not _continues(raw):
            out.warnings.append(f"{path}:{number}: {_UNCLOSED_QUOTE}")
            done += tok.cut()
        for line in done:
            _add(out, line.words, line.lineno, line.error, path,
                 b"".join(physical[line.lineno - 1 : number]))
    done = tok.finish()  # a file ending in a backslash
    if tok.partial:  # a backslash inside quotes at the very end of the file
        out.warnings.append(f"{path}:{len(physical)}: {_UNCLOSED_QUOTE}")
        done += tok.cut()
    for line in done:
        _add(out, line.words, line.lineno, line.error, path,
             b"".join(physical[line.lineno - 1 :]))
    return out


def _hashes(out: ConfText, tok: Tokenizer, path: str) -> None:
    for number in dict.fromkeys(tok.hash_lines):
        out.warnings.append(f"{path}:{number}: {_HASH_IN_QUOTES}")
    tok.hash_lines.clear()


def _add(out: ConfText, words: tuple[str, ...], lineno: int, error: str | None,
         path: str, source: bytes) -> None:
    if error is not None:  # none is left for config files; NUT logs and reads on
        out.warnings.append(f"{path}:{lineno}: {error}: line ignored (as NUT does)")
        return
    if not words:
        return
    if len(words) > MAX_ARGS:
        out.warnings.append(f"{path}:{lineno}: more than {MAX_ARGS} words: the rest of the "
                            "line is ignored (as NUT does)")
        words = words[:MAX_ARGS]
    if any(len(w) > MAX_WORD_LEN for w in words):
        out.warnings.append(f"{path}:{lineno}: a word longer than {MAX_WORD_LEN} characters "
                            "is cut short (as NUT does)")
        words = tuple(w[:MAX_WORD_LEN] for w in words)
    out.append(ConfLine(words, lineno, path, source))


def read_conf(path: str | os.PathLike[str]) -> ConfText:
    """Read and tokenize ``path``; a missing or unreadable file is an error."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc.strerror or exc}") from None
    return parse_text(data, str(path))


def confpath(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config dir: the flag, else ``NUT_CONFPATH``, else NUT's default."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("NUT_CONFPATH") or DEFAULT_CONFPATH)


def parse_bool(line: ConfLine, word: str) -> bool:
    """NUT's booleans: true/yes/on/1 and false/no/off/0, any case; else the
    line is ignored (:class:`LineIgnored`), as NUT ignores it."""
    low = word.lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise line.ignored(f"{line.words[0]}: expected a boolean (yes/no), got {word!r}")


def parse_int(line: ConfLine, word: str, minimum: int | None = None) -> int:
    """A plain whole number (NUT's str_to_int), else :class:`LineIgnored`."""
    try:
        value = int(word)
    except ValueError:
        raise line.ignored(f"{line.words[0]}: expected a whole number, got {word!r}") from None
    if minimum is not None and value < minimum:
        raise line.ignored(f"{line.words[0]}: {value} is below the minimum {minimum}")
    return value


_LEADING_INT = re.compile(r"[ \t]*([+-]?[0-9]+)")


def nut_int(line: ConfLine, word: str, warnings: list[str], *, minimum: int | None = None,
            signed: bool = True) -> int | None:
    """A number NUT reads with C's ``atoi``, read the same way, with a warning
    wherever that is not the plain number written.

    A daemon that refuses to start protects nobody, so where NUT takes
    ``15s`` as 15 pnut does too.  A value with no leading number (``0`` in
    NUT's atoi, or a line NUT ignores when it first checks for a digit:
    ``signed=False``) is ignored here: None, and the caller keeps what it
    had.  Below ``minimum`` the minimum is taken (NUT would use a value that
    makes no sense, such as POLLFREQ 0 or MAXAGE 0).
    """
    where = f"{line.path}:{line.lineno}: {line.words[0]}"
    match = _LEADING_INT.match(word) if signed or word[:1].isdigit() else None
    if match is None:
        warnings.append(f"{where} has a non-numeric value {word!r}: the line is ignored")
        return None
    value = int(match.group(1))
    if match.end() != len(word) or match.start(1) != 0:
        warnings.append(f"{where} {word!r} is read as {value}, as NUT reads it")
    if minimum is not None and value < minimum:
        warnings.append(f"{where} {value} is below the minimum {minimum}: using {minimum}")
        return minimum
    return value


def sections(lines: list[ConfLine], warnings: list[str]
             ) -> tuple[list[ConfLine], list[tuple[ConfLine, list[ConfLine]]]]:
    """Split ``[name]`` sections: (global lines, [(header, body), ...]).

    NUT takes any line whose first word is ``[...]`` as a header (and
    ignores the words after it), and sends the lines after a broken header
    (``[my ups]`` is two words, ``[ups`` has no ``]``) to the section before
    it, where they override that UPS's driver and port or that user's
    rights.  pnut ignores those lines up to the next header instead, and
    an empty name ``[]`` with them; each case is a ``file:line:`` warning.
    """
    head: list[ConfLine] = []
    out: list[tuple[ConfLine, list[ConfLine]]] = []
    body: list[ConfLine] | None = head
    for line in lines:
        first = line.words[0]
        where = f"{line.path}:{line.lineno}"
        if first.startswith("[") and first.endswith("]") and len(first) > 1:
            if len(line.words) > 1:
                warnings.append(f"{where}: the words after {first} are ignored, as NUT ignores "
                                "them")
            if first == "[]":
                warnings.append(f"{where}: empty section name []: the lines up to the next "
                                "section are ignored")
                body = None
                continue
            body = []
            out.append((line, body))
        elif first.startswith("["):
            warnings.append(f"{where}: malformed section header {' '.join(line.words)!r}: the "
                            "lines up to the next section are ignored (NUT would give them to "
                            "the section before)")
            body = None
        elif body is not None:
            body.append(line)
    return head, out


def section_name(header: ConfLine) -> str:
    return header.words[0][1:-1]


def warnings_of(lines: list[ConfLine]) -> list[str]:
    """The tokenizer's warnings for ``lines`` when they came from :func:`parse_text`."""
    return list(lines.warnings) if isinstance(lines, ConfText) else []


def did_you_mean(word: str, known: Iterable[str], *, upper: bool = False) -> str:
    """`` (did you mean 'X'?)`` for a misspelt name, else an empty string.

    ``upper``: the names are upper-case keywords, so a lower-case spelling of
    a known one gets a hint about case instead of a guess.
    """
    try:  # only for a misspelt name: not worth its memory in every daemon
        import difflib
    except ImportError:  # a reload after giving up root, Python's files unreadable: no hint
        return ""

    names = list(known)
    if upper and word != word.upper() and word.upper() in names:
        return f" (directives are upper-case: {word.upper()})"
    by_low = {n.lower(): n for n in names}
    close = difflib.get_close_matches(word.lower(), list(by_low), n=1, cutoff=0.7)
    if not close:  # two letters swapped in a short word (FDS for FSD)
        close = [n for n in by_low if n != word.lower() and sorted(n) == sorted(word.lower())]
    return f" (did you mean {by_low[close[0]]!r}?)" if close else ""
