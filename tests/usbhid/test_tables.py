"""The transcribed NUT tables: every row usable or a documented gap; NUT's claim rules."""

from __future__ import annotations

import importlib

import pytest

from pnut.driver.usbhid import usages
from pnut.driver.usbhid.subdrivers import CONVERTERS, REVERSERS, SUBDRIVERS, find_subdriver, usb_ids

#: Conversions pnut lacks (docs/compat.md); their rows are skipped.
MISSING = {
    "delta_ups": 1, "ever": 9, "legrand": 4, "openups": 10,
}


def _missing(key: str) -> set[str]:
    mod = importlib.import_module(f"pnut.driver.usbhid.tab_{key}")
    tables = dict(usages.GENERIC_LOOKUPS)
    tables.update(mod.LOOKUPS)
    out = set()
    for row in mod.HID2NUT:
        table = tables.get(row[6]) if row[6] else None
        if row[6]:
            assert table, f"{key}: {row[0]} names lookup {row[6]}, which has no entries"
        if table and table[0][2] and table[0][2] not in CONVERTERS:
            out.add(table[0][2])
        if table and table[0][3] and table[0][3] not in REVERSERS:
            out.add(table[0][3])
    return out


@pytest.mark.parametrize("sub", SUBDRIVERS, ids=lambda s: s.key)
def test_rows_resolve_and_gaps_are_known(sub: object) -> None:
    from pnut.driver.usbhid.subdrivers import Subdriver

    assert isinstance(sub, Subdriver)
    assert sub.rows
    bad = {row.path for row in sub.rows if sub.string_to_path(row.path) is None}
    assert not bad
    assert len(_missing(sub.key)) == MISSING.get(sub.key, 0)


@pytest.mark.parametrize(("vid", "pid", "productid_given", "vendor", "expected"), [
    (0x051D, 0x0002, False, None, "apc"),
    (0x051D, 0x9999, False, None, None),      # known vendor, unknown product: rejected ...
    (0x051D, 0x9999, True, None, "apc"),      # ... unless productid is given, as NUT does
    (0x0764, 0x0501, False, None, "cps"),
    (0x0463, 0xFFFF, False, None, "mge"),
    (0x06DA, 0xFFFF, False, None, "liebert"),  # Phoenixtec: Liebert's, not MGE's ...
    (0x06DA, 0xFFFF, False, "AEG", "mge"),    # ... unless AEG-branded
    (0x09AE, 0x2009, False, None, "tripplite"),
    (0x09AE, 0x0001, True, None, None),       # serial-over-USB Tripp Lite: tripplite_usb's
    (0x0D9F, 0x00A4, False, None, "powercom"),
    (0x1234, 0x5678, True, None, None),
])
def test_claim(vid: int, pid: int, productid_given: bool, vendor: str | None,
               expected: str | None) -> None:
    sub = find_subdriver(vid, pid, productid_given, vendor=vendor)
    assert (sub.key if sub else None) == expected


def test_usb_ids_for_the_scanner() -> None:
    ids = usb_ids()
    assert (0x051D, 0x0002, "apc") in ids
    assert (0x0764, 0x0501, "cps") in ids
    assert all(isinstance(v, int) and isinstance(p, int) for v, p, _ in ids)
