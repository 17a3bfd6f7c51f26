"""The reference stack itself works: Debian's upsd serves a .dev file."""

from __future__ import annotations

from conftest import requires_nut
from support import Ups, stack


@requires_nut
def test_nut_reference_stack_serves_dev_file(apc_dev: str) -> None:
    with stack([Ups("apc", apc_dev, desc="APC test")]) as st:
        reply = st.talk(["GET VAR apc battery.charge", "LIST UPS"])
    assert reply == [
        'VAR apc battery.charge "100"',
        "BEGIN LIST UPS",
        'UPS apc "APC test"',
        "END LIST UPS",
    ]
