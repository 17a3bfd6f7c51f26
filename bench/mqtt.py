"""pnut mqtt under load: SETINFO-to-MQTT latency and memory.

    python bench/mqtt.py [--sizes 1,100,500] [--seconds 8] [--interval 0.5]

For each size N, pnut's upsd serves N UPSes from one minimal driver
process (bench/web.py's ``driver`` mode: about 40 realistic variables per
UPS; it changes ``battery.voltage`` on one UPS after another, each UPS
about every 2.2 poll intervals, and logs when each SETINFO was written).
``pnut mqtt`` follows that upsd, polling every ``--interval`` seconds, and
publishes to a private mosquitto; a paho subscriber notes when each new
value arrives on ``pnut/<server>/<ups>/var/battery.voltage``.  Latency =
arrival - SETINFO (same machine, same monotonic clock).  pnut mqtt polls,
so the figure is dominated by the poll interval (expect about interval/2
at p50).  Also: the resident set of the ``pnut mqtt`` process.

Results print as a table and go to bench/results/mqtt.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "mqtt"),
                str(HERE.parent / "src")]

from broker import Mosquitto, Observer  # noqa: E402

from support import PNUT, Stack, Ups, wait_for  # noqa: E402


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(n: int, seconds: float, interval: float) -> dict[str, Any]:
    upses = [Ups(f"ups{i}", "", driver="bench") for i in range(n)]
    with Stack(upses, users="[admin]\n  password = pw\n") as st, Mosquitto() as broker:
        period = max(0.02, 2.2 * interval / n)
        drv = st.spawn([sys.executable, str(HERE / "web.py"), "driver", str(st.state), str(n),
                        str(seconds + 60), str(period)], "driver")
        wait_for(lambda: "READY" in (st.dir / "driver.log").read_text(), timeout=60)
        st.start_upsd("pnut", wait_ups=False)
        obs = Observer(broker.port, ["pnut/+/+/var/battery.voltage", "pnut/+/+/availability"])
        bridge = st.spawn([*PNUT, "mqtt", "--broker", f"mqtt://127.0.0.1:{broker.port}",
                           "--server", f"nut://127.0.0.1:{st.port}", "--interval",
                           str(interval), "--no-discovery"], "mqtt")
        try:
            key = f"127.0.0.1_{st.port}"
            wait_for(lambda: all(obs.get(f"pnut/{key}/ups{i}/availability") == "online"
                                 for i in range(n)), timeout=120, interval=0.5)
            started = time.monotonic()
            time.sleep(seconds)
            rss = rss_mb(bridge.pid)
            time.sleep(interval * 2 + 0.5)  # the last changes still on their way
            arrivals: dict[tuple[str, str], float] = {}
            for when, topic, payload in list(obs.log):
                ups = topic.split("/")[2]
                arrivals.setdefault((ups.removeprefix("ups"), payload), when)
            sent = {}
            for line in (st.dir / "driver.log").read_text().splitlines():
                parts = line.split()
                if (parts[:1] == ["SENT"] and started <= float(parts[3])
                        <= started + seconds):
                    sent[(parts[1], parts[2])] = float(parts[3])
            lat = [arrivals[k] - t for k, t in sent.items() if k in arrivals]
        finally:
            obs.close()
            st.stop(bridge)
            st.stop(drv)
    return {"upses": n, "interval": interval, "p50_ms": pct(lat, 0.5) * 1e3,
            "p99_ms": pct(lat, 0.99) * 1e3,
            "mean_ms": statistics.fmean(lat) * 1e3 if lat else float("nan"),
            "seen": len(lat), "sent": len(sent), "rss_mb": rss}


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'':<22} {'UPSes':>6} {'p50':>8} {'p99':>8} {'mean':>8} {'seen':>11} {'RSS':>8}"]
    for r in rows:
        lines.append(f"{'pnut mqtt ' + format(r['interval'], 'g') + 's poll':<22}"
                     f" {r['upses']:>6} {r['p50_ms']:>6.0f}ms {r['p99_ms']:>6.0f}ms"
                     f" {r['mean_ms']:>6.0f}ms {r['seen']:>5}/{r['sent']:<5}"
                     f" {r['rss_mb']:>6.1f}MB")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,100,500", help="UPS counts (default 1,100,500)")
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time per size")
    ap.add_argument("--interval", type=float, default=0.5, help="pnut mqtt's poll interval")
    args = ap.parse_args()
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        rows.append(measure(n, args.seconds, args.interval))
        print(f"  {n} UPSes done", file=sys.stderr, flush=True)
    print(table(rows))
    print("SETINFO written by the driver -> value received by an MQTT subscriber (QoS 1, "
          "via mosquitto); 'seen' counts changes delivered / changes made.  RSS: the "
          "pnut mqtt process.")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "mqtt.json").write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
