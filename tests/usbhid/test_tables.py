"""The transcribed NUT tables: every row usable or a documented gap; NUT's claim rules."""

from __future__ import annotations

import importlib

import pytest

from pnut.driver.usbhid import usages
from pnut.driver.usbhid.subdrivers import CONVERTERS, REVERSERS, SUBDRIVERS, find_subdriver, usb_ids

#: Conversions pnut lacks, per subdriver (none now; docs/compat.md): their rows are skipped.
MISSING: dict[str, int] = {}


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


def test_delta_legrand_openups_conversions_as_nut() -> None:
    from pnut.driver.usbhid import vendor_conv as v
    from pnut.driver.usbhid.quirks import DeviceQuirks

    q = DeviceQuirks(vendorid=0x04D8, productid=0xD005)
    conv = v.CONVERTERS
    # delta_ups_type_fun: low nibble; 3..5 shift down by 2, 6 is split-phase, others none
    assert [conv["delta_ups_type_fun"](q, n) for n in (0, 2, 3, 5, 6, 7, 0x12)] == [
        "online", "line-interactive", "offline", "3-phase", "split-phase", None,
        "line-interactive"]
    assert conv["legrand_times10M"](q, 2.3e-5) == "230.0"
    assert conv["openups_temperature_fun"](q, 0.2) == "-40"  # 20 <= first table entry
    assert conv["openups_temperature_fun"](q, 10.0) == "125"
    assert conv["openups_temperature_fun"](q, 4.63) == "20"  # exactly the 20 C entry
    assert conv["openups_off_fun"](q, 1) == "!off"
    v.openups_voltage_multiplier(q)  # d005: 0.1 everywhere
    assert conv["openups_scale_vin_fun"](q, 121) == "12.10"
