"""The long chaos campaign: many seeded runs on pnut's stack and NUT's, one table.

Usage (as root; ``scripts/chaos`` wraps it)::

    python tests/chaos/campaign.py --minutes 12 --impl pnut nut
    python tests/chaos/campaign.py --seed 17 --impl nut --keep -v   # replay one run

Seeds go 1, 2, 3 ... (or from ``--first``) until the time is up; every
seed runs on each stack in turn, so both see the same plans.  The table
counts faults injected by kind, runs, machines held to the battery deadline
and the invariant violations per stack.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from invariants import Life, RunRecord, Timing, Violation, check, excused_nodes
from scenario import FAULT_KINDS, POWER_STORIES, Plan, make_plan


@dataclass
class Tally:
    runs: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    held: int = 0
    excused: int = 0
    failed_runs: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def run_one(plan: Plan, impl: str, keep: bool = False,
            focus: bool = False) -> tuple[list[Violation], int, int]:
    """Run ``plan`` on ``impl``; (violations, machines held, machines excused)."""
    from harness import Run

    run = Run(plan, impl, keep=keep)
    rec = run.execute()
    if keep:
        meta = {"impl": impl, "seed": plan.seed, "focus": focus}
        (run.dir / "record.json").write_text(json.dumps({"meta": meta, **asdict(rec)},
                                                        indent=1, default=str))
    return judge(rec)


def judge(rec: RunRecord) -> tuple[list[Violation], int, int]:
    excused = excused_nodes(rec)
    held = len(rec.nodes) - len(excused) if rec.empty_at is not None else 0
    return check(rec), held, len(excused)


def add(tally: Tally, plan: Plan, impl: str, result: tuple[list[Violation], int, int]) -> None:
    violations, held, excused = result
    tally.runs += 1
    tally.kinds.update(plan.kinds())
    tally.held += held
    tally.excused += excused
    tally.violations.update(v.invariant for v in violations)
    if violations:
        tally.failed_runs.append(plan.seed)
        tally.examples += [f"seed {plan.seed} {impl}: {v.invariant}: {v.detail}"
                           for v in violations[:3]]


def recheck(paths: list[Path]) -> dict[str, Tally]:
    """Check kept runs again; the plan comes from the seed (and focus) they were run with."""
    tallies: dict[str, Tally] = {}
    for path in sorted(paths):
        raw = json.loads(path.read_text())
        meta = raw.get("meta") or dict(zip(("impl", "seed"), path.parent.name.split("-")[2:4],
                                          strict=True), focus=False)
        impl, plan = meta["impl"], make_plan(int(meta["seed"]), focus=bool(meta["focus"]))
        result = judge(load_record(path))
        add(tallies.setdefault(impl, Tally()), plan, impl, result)
        for v in result[0]:
            print(f"{path}: {v.invariant}: {v.detail}")
    return {impl: tallies[impl] for impl in ("pnut", "nut") if impl in tallies}


def load_record(path: Path) -> RunRecord:
    """A record.json written by ``--keep`` (to re-check a run after the checker changed)."""
    raw = json.loads(path.read_text())
    raw.pop("meta", None)
    raw["timing"] = Timing(**raw["timing"])
    raw["lives"] = {k: [Life(**life) for life in v] for k, v in raw["lives"].items()}
    raw["status"] = [tuple(x) for x in raw["status"]]
    raw["probe"] = [tuple(x) for x in raw["probe"]]
    raw["restarts"] = [tuple(x) for x in raw["restarts"]]
    raw["down"] = {k: [tuple(x) for x in v] for k, v in raw["down"].items()}
    raw["notifies"] = {k: [tuple(x) for x in v] for k, v in raw["notifies"].items()}
    return RunRecord(**raw)


def table(tallies: dict[str, Tally]) -> str:
    impls = list(tallies)
    head = "| fault kind | " + " | ".join(f"runs ({i})" for i in impls) + " |"
    lines = [head, "|---|" + "---|" * len(impls)]
    for kind in (*POWER_STORIES[1:], *FAULT_KINDS):
        lines.append(f"| {kind} | " + " | ".join(str(tallies[i].kinds[kind]) for i in impls)
                     + " |")
    lines.append("| **runs** | " + " | ".join(str(tallies[i].runs) for i in impls) + " |")
    lines.append("| machines held to the battery deadline / excused (blind) | "
                 + " | ".join(f"{tallies[i].held} / {tallies[i].excused}" for i in impls) + " |")
    names = sorted({v for t in tallies.values() for v in t.violations})
    for name in names:
        lines.append(f"| violation: {name} | "
                     + " | ".join(str(tallies[i].violations[name]) for i in impls) + " |")
    lines.append("| **invariant violations** | "
                 + " | ".join(str(sum(tallies[i].violations.values())) for i in impls) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", nargs="+", default=["pnut", "nut"], choices=["pnut", "nut"])
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--seed", type=int, help="run this one seed only")
    ap.add_argument("--focus", action="store_true",
                    help="faults in the shutdown window (around LB) instead of anywhere")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--recheck", nargs="+", type=Path, metavar="RECORD",
                    help="check kept record.json files again instead of running")
    args = ap.parse_args(argv)
    # SIGTERM (and SIGINT, ignored in background jobs) end the run through its
    # clean-up: every process killed by PID, the namespaces deleted.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(143))
    if args.recheck:
        print(table(recheck(args.recheck)))
        return 0
    tallies = {impl: Tally() for impl in args.impl}
    deadline = time.monotonic() + args.minutes * 60
    seed = args.seed if args.seed is not None else args.first
    while True:
        plan = make_plan(seed, focus=args.focus)
        for impl in args.impl:
            started = time.monotonic()
            try:
                result = run_one(plan, impl, keep=args.keep, focus=args.focus)
            except RuntimeError as exc:  # the cluster did not come up: report, go on
                result = [Violation("harness", str(exc)[:300])], 0, 0
            add(tallies[impl], plan, impl, result)
            violations = result[0]
            print(f"seed {seed:4d} {impl:4s} {time.monotonic() - started:5.1f}s "
                  f"{plan.power:15s} {','.join(plan.kinds()) or '-':60s} "
                  f"violations={len(violations)}", flush=True)
            if args.verbose:
                for v in violations:
                    print(f"    {v.invariant}: {v.detail}")
        seed += 1
        if args.seed is not None or time.monotonic() >= deadline:
            break
    print()
    print(table(tallies))
    for impl, tally in tallies.items():
        if tally.examples:
            print(f"\n{impl}: failed seeds {tally.failed_runs}")
            for ex in tally.examples[:12]:
                print(f"  {ex}")
    return 1 if "pnut" in tallies and tallies["pnut"].violations else 0


if __name__ == "__main__":
    sys.exit(main())
