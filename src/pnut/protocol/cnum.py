"""C's number parsing, where NUT's behaviour depends on it (one copy for all of pnut).

Only ASCII blanks, signs and digits count, as in the C locale: Python's own
``int()``/``float()`` would also take other Unicode digits and spaces.
"""

from __future__ import annotations

import re
from typing import Final

_BLANKS: Final = " \t\n\r\x0b\x0c"
_DIGITS: Final = "0123456789abcdef"
_FLOAT: Final = re.compile(
    r"[ \t\n\r\x0b\x0c]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


def strtol(text: str, base: int = 10) -> tuple[int, int]:
    """C's ``strtol(text, &end, base)`` for base 0 (C's auto: 0x hex, 0 octal), 8, 10
    or 16: the value and how many characters of ``text`` it used (0: no number, value 0).
    """
    i, n = 0, len(text)
    while i < n and text[i] in _BLANKS:
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    if (base in (0, 16) and text[i:i + 2] in ("0x", "0X") and i + 2 < n
            and text[i + 2].lower() in _DIGITS):
        base, i = 16, i + 2
    elif base == 0:
        base = 8 if text[i:i + 1] == "0" else 10
    digits = _DIGITS[:base]
    start, value = i, 0
    while i < n:
        d = digits.find(text[i].lower()) if len(text[i].lower()) == 1 else -1
        if d < 0:
            break
        value = value * base + d
        i += 1
    if i == start:
        return 0, 0
    return sign * value, i


def atoi(text: str) -> int:
    """C's ``atoi``/``strtol(s, NULL, 10)``: leading blanks, optional sign, leading
    ASCII digits; 0 when there are none.

    NUT compares SET values with ranges, reads TRACKING results and driver
    limits this way, so ``"12abc"`` is 12 and ``"x"`` is 0.
    """
    return strtol(text)[0]


def strtod(text: str) -> float:
    """C's ``strtod(text, NULL)`` for decimal numbers: the leading number, 0.0 if none.

    C also reads ``inf``, ``nan`` and hex floats; NUT's callers of it check for
    digits first, so those never reach it.
    """
    m = _FLOAT.match(text)
    return float(m.group(1)) if m else 0.0
