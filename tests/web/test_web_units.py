"""pnut web's sans-IO parts: metric names and samples, history bounds, JSON shapes."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from pnut.poller import Fleet, UpsPoll, parse_server
from pnut.web import shapes
from pnut.web.history import FIELDS, History
from pnut.web.metrics import Exposition, metric_name, numeric


def test_names_and_numbers() -> None:
    assert metric_name("battery.charge") == "nut_battery_charge"
    assert metric_name("input.L1-N.voltage") == "nut_input_L1_N_voltage"
    assert metric_name("battery.current.total") == "nut_battery_current_total_value"
    assert numeric("battery.charge", "100") == 100.0
    assert numeric("input.voltage", "229.5") == 229.5
    assert numeric("ups.serial", "00123") is None
    assert numeric("ups.firmware", "1.2") is None
    assert numeric("battery.charge", "nan") is None and numeric("x", "inf") is None
    assert numeric("ups.beeper.status", "enabled") is None


def _fleet() -> Fleet:
    fleet = Fleet([parse_server("a:1"), parse_server("b:2")])
    fleet.apply_poll("a:1", [UpsPoll("u", "desc", {"ups.status": "ALARM OL RB",
                                                   "battery.charge": "80", "ups.serial": "7"}),
                             UpsPoll("stale", "", None, "DATA-STALE")], now=5)
    fleet.apply_failure("b:2", "refused", now=5)
    return fleet


def test_exposition_fails_only_own_series() -> None:
    text = Exposition(_fleet()).render().decode()
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for f in text_string_to_metric_families(text) for s in f.samples}
    assert got[("nut_battery_charge", (("server", "a:1"), ("ups", "u")))] == 80
    assert got[("nut_up", (("server", "a:1"), ("ups", "stale")))] == 0
    assert got[("nut_server_up", (("server", "b:2"),))] == 0
    flags = {dict(k[1])["flag"]: v for k, v in got.items() if k[0] == "nut_ups_status"}
    assert flags["ALARM"] == flags["OL"] == flags["RB"] == 1 and flags["OB"] == 0
    assert len(flags) == 16
    assert not any(k[0] == "nut_ups_serial" for k in got)
    assert not any(dict(k[1]).get("ups") == "stale" and k[0] not in ("nut_up", "nut_ups_info")
                   for k in got)


def test_history_is_bounded_and_gaps_when_down() -> None:
    fleet = _fleet()
    history = History(span=10, step=1)
    for t in range(100):
        history.sample(fleet, float(t))
    series = history.series("a:1", "u")
    assert series is not None and len(series["t"]) == 10  # type: ignore[arg-type]
    assert series["battery.charge"] == [80.0] * 10
    stale = history.series("a:1", "stale")
    assert stale is not None and stale["battery.charge"] == [None] * 10
    assert set(FIELDS) <= set(series)
    fleet.apply_poll("a:1", [], now=101)
    history.sample(fleet, 101.0)
    assert history.series("a:1", "u") is None  # forgotten once its server drops it
    assert math.isfinite(history.step)


def test_sse_framing_and_change_shape() -> None:
    fleet = _fleet()
    (change,) = fleet.apply_poll("a:1", [UpsPoll("u", "desc", {"ups.status": "OB"}),
                                         UpsPoll("stale", "", None, "DATA-STALE")], now=6)
    body = shapes.change(change, fleet)
    assert body["set"] == {"ups.status": "OB"} and body["status"] == ["OB"]
    frame = shapes.sse("change", body, change.seq).decode()
    assert frame.startswith(f"id: {change.seq}\nevent: change\ndata: {{")
    assert frame.endswith("\n\n") and frame.count("\n") == 4


def test_real_device_dumps_pass_promtool() -> None:
    """Every nut-ddl dump in the repository, as one fleet: promtool finds nothing."""
    from websupport import promtool_check

    from support import REPO

    fixtures = sorted((REPO / "tests" / "fixtures" / "ddl").glob("*.dev"))
    assert fixtures
    fleet = Fleet([parse_server("a:1")])
    polls = []
    for i, path in enumerate(fixtures):
        variables = {}
        for line in path.read_text(errors="replace").splitlines():
            name, sep, value = line.partition(":")
            if sep and name and not name.startswith("#"):
                variables[name.strip()] = value.strip().strip('"')
        polls.append(UpsPoll(f"ups{i}", path.name, variables))
    fleet.apply_poll("a:1", polls, now=1)
    text = Exposition(fleet).render()
    assert promtool_check(text) == ""
    families = {f.name for f in text_string_to_metric_families(text.decode())}
    assert {"nut_battery_charge", "nut_input_voltage", "nut_ups_load"} <= families


def test_exposition_reuses_lines_until_a_change() -> None:
    fleet = _fleet()
    exposition = Exposition(fleet)
    first = exposition.render()
    assert exposition.render() == first
    fleet.apply_poll("a:1", [UpsPoll("u", "desc", {"ups.status": "OB", "battery.charge": "79",
                                                   "ups.mfr": 'Acme "Power"\\'})], now=6)
    text = exposition.render().decode()
    assert 'nut_battery_charge{server="a:1",ups="u"} 79.0' in text
    assert 'nut_ups_status{server="a:1",ups="u",flag="OB"} 1.0' in text
    assert 'mfr="Acme \\"Power\\"\\\\"' in text  # escaped as the text format wants
    assert 'ups="stale"' not in text  # gone from the server's list, gone from the metrics
    parsed = {s.labels.get("mfr") for f in text_string_to_metric_families(text)
              for s in f.samples if s.name == "nut_ups_info"}
    assert 'Acme "Power"\\' in parsed
