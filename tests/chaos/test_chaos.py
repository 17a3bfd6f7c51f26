"""A few seeded chaos runs on pnut's stack, every invariant checked (the long
campaign is ``scripts/chaos``; see docs/chaos.md).

Each run is the whole Appendix B story — pnut's dummy-ups fed by the
simulated battery, upsd, a primary and two secondaries in network namespaces
of their own — with the faults its seed draws.  Needs root (namespaces,
mounts); about 30 s per run.
"""

from __future__ import annotations

import os

import pytest
from harness import Run
from invariants import check
from netns import available
from scenario import make_plan

pytestmark = [pytest.mark.skipif(os.geteuid() != 0 or not available(),
                                 reason="needs root with network namespaces"),
              pytest.mark.serial]  # timings of a whole story: alone, after the parallel part

#: Chosen to cover many kinds between them: power back during the shutdown
#: wait with a SIGHUP storm under load, a stopped driver and a backward
#: clock jump; LB without OB, a killed driver, a cut link, SIGHUPs, a full
#: POWERDOWNFLAG file system and a forward clock jump.
SEEDS = (10, 26)


@pytest.mark.parametrize("seed", SEEDS)
def test_pnut_keeps_every_invariant(seed: int) -> None:
    plan = make_plan(seed)
    run = Run(plan, "pnut", keep=True)
    rec = run.execute()
    violations = check(rec)
    assert rec.empty_at is not None or any(rec.shutdowns.values()), \
        f"the story never reached its end (run directory kept: {run.dir})"
    assert not violations, (f"seed {seed} ({', '.join(plan.kinds())}):\n"
                            + "\n".join(f"{v.invariant}: {v.detail}" for v in violations)
                            + f"\nrun directory kept: {run.dir}")
    run.keep = False
    run.close()
