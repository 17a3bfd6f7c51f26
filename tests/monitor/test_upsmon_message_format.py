"""NOTIFYMSG templates become the message NUT 2.8.0 builds with
``snprintf(msg, sizeof msg, template, ups->sys)``: compared with the C
library's own snprintf for every template whose meaning C defines (one
string conversion at most, ``%%``, no other ``%``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnut.monitor.events import MAX_MESSAGE_LEN, format_message

LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
SYSTEM = "ups@127.0.0.1:3493"
#: One piece of a template: text, %%, or a string conversion with flags,
#: width and precision.
PIECE = st.one_of(
    st.text(alphabet="abc %-.0123456789s", min_size=1, max_size=4).map(
        lambda t: t.replace("%", "")),
    st.just("%%"),
    st.builds(lambda flags, width, precision: f"%{flags}{width}{precision}s",
              st.text(alphabet="-+ #0'", max_size=3),
              st.sampled_from(["", "1", "7", "25", "40"]),
              st.sampled_from(["", ".", ".0", ".3", ".12", ".40"])),
)
CONVERSION = re.compile(r"%[-+ #0']*[0-9]*(?:\.[0-9]*)?s")


def c_format(template: str, system: str) -> str:
    buf = ctypes.create_string_buffer(MAX_MESSAGE_LEN + 1)
    LIBC.snprintf(buf, len(buf), template.encode(), system.encode())
    return buf.value.decode()


@given(st.lists(PIECE, max_size=6).map("".join))
def test_same_message_as_the_c_library(template: str) -> None:
    if len(CONVERSION.findall(template.replace("%%", ""))) > 1:
        return  # C would read a second argument that is not there
    assert format_message(template, SYSTEM) == c_format(template, SYSTEM)


@pytest.mark.parametrize(("template", "out"), [
    ("100% sure", f"100{SYSTEM}ure"),  # "% s": printf's space flag, then s
    ("[%-22.7s]", f"[{SYSTEM[:7]:<22}]"),
    ("[%22s]", f"[{SYSTEM:>22}]"),
    ("[%.s]", "[]"),
    ("%s" + "x" * 600, (SYSTEM + "x" * 600)[:MAX_MESSAGE_LEN]),
    ("[%999999s]", "[" + " " * (MAX_MESSAGE_LEN - 1)),
])
def test_printf_conversions(template: str, out: str) -> None:
    assert format_message(template, SYSTEM) == out
    assert c_format(template, SYSTEM) == out
