"""Threshold events NUT lacks: load above, runtime below, charge below.

upsmon.conf (pnut)::

    NOTIFY_LOAD_ABOVE 80        # ups.load in %      -> LOADHIGH / LOADOK
    NOTIFY_RUNTIME_BELOW 600    # battery.runtime s  -> RUNTIMELOW / RUNTIMEOK
    NOTIFY_CHARGE_BELOW 50      # battery.charge %   -> CHARGELOW / CHARGEOK

How this works
--------------
A :class:`Watch` holds one :class:`Rule` per directive and, per UPS, which
rules are in alarm.  Each poll hands it the UPS's values (only the
variables the rules need are read); it returns the events of crossings:
the alarm event when a value passes the threshold, the OK event when it
comes back past the threshold plus a margin (:attr:`Rule.margin`), so a
value hovering at the threshold does not flood anyone.  A UPS that does
not report a variable never raises its events.  No I/O; the upsmon daemon
reads the variables and delivers the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pnut.config.upsmon_conf import UpsmonConf


@dataclass(frozen=True)
class Rule:
    var: str
    above: bool  # True: alarm when value > limit; False: when value < limit
    limit: float
    alarm: str
    ok: str
    unit: str

    @property
    def margin(self) -> float:
        """How far back past the limit a value must come to clear the alarm."""
        return 5.0 if self.unit == "%" else max(1.0, abs(self.limit) * 0.1)

    def in_alarm(self, value: float, alarmed: bool) -> bool:
        if self.above:
            return value > self.limit or (alarmed and value > self.limit - self.margin)
        return value < self.limit or (alarmed and value < self.limit + self.margin)


_MESSAGES: Final = {
    "LOADHIGH": "UPS {system}: load {value:g}% above {limit:g}%",
    "LOADOK": "UPS {system}: load back to {value:g}%",
    "RUNTIMELOW": "UPS {system}: runtime {value:g} s below {limit:g} s",
    "RUNTIMEOK": "UPS {system}: runtime back to {value:g} s",
    "CHARGELOW": "UPS {system}: battery charge {value:g}% below {limit:g}%",
    "CHARGEOK": "UPS {system}: battery charge back to {value:g}%",
}


@dataclass(frozen=True)
class ThresholdEvent:
    type: str
    system: str
    var: str
    value: float
    limit: float
    message: str


def rules_from(conf: UpsmonConf) -> list[Rule]:
    out = []
    if conf.load_above is not None:
        out.append(Rule("ups.load", True, conf.load_above, "LOADHIGH", "LOADOK", "%"))
    if conf.runtime_below is not None:
        out.append(Rule("battery.runtime", False, conf.runtime_below, "RUNTIMELOW",
                        "RUNTIMEOK", "s"))
    if conf.charge_below is not None:
        out.append(Rule("battery.charge", False, conf.charge_below, "CHARGELOW", "CHARGEOK",
                        "%"))
    return out


@dataclass
class Watch:
    rules: list[Rule]
    _alarmed: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_conf(cls, conf: UpsmonConf) -> Watch:
        return cls(rules_from(conf))

    @property
    def variables(self) -> list[str]:
        """The variables to read each poll (empty: no thresholds configured)."""
        return [r.var for r in self.rules]

    def update(self, system: str, values: dict[str, str]) -> list[ThresholdEvent]:
        """Events for one UPS's new values; unparsable or missing values change nothing."""
        alarmed = self._alarmed.setdefault(system, set())
        out = []
        for rule in self.rules:
            try:
                value = float(values[rule.var])
            except (KeyError, ValueError):
                continue
            was = rule.var in alarmed
            now = rule.in_alarm(value, was)
            if now == was:
                continue
            kind = rule.alarm if now else rule.ok
            (alarmed.add if now else alarmed.discard)(rule.var)
            out.append(ThresholdEvent(kind, system, rule.var, value, rule.limit,
                                      _MESSAGES[kind].format(system=system, value=value,
                                                             limit=rule.limit)))
        return out
