"""pnut.protocol.cnum reads numbers as C's atoi/strtol/strtod in the C locale do."""

from __future__ import annotations

import pytest

from pnut.protocol.cnum import atoi, strtod, strtol


@pytest.mark.parametrize(("text", "base", "expected"), [
    ("  -12abc", 10, (-12, 5)), ("+7", 10, (7, 2)), ("x", 10, (0, 0)), ("-", 10, (0, 0)),
    ("", 10, (0, 0)), ("0042 ", 10, (42, 4)), ("5A", 16, (0x5A, 2)), ("0x1f", 16, (31, 4)),
    ("zz", 16, (0, 0)), ("0x1F", 0, (31, 4)), ("010", 0, (8, 3)), ("0", 0, (0, 1)),
    ("0xg", 0, (0, 1)), (" 42abc", 0, (42, 3)), ("-7", 0, (-7, 2)), ("09", 0, (0, 1)),
    ("\u0663", 10, (0, 0)),  # ARABIC-INDIC DIGIT THREE: not a digit to C
    ("\u00a012", 10, (0, 0)),  # NO-BREAK SPACE: not a blank to C
])
def test_strtol_like_c(text: str, base: int, expected: tuple[int, int]) -> None:
    assert strtol(text, base) == expected
    if base == 10:
        assert atoi(text) == expected[0]


@pytest.mark.parametrize(("text", "expected"), [
    (" 12.5x", 12.5), ("abc", 0.0), ("", 0.0), ("-.5", -0.5), ("1e3V", 1000.0),
    ("7.", 7.0), ("\u0663.5", 0.0),
])
def test_strtod_like_c(text: str, expected: float) -> None:
    assert strtod(text) == expected
