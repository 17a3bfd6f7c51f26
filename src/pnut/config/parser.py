"""One reader for NUT's config syntax, shared by every config file kind.

A file becomes a list of :class:`ConfLine` (words plus line number); a
tokenizer error, an unreadable file or a bad directive is a
:class:`ConfigError` that names the file, the line and the problem, so
that every daemon can print one clear line and exit non-zero.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True, slots=True)
class ConfLine:
    words: tuple[str, ...]
    lineno: int
    path: str

    def error(self, problem: str) -> ConfigError:
        return ConfigError(self.path, self.lineno, problem)


def parse_text(text: bytes, path: str = "<string>") -> list[ConfLine]:
    """Tokenize a whole file; empty lines and comments are dropped."""
    tok = Tokenizer()
    lines = tok.feed(text) + tok.finish()
    out: list[ConfLine] = []
    for line in lines:
        if line.error is not None:
            raise ConfigError(path, line.lineno, line.error)
        if line.words:
            out.append(ConfLine(line.words, line.lineno, path))
    return out


def read_conf(path: str | os.PathLike[str]) -> list[ConfLine]:
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
    """NUT's booleans: true/yes/on/1 and false/no/off/0, any case."""
    low = word.lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise line.error(f"expected a boolean (yes/no), got {word!r}")


def parse_int(line: ConfLine, word: str, minimum: int | None = None) -> int:
    try:
        value = int(word)
    except ValueError:
        raise line.error(f"expected a whole number, got {word!r}") from None
    if minimum is not None and value < minimum:
        raise line.error(f"{value} is below the minimum {minimum}")
    return value


def sections(lines: list[ConfLine]) -> tuple[list[ConfLine], list[tuple[ConfLine, list[ConfLine]]]]:
    """Split ``[name]`` sections: (global lines, [(header, body), ...])."""
    head: list[ConfLine] = []
    out: list[tuple[ConfLine, list[ConfLine]]] = []
    for line in lines:
        first = line.words[0]
        if first.startswith("[") and first.endswith("]") and len(line.words) == 1:
            name = first[1:-1]
            if not name:
                raise line.error("empty section name []")
            out.append((line, []))
        elif first.startswith("["):
            raise line.error(f"malformed section header {' '.join(line.words)!r}")
        elif out:
            out[-1][1].append(line)
        else:
            head.append(line)
    return head, out


def section_name(header: ConfLine) -> str:
    return header.words[0][1:-1]
