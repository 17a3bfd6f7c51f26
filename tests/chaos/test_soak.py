"""The soak's short version: 40 s of power events under 100 polling clients with
pnut web and pnut mqtt following the same upsd (``scripts/soak`` runs the
long one and prints the figures)."""

from __future__ import annotations

import os

import pytest
from netns import available
from soak import Soak, report

pytestmark = [pytest.mark.skipif(os.geteuid() != 0 or not available(),
                                 reason="needs root with network namespaces"),
              pytest.mark.serial]  # its figures must not measure other tests' load


def test_short_soak_is_flat_and_clean() -> None:
    soak = Soak(40 / 60, clients=100, final=False, fleet=True)
    soak.keep = True
    rec = soak.execute()
    text, ok = report(soak, rec)
    assert soak.power_events >= 2, text
    assert {"upsd", "driver", "upsmon:primary", "pnut-web", "pnut-mqtt"} <= set(soak.samples), text
    assert ok, f"{text}\nrun directory kept: {soak.dir}"
    soak.keep = False
    soak.close()
