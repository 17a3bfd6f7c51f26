"""What one chaos run does, drawn from a seed: the power story and the faults.

How this works
--------------
:func:`make_plan` turns a seed into a :class:`Plan` — no I/O, so the same
seed always gives the same run (the processes' own timing still varies a
little; the seed fixes what is injected and when).  Times are seconds after
the cluster is up (every upsmon logged in).

The story is RFC 9271's Appendix B: mains on, then a final outage at
``outage_at`` that drains the simulated battery to empty unless the power
comes back.  ``power`` picks a variation of it (flapping, power back during
FSD or during the shutdown wait, LB without OB); :class:`Fault` entries add
process, network, file-system and clock faults at random moments.  A fault
with ``until=None`` is never healed (a killed daemon that is not restarted).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: The machines: one primary (with upsd, in the hub namespace) and secondaries
#: each in a network namespace of its own.
PRIMARY = "primary"
SECONDARIES = ("sec1", "sec2")
NODES = (PRIMARY, *SECONDARIES)

#: Variations of the power story (one per run).
POWER_STORIES = ("outage", "flap-fast", "flap-slow", "power-back-fsd", "power-back-wait",
                 "lb-without-ob")
#: Fault kinds (a run draws some of them); the table in docs/chaos.md counts these.
FAULT_KINDS = (
    "kill9-driver", "kill9-upsd", "kill9-primary", "kill9-secondary",
    "stop-driver", "stop-upsd",
    "link-cut", "link-delay", "link-loss",
    "sighup-load", "nonsense",
    "pdflag-full", "pdflag-ro",
    "clock-forward", "clock-backward",
)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    #: The process or link it hits: "driver", "upsd" or a node name.
    target: str
    at: float
    #: When it is healed (restart, SIGCONT, link restored); None = never.
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Physics:
    """The simulated battery: seconds from full to empty, LB threshold."""

    drain_seconds: float = 18.0
    charge_low: float = 45.0


@dataclass(frozen=True)
class Plan:
    seed: int
    power: str
    outage_at: float
    faults: tuple[Fault, ...] = ()
    #: (start, end) of mains flapping, and the half-period range in seconds.
    flap: tuple[float, float, float, float] | None = None
    #: (start, end) of an LB flag published while on line power.
    lb_without_ob: tuple[float, float] | None = None
    #: (start, end) of nonsense readings (charge 250, negative runtime).
    nonsense: tuple[float, float] | None = None
    #: "full" or "ro": POWERDOWNFLAG's file system on the primary.
    pdflag: str | None = None
    #: (time, offset seconds) wall-clock jumps, applied to every daemon.
    clock: tuple[tuple[float, int], ...] = ()
    physics: Physics = field(default_factory=Physics)
    #: Hard stop of the run, seconds after start.
    cap: float = 45.0

    def kinds(self) -> list[str]:
        """Every fault kind this run injects (power story included)."""
        out = [self.power] if self.power != "outage" else []
        out += [f.kind for f in self.faults]
        if self.nonsense:
            out.append("nonsense")
        if self.pdflag:
            out.append(f"pdflag-{self.pdflag}")
        out += ["clock-forward" if off > 0 else "clock-backward" for _, off in self.clock]
        return out

    @property
    def uses_clock(self) -> bool:
        return bool(self.clock)


def make_plan(seed: int, *, faults: int | None = None, kinds: tuple[str, ...] = FAULT_KINDS,
              physics: Physics | None = None, focus: bool = False) -> Plan:
    """The run for ``seed``: a power story plus 1-3 faults (``faults`` to fix the count).

    ``focus``: the faults start in the shutdown window instead (from 4 s before
    the battery should reach LB to 6 s after), where a fault hurts most.
    """
    rng = random.Random(seed)
    phys = physics or Physics()
    power = rng.choice(POWER_STORIES)
    outage_at = round(rng.uniform(6.0, 9.0), 2)
    flap = lb_ob = nonsense = None
    if power == "flap-fast":
        start = rng.uniform(1.0, 2.5)
        flap = (start, start + rng.uniform(2.0, 3.5), 0.08, 0.3)
    elif power == "flap-slow":
        start = rng.uniform(0.5, 1.5)
        flap = (start, start + rng.uniform(8.0, 12.0), 1.2, 3.0)
        outage_at = round(flap[1] + rng.uniform(1.0, 3.0), 2)
    elif power == "lb-without-ob":
        start = rng.uniform(1.0, 3.0)
        lb_ob = (start, start + rng.uniform(2.0, 4.0))
    # The last moment a fault may start: a little after the battery is empty.
    horizon = outage_at + phys.drain_seconds
    pool = [k for k in kinds if k not in ("nonsense", "pdflag-full", "pdflag-ro",
                                          "clock-forward", "clock-backward")]
    count = faults if faults is not None else rng.choice((1, 1, 2, 2, 3))
    drawn: list[Fault] = []
    lb_at = outage_at + phys.drain_seconds * (1 - phys.charge_low / 100)
    window = (lb_at - 4.0, lb_at + 6.0) if focus else (0.5, horizon)
    for _ in range(count if pool else 0):
        drawn.append(_fault(rng, rng.choice(pool), window))
    if "nonsense" in kinds and rng.random() < 0.3:
        start = rng.uniform(1.0, horizon - 4)
        nonsense = (start, start + rng.uniform(1.0, 4.0))
    pdflag = None
    pd_kinds = [k for k in ("pdflag-full", "pdflag-ro") if k in kinds]
    if pd_kinds and rng.random() < 0.25:
        pdflag = rng.choice(pd_kinds).split("-")[1]
    clock: list[tuple[float, int]] = []
    ck = [k for k in ("clock-forward", "clock-backward") if k in kinds]
    if ck and rng.random() < 0.25:
        direction = rng.choice(ck)
        clock.append((round(rng.uniform(1.0, horizon - 2), 2),
                      3600 if direction == "clock-forward" else -3600))
    return Plan(seed, power, outage_at, tuple(sorted(drawn, key=lambda f: f.at)), flap,
                lb_ob, nonsense, pdflag, tuple(clock), phys)


def _fault(rng: random.Random, kind: str, window: tuple[float, float]) -> Fault:
    at = round(rng.uniform(*window), 2)
    if kind.startswith("kill9-"):
        what = kind.split("-", 1)[1]
        target = rng.choice(SECONDARIES) if what == "secondary" else what
        never = rng.random() < 0.2
        return Fault(kind, target, at, None if never else round(at + rng.uniform(0.3, 6.0), 2))
    if kind.startswith("stop-"):
        return Fault(kind, kind.split("-", 1)[1], at, round(at + rng.uniform(1.0, 8.0), 2))
    if kind.startswith("link-"):
        return Fault(kind, rng.choice(SECONDARIES), at, round(at + rng.uniform(1.0, 10.0), 2))
    if kind == "sighup-load":
        target = rng.choice(("upsd", PRIMARY, *SECONDARIES))
        return Fault(kind, target, at, round(at + rng.uniform(2.0, 6.0), 2))
    raise ValueError(f"unknown fault kind {kind!r}")
