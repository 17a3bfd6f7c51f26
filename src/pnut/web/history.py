"""The last hours of a few readings per UPS, kept server-side for the page's chart.

How this works
--------------
:meth:`History.sample` is called every ``step`` seconds with the fleet;
it appends one point per UPS that is up (a UPS that is down gets a gap:
NaN).  Each UPS keeps at most ``span / step`` points per field in compact
float arrays, so memory is bounded by UPS count x points x fields x 4
bytes (500 UPSes, 6 h at one point a minute: about 4 MB).  A UPS its
server no longer lists is forgotten.  No I/O; time is an argument.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Final

from pnut.poller.core import Fleet

#: The readings charted, in this order.
FIELDS: Final = ("battery.charge", "ups.load", "battery.runtime", "input.voltage",
                 "output.voltage")

#: Points appended past the bound before the oldest are cut in one go.
_SLACK: Final = 32


@dataclass(slots=True)
class _Series:
    times: array[float] = field(default_factory=lambda: array("d"))
    values: list[array[float]] = field(
        default_factory=lambda: [array("f") for _ in FIELDS])


class History:
    """Bounded per-UPS time series of :data:`FIELDS`."""

    def __init__(self, span: float = 6 * 3600, step: float = 60.0) -> None:
        if step <= 0 or span < step:
            raise ValueError("history step must be positive and span at least one step")
        self.span = span
        self.step = step
        self.points = int(span // step)
        self._series: dict[tuple[str, str], _Series] = {}

    def sample(self, fleet: Fleet, now: float) -> None:
        listed = set()
        for ups in fleet.upses():
            key = (ups.server, ups.name)
            listed.add(key)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.times.append(now)
            for i, name in enumerate(FIELDS):
                series.values[i].append(_number(ups.variables.get(name)) if ups.up else math.nan)
            if len(series.times) > self.points + _SLACK:
                cut = len(series.times) - self.points
                del series.times[:cut]
                for values in series.values:
                    del values[:cut]
        for key in [k for k in self._series if k not in listed]:
            del self._series[key]

    def series(self, server: str, ups: str) -> dict[str, object] | None:
        """``{"step", "span", "t": [...], "<field>": [... or None]}`` for JSON."""
        series = self._series.get((server, ups))
        if series is None:
            return None
        start = max(0, len(series.times) - self.points)
        out: dict[str, object] = {"step": self.step, "span": self.span,
                                  "t": [round(t, 3) for t in series.times[start:]]}
        for name, values in zip(FIELDS, series.values, strict=True):
            out[name] = [None if math.isnan(v) else round(v, 2) for v in values[start:]]
        return out


def _number(text: str | None) -> float:
    if text is None:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan
