"""pnut's upsd from two source trees, in alternating runs: is a change faster?

    git worktree add /tmp/before <rev>
    python bench/ab.py /tmp/before/src src [--seconds 3] [--rounds 2]

Each round starts a fresh upsd from each tree (PYTHONPATH), pinned like
bench/run.py (server CPU 0, load CPU 1), serving NUT's C dummy-ups, and
prints requests/s and the server's CPU time per request for GET VAR at 1,
16 and 256 connections and connect+VER+LOGOUT, with its RSS before and after.
Alternating the trees within one run makes a shared machine's drift hit
both alike; repeat with more rounds when the figures disagree.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import run  # noqa: E402

from support import Stack, Ups  # noqa: E402

MODES = [("get", 1), ("get", 16), ("get", 256), ("connect", 16)]


def one(src: str, loadgen: Path, seconds: float) -> str:
    os.environ["PYTHONPATH"] = src
    with Stack([Ups(run.UPS, run.DEV.read_text())]) as st:
        st.start_driver(st.upses[0], "nut")
        pid = st.start_upsd("pnut", prefix=run.pinned([], run.SERVER_CPU)).pid
        cells = [f"rss {run.rss_mb(pid):5.1f} MB"]
        for mode, conns in MODES:
            before = run.cpu_seconds(pid)
            data = run.load(loadgen, st.port, mode, conns, seconds)
            used = run.cpu_seconds(pid) - before
            rate = data["requests"] / data["seconds"]
            cells.append(f"{mode} {conns:>3}: {rate:>7.0f}/s "
                         f"{used / max(data['requests'], 1) * 1e6:5.2f} us")
        cells.append(f"rss {run.rss_mb(pid):5.1f} MB")
        return "  ".join(cells)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("trees", nargs="+", help="src/ directories to compare")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    loadgen = run.build_loadgen()
    for _ in range(args.rounds):
        for src in args.trees:
            print(f"{src}: {one(str(Path(src).resolve()), loadgen, args.seconds)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
