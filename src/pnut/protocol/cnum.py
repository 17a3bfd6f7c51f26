"""C's number parsing, where NUT's behaviour depends on it (one copy for all of pnut)."""

from __future__ import annotations

_BLANKS = " \t\n\r\x0b\x0c"


def atoi(text: str) -> int:
    """C's ``atoi``/``strtol(s, NULL, 10)``: leading blanks, optional sign, leading
    ASCII digits; 0 when there are none.

    NUT compares SET values with ranges, reads TRACKING results and driver
    limits this way, so ``"12abc"`` is 12 and ``"x"`` is 0.
    """
    s = text.lstrip(_BLANKS)
    sign = -1 if s[:1] == "-" else 1
    if s[:1] in ("+", "-"):
        s = s[1:]
    n = 0
    for ch in s:
        if not "0" <= ch <= "9":
            break
        n = n * 10 + ord(ch) - 48
    return sign * n
