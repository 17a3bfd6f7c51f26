"""The HID report descriptor parser and field codec (sans I/O)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pnut.driver.hid.parser import TYPE_FEATURE, Field, get_value, parse, set_value

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "usb"


def _desc(name: str) -> bytes:
    doc = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return bytes.fromhex(doc["report_descriptor"])


def test_recorded_descriptor_fields_and_lengths() -> None:
    desc = parse(_desc("apc-bk650m2.json"))
    # NUT 2.8.0 reports "71 HID objects found" for this descriptor.
    assert len(desc.fields) == 71
    charge = [f for f in desc.fields if f.report_id == 0x0C and f.kind == TYPE_FEATURE]
    assert [(f.offset, f.size) for f in charge] == [(0, 8)]
    # NUT's log: "refresh_report_buffer: expected 5 bytes" for report 0x16.
    assert desc.replen[0x16] + 1 == 5
    # LogMax -1 (0xff) below LogMin 0 is read as 255, as NUT does.
    assert charge[0].logmax == 255


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_parse_never_raises(data: bytes) -> None:
    desc = parse(data)
    for f in desc.fields:
        assert 0 <= f.offset < 256
        buf = bytes(desc.replen.get(f.report_id, 0) + 1)
        value = get_value(buf, f)
        assert f.logmin <= value <= f.logmax or f.logmin > f.logmax


@given(st.integers(0, 200), st.integers(1, 32), st.integers(-(2**31), 2**31 - 1),
       st.booleans())
def test_set_then_get_roundtrip(offset: int, size: int, value: int, signed: bool) -> None:
    if signed:
        lo, hi = -(1 << (size - 1)), (1 << (size - 1)) - 1
    else:
        lo, hi = 0, (1 << size) - 1
    f = Field((1,), 1, TYPE_FEATURE, offset, size, lo, hi)
    buf = bytearray((offset + size + 7) // 8 + 1)
    value = max(lo, min(hi, value))
    set_value(buf, f, value)
    assert get_value(bytes(buf), f) == value


def test_truncated_report_reads_zero_bits() -> None:
    f = Field((1,), 1, TYPE_FEATURE, 16, 16, 0, 65535)
    assert get_value(b"\x01\x02", f) == 0
