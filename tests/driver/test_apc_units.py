"""apcsmart's conversions and packed variables, without a device."""

from __future__ import annotations

from pnut.driver.apc import tables as t
from pnut.driver.apc.engine import ApcEngine
from pnut.driver.apc.link import ApcLink
from pnut.driver.apc.tables import Var, convert
from pnut.driver.dstate import DriverState
from pnut.protocol.cnum import atoi, strtol


def test_conversions() -> None:
    assert convert(Var("battery.runtime", "j", fmt=t.Fmt.MINUTES), "0131:") == "7860"
    assert convert(Var("ups.test.interval", "E", fmt=t.Fmt.HOURS), "336") == "1209600"
    assert convert(Var("ups.test.interval", "E", fmt=t.Fmt.HOURS), "OFF") == "0"
    reason = Var("input.transfer.reason", "G", fmt=t.Fmt.REASON)
    assert convert(reason, "L") == "low utility voltage" and convert(reason, "Q") == "Q"
    assert strtol("5A", 16) == (0x5A, 2) and strtol("zz", 16) == (0, 0) and atoi(" 12x") == 12


def test_multi_rows_match_their_patterns() -> None:
    uptime = next(v for v in t.VARS if v.name == "device.uptime")
    ambient = next(v for v in t.VARS if v.name == "ambient.0.temperature")
    assert uptime.matches("168.0") and not ambient.matches("168.0")
    assert ambient.matches("21.50") and not uptime.matches("21.50")


def test_packed_values_fill_numbered_names_and_shrink() -> None:
    ds = DriverState()
    engine = ApcEngine(ApcLink("/nonexistent"), ds)
    var = next(v for v in engine.vars if v.name == "ambient.0.humidity")
    engine.setinfo(var, "42.0,,51.5")
    assert [ds.value(f"ambient.{i}.humidity") for i in (1, 2, 3)] == ["42.0", "N/A", "51.5"]
    engine.setinfo(var, "40.0")
    assert ds.value("ambient.1.humidity") == "40.0" and ds.value("ambient.2.humidity") is None


def test_status_words_in_nuts_order() -> None:
    ds = DriverState()
    engine = ApcEngine(ApcLink("/nonexistent"), ds)
    engine.status = 0x50
    engine.publish_status()
    assert ds.value("ups.status") == "OB LB"
    engine.alert("$")
    assert ds.value("ups.status") == "OL LB"
    engine.status = 0
    engine.publish_status()
    assert ds.value("ups.status") == "OFF"
