"""Plain-words summaries of a UPS's variables, shared by ``pnut status`` and
``pnut watch``.  Pure functions of the variable dict: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: ups.status tokens in plain words (variables.md), in display priority.
STATUS_WORDS: dict[str, str] = {
    "FSD": "forced shutdown",
    "OB": "on battery",
    "OL": "on line power",
    "LB": "low battery",
    "HB": "high battery",
    "RB": "replace battery",
    "CHRG": "charging",
    "DISCHRG": "discharging",
    "BYPASS": "on bypass",
    "CAL": "calibrating",
    "OFF": "output off",
    "OVER": "overloaded",
    "TRIM": "trimming voltage",
    "BOOST": "boosting voltage",
    "ALARM": "alarm",
    "ECO": "economy mode",
    "WAIT": "waiting for the driver",
}

#: How alarming a row is: the first matching token decides.
_SEVERITY = (("FSD", "critical"), ("LB", "critical"), ("OB", "warning"), ("RB", "warning"),
             ("OVER", "warning"), ("ALARM", "warning"), ("BYPASS", "warning"),
             ("OFF", "warning"), ("WAIT", "unknown"))


def spell_status(status: str) -> list[str]:
    """``"OB LB"`` -> ``["on battery", "low battery"]`` (unknown words kept)."""
    tokens = status.split()
    known = [t for t in STATUS_WORDS if t in tokens]
    unknown = [t for t in tokens if t not in STATUS_WORDS]
    return [STATUS_WORDS[t] for t in known] + unknown


def severity(status: str) -> str:
    """``ok``, ``warning``, ``critical`` or ``unknown`` for colouring."""
    tokens = status.split()
    for token, level in _SEVERITY:
        if token in tokens:
            return level
    return "ok" if "OL" in tokens else "unknown"


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def format_runtime(seconds: float) -> str:
    """``720`` -> ``"12 min"``; ``5400`` -> ``"1 h 30 min"``; short times in seconds."""
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _percent(value: float) -> str:
    return f"{value:g}%"


@dataclass(frozen=True, slots=True)
class Summary:
    """One UPS in words."""

    status: str
    state: str  # the status words joined, e.g. "on battery, low battery"
    charge: str | None
    runtime: str | None
    load: str | None
    input_voltage: str | None
    model: str | None
    alarm: str | None
    severity: str

    def sentence(self) -> str:
        """``on battery, 43% charge, 12 min left, load 20%``."""
        parts = [self.state] if self.state else ["status unknown"]
        if self.charge is not None:
            parts.append(f"{self.charge} charge")
        if self.runtime is not None:
            parts.append(f"{self.runtime} left")
        if self.load is not None:
            parts.append(f"load {self.load}")
        if self.input_voltage is not None:
            parts.append(f"input {self.input_voltage}")
        return ", ".join(parts)


def summarize(variables: Mapping[str, str]) -> Summary:
    """Summarize a ``LIST VAR`` answer."""
    status = variables.get("ups.status", "")
    charge = _number(variables.get("battery.charge"))
    runtime = _number(variables.get("battery.runtime"))
    load = _number(variables.get("ups.load"))
    voltage = _number(variables.get("input.voltage"))
    mfr = variables.get("ups.mfr") or variables.get("device.mfr")
    model = variables.get("ups.model") or variables.get("device.model")
    if model and mfr and not model.startswith(mfr):
        model = f"{mfr} {model}"
    return Summary(
        status=status,
        state=", ".join(spell_status(status)),
        charge=_percent(charge) if charge is not None else None,
        runtime=format_runtime(runtime) if runtime is not None else None,
        load=_percent(load) if load is not None else None,
        input_voltage=f"{voltage:g} V" if voltage is not None else None,
        model=model or mfr,
        alarm=variables.get("ups.alarm") or None,
        severity=severity(status),
    )
