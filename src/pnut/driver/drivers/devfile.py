"""dummy-ups definition files (``.dev`` dumps and ``.seq`` sequences) — sans IO.

A file is read whole with NUT's tokenizer into a list of steps:

* ``name: value words...`` — :class:`Assign` (the value is the remaining
  words joined by one space, exactly as dummy-ups joins them; ``name:``
  alone means "delete");
* ``TIMER <seconds>`` — :class:`Timer`: stop here, resume after that long;
* ``ALARM words...`` / ``ALARM`` — :class:`Alarm` (NUT 2.8.4's addition: add
  an alarm text / clear them).

NUT parses these files lazily and skips what it cannot read; pnut checks
the whole file up front and refuses it with ``file:line: problem`` (see
docs/compat.md), so a typo is found at start-up, not an hour into a
sequence.  :class:`Sequence` then walks the steps the way dummy-ups does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pnut.config.parser import ConfigError, ConfLine, parse_text

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
#: Longest TIMER pause accepted (a day); NUT takes any int.
MAX_TIMER = 86400


@dataclass(frozen=True, slots=True)
class Assign:
    name: str
    words: tuple[str, ...]
    lineno: int

    @property
    def value(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True, slots=True)
class Timer:
    seconds: int
    lineno: int


@dataclass(frozen=True, slots=True)
class Alarm:
    text: str  # empty: clear every alarm
    lineno: int


Step = Assign | Timer | Alarm


def _step(line: ConfLine) -> Step:
    first, rest = line.words[0], line.words[1:]
    if first == "TIMER":
        if len(rest) != 1:
            raise line.error("TIMER needs exactly one argument: the pause in seconds")
        if not rest[0].isdigit() or int(rest[0]) > MAX_TIMER:
            raise line.error(f"TIMER: {rest[0]!r} is not a number of seconds (0..{MAX_TIMER})")
        return Timer(int(rest[0]), line.lineno)
    if first == "ALARM":
        return Alarm(" ".join(rest), line.lineno)
    name, colon, tail = first.partition(":")
    if not colon:
        raise line.error(f"expected '<variable>: <value>', got {' '.join(line.words)[:80]!r}")
    if tail:
        raise line.error(f"missing space after ':' in {first!r}")
    if not _NAME.match(name):
        raise line.error(f"{name!r} is not a variable name")
    return Assign(name, rest, line.lineno)


def parse_dev(data: bytes, path: str) -> list[Step]:
    """Every step of a definition file; ConfigError names the first bad line."""
    return [_step(line) for line in parse_text(data, path)]


def check_dev(data: bytes, path: str) -> list[Step]:
    steps = parse_dev(data, path)
    if not steps:
        raise ConfigError(path, None, "the file defines no variables")
    return steps


class Sequence:
    """Where dummy-ups is in its file: a cursor over the steps, plus the pause.

    :meth:`advance` returns the steps to apply now and whether a full pass
    just ended (the cursor went back to the top).  ``pause_until`` is the
    monotonic time a TIMER asked to wait for.
    """

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.pos = 0
        self.pause_until: float | None = None
        self.passes = 0

    def restart(self, steps: list[Step]) -> None:
        self.steps = steps
        self.pos = 0
        self.pause_until = None

    @property
    def at_top(self) -> bool:
        return self.pos == 0

    def advance(self, now: float) -> tuple[list[Step], bool]:
        """Steps up to the next TIMER (or the end of the file)."""
        if self.pause_until is not None and now < self.pause_until:
            return [], False
        self.pause_until = None
        out: list[Step] = []
        while self.pos < len(self.steps):
            step = self.steps[self.pos]
            self.pos += 1
            if isinstance(step, Timer):
                self.pause_until = now + step.seconds
                if self.pos >= len(self.steps):
                    self.pos = 0
                    self.passes += 1
                    return out, True
                return out, False
            out.append(step)
        self.pos = 0
        self.passes += 1
        return out, True
