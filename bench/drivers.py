"""Driver rows: CPU per poll and RSS of each pnut driver beside NUT's C driver.

    python bench/drivers.py [--seconds 20] [--only serialdrv,usbhid]

Each *source* below is a module in bench/ with ``rows(seconds)``
returning dicts with ``driver``, ``impl`` (``pnut`` or ``nut``),
``cpu_ms_per_poll`` and ``rss_mb`` (extra keys are kept in the JSON).  A
helper adding a driver family adds its module and one line to
:data:`SOURCES`; a source that cannot run here (missing emulator or C
driver) returns no rows.  The table pairs pnut's row with NUT's for the
same driver; results also go to bench/results/drivers.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: (module in bench/, what it measures)
SOURCES: tuple[tuple[str, str], ...] = (
    ("serialdrv", "nutdrv_qx and apcsmart on pty emulators"),
    ("usbhid", "usbhid-ups on a umockdev-emulated UPS"),
    ("snmp", "snmp-ups on an snmpsim agent (APC PowerNet, v2c)"),
    ("hostbench", "200 UPSes: one pnut drvhost against 200 C dummy-ups processes"),
)


def collect(seconds: float, only: set[str] | None) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for module, what in SOURCES:
        if only and module not in only:
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            print(f"skipping {module} ({what}): {exc}", file=sys.stderr)
            continue
        print(f"measuring {what} ...", file=sys.stderr, flush=True)
        out.extend(mod.rows(seconds))
    return out


def table(rows: list[dict[str, object]]) -> str:
    by_driver: dict[str, dict[str, dict[str, object]]] = {}
    for row in rows:
        by_driver.setdefault(str(row["driver"]), {})[str(row["impl"])] = row
    head = (f"{'driver':<34} {'pnut CPU ms/poll':>16} {'NUT CPU ms/poll':>16} "
            f"{'pnut RSS MB':>12} {'NUT RSS MB':>11} {'RSS ratio':>9}")
    lines = [head, "-" * len(head)]
    for driver, impls in by_driver.items():
        p, n = impls.get("pnut", {}), impls.get("nut", {})

        def cell(row: dict[str, object], key: str, width: int) -> str:
            return f"{row[key]:>{width}}" if key in row else f"{'-':>{width}}"

        ratio = "-"
        if p.get("rss_mb") and n.get("rss_mb"):
            ratio = f"{float(str(p['rss_mb'])) / float(str(n['rss_mb'])):.1f}x"
        lines.append(f"{driver:<34} {cell(p, 'cpu_ms_per_poll', 16)} "
                     f"{cell(n, 'cpu_ms_per_poll', 16)} {cell(p, 'rss_mb', 12)} "
                     f"{cell(n, 'rss_mb', 11)} {ratio:>9}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", help="comma-separated source modules")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    rows = collect(args.seconds, only)
    print(table(rows))
    out = HERE / "results" / "drivers.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
