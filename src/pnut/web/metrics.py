"""Prometheus exposition of a :class:`~pnut.poller.Fleet`.  No I/O.

How this works
--------------
:class:`FleetCollector` is a prometheus-client collector that reads the
fleet at scrape time: one gauge family per numeric NUT variable
(``battery.charge`` -> ``nut_battery_charge``), the ``ups.status`` state set,
an info series per UPS, and ``nut_up`` / ``nut_server_up``.  A UPS that is
down (stale data, driver gone, server unreachable) keeps only ``nut_up 0``
and its info series: its old values are not exported as if current, and
nothing about it can fail the scrape of the others.

Which variables are numbers is decided per value (it must parse as a
finite float) minus :data:`NOT_MEASUREMENTS`, names whose values look
numeric but are identifiers (serial numbers, USB ids, firmware versions).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Final

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from pnut.poller.core import Fleet, UpsState, status_flags

PREFIX: Final = "nut_"

#: Name endings of variables that are identifiers or text even when they
#: look like numbers; they go to ``nut_ups_info`` or nowhere.
NOT_MEASUREMENTS: Final = (
    ".serial", ".firmware", ".firmware.aux", ".vendorid", ".productid", ".id", ".date",
    ".mfr", ".model", ".type", ".version", ".version.internal", ".name", ".macaddr",
    ".location", ".contact", ".description", ".desc", ".usb.vendorid", ".usb.productid",
    ".time", ".status", ".alarm", ".packs.external", ".designator",
)

#: Labels of ``nut_ups_info`` and the variables they come from (first found).
INFO_LABELS: Final = (
    ("mfr", ("device.mfr", "ups.mfr")),
    ("model", ("device.model", "ups.model")),
    ("serial", ("device.serial", "ups.serial")),
    ("type", ("device.type",)),
    ("firmware", ("ups.firmware",)),
    ("driver", ("driver.name",)),
    ("driver_version", ("driver.version",)),
)

#: Names this module exports itself; a variable mapping onto one is skipped.
RESERVED: Final = frozenset({"nut_up", "nut_server_up", "nut_ups_status", "nut_ups_info",
                             "nut_poll_duration_seconds", "nut_last_poll_timestamp_seconds"})

_BAD = re.compile(r"[^a-zA-Z0-9_]")
_LABELS = ["server", "ups"]


#: Name endings Prometheus reserves for counters, histograms and summaries;
#: a gauge named so gets ``_value`` appended (``battery.current.total``).
RESERVED_SUFFIXES: Final = ("_total", "_count", "_sum", "_bucket", "_created")


@lru_cache(maxsize=4096)
def metric_name(var: str) -> str:
    """``battery.charge`` -> ``nut_battery_charge`` (any other character -> ``_``)."""
    name = PREFIX + _BAD.sub("_", var)
    return name + "_value" if name.endswith(RESERVED_SUFFIXES) else name


def numeric(var: str, value: str) -> float | None:
    """The value as a sample, or None when the variable is not a measurement."""
    if var.endswith(NOT_MEASUREMENTS) or not value or not (value[0].isdigit() or value[0] in "-+."):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@lru_cache(maxsize=1)
def descriptions() -> dict[str, str]:
    """Variable descriptions from the cmdvartab pnut ships (HELP texts)."""
    out: dict[str, str] = {}
    text = resources.files("pnut").joinpath("data/cmdvartab").read_text("utf-8")
    for line in text.splitlines():
        if line.startswith("VARDESC "):
            name, _, desc = line[8:].partition(" ")
            out[name] = desc.strip().strip('"')
    return out


def _help(var: str) -> str:
    desc = descriptions().get(var)
    return f"NUT variable {var}" + (f": {desc}" if desc else "")


class FleetCollector(Collector):
    """Reads the fleet at every scrape."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def collect(self) -> Iterator[Metric]:
        fleet = self.fleet
        server_up = GaugeMetricFamily("nut_server_up", "1 when the last poll of the upsd "
                                      "server succeeded", labels=["server"])
        duration = GaugeMetricFamily("nut_poll_duration_seconds", "Seconds the last "
                                     "successful poll of the server took", labels=["server"])
        polled = GaugeMetricFamily("nut_last_poll_timestamp_seconds", "When the server was "
                                   "last polled (Unix time)", labels=["server"])
        for label, srv in fleet.servers.items():
            server_up.add_metric([label], 1.0 if srv.up else 0.0)
            if srv.polls:
                duration.add_metric([label], srv.duration)
            if srv.last_poll:
                polled.add_metric([label], srv.last_poll)
        yield from (server_up, duration, polled)

        up = GaugeMetricFamily("nut_up", "1 when the UPS's driver is connected and its data "
                               "fresh", labels=_LABELS)
        status = GaugeMetricFamily("nut_ups_status", "ups.status as a state set: 1 when the "
                                   "flag is set", labels=[*_LABELS, "flag"])
        info = GaugeMetricFamily("nut_ups_info", "Identity of the UPS (always 1)",
                                 labels=[*_LABELS, "description",
                                         *(name for name, _ in INFO_LABELS)])
        values: dict[str, GaugeMetricFamily] = {}
        for ups in fleet.upses():
            key = [ups.server, ups.name]
            up.add_metric(key, 1.0 if ups.up else 0.0)
            info.add_metric([*key, ups.description, *_info(ups)], 1.0)
            if not ups.up:
                continue
            for flag, on in status_flags(ups.variables.get("ups.status", "")).items():
                status.add_metric([*key, flag], 1.0 if on else 0.0)
            for var, value in ups.variables.items():
                number = numeric(var, value)
                if number is None:
                    continue
                name = metric_name(var)
                family = values.get(name)
                if family is None:
                    if name in RESERVED:
                        continue
                    family = values[name] = GaugeMetricFamily(name, _help(var), labels=_LABELS)
                family.add_metric(key, number)
        yield from (up, status, info)
        yield from values.values()


def _info(ups: UpsState) -> list[str]:
    out = []
    for _, sources in INFO_LABELS:
        out.append(next((ups.variables[v] for v in sources if v in ups.variables), ""))
    return out


def registry_for(fleet: Fleet) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(fleet))
    return registry
