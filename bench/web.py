"""pnut web under load: scrape and API times, SETINFO-to-SSE latency, memory.

    python bench/web.py [--sizes 1,100,500] [--seconds 8] [--interval 0.5]

For each size N, pnut's upsd serves N UPSes from one minimal driver process
(the ``driver`` mode of this file, built on bench/benchdriver.py: N sockets,
about 40 realistic variables each), and ``pnut web`` follows that upsd,
polling every ``--interval`` seconds.  Measured:

* ``/metrics`` and ``/api/v1/ups``: wall time of a GET (median and p95 of
  repeated requests, after the first poll) and the body size;
* SETINFO -> SSE: the driver changes ``battery.voltage`` on one UPS after
  another (each UPS about every 2.2 poll intervals, with jitter), printing
  when it wrote SETINFO; a client of
  ``/api/v1/events`` notes when the change arrives.  pnut web polls, so the
  figure is dominated by the poll interval (expect about interval/2 at p50);
* memory: resident set of the ``pnut web`` process after the run.

The same rows again with upsd's embedded server (HTTP_LISTEN): no poll, a
change is pushed to SSE as the driver reports it; RSS is then upsd's.

Results print as a table and go to bench/results/web.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "src"))

from support import PNUT, Stack, Ups, free_port, wait_for  # noqa: E402

#: A UPS's variables besides ups.status (values as a usbhid-ups would give).
VARIABLES = {
    "battery.charge": "100", "battery.charge.low": "10", "battery.charge.warning": "50",
    "battery.runtime": "2450", "battery.runtime.low": "120", "battery.type": "PbAc",
    "battery.voltage": "27.3", "battery.voltage.nominal": "24.0", "battery.mfr.date": "2023/03/01",
    "device.mfr": "Bench", "device.model": "Bench 1500", "device.serial": "B0000001",
    "device.type": "ups", "driver.name": "bench", "driver.parameter.pollinterval": "2",
    "driver.parameter.port": "auto", "driver.version": "2.8.0", "driver.version.data": "bench",
    "driver.version.internal": "0.1", "input.frequency": "50.0", "input.frequency.nominal": "50",
    "input.sensitivity": "medium", "input.transfer.high": "280", "input.transfer.low": "170",
    "input.voltage": "229.8", "input.voltage.nominal": "230", "output.current": "1.2",
    "output.frequency": "50.0", "output.voltage": "230.1", "output.voltage.nominal": "230",
    "ups.beeper.status": "enabled", "ups.delay.shutdown": "20", "ups.delay.start": "30",
    "ups.firmware": "1.0", "ups.load": "23", "ups.mfr": "Bench", "ups.model": "Bench 1500",
    "ups.power": "345", "ups.power.nominal": "1500", "ups.realpower": "310",
    "ups.realpower.nominal": "1000", "ups.serial": "B0000001", "ups.temperature": "28.5",
    "ups.test.result": "Done and passed",
}


# -- the driver (run as: bench/web.py driver STATEPATH NUPS SECONDS INTERVAL) -----
async def run_driver(statepath: Path, nups: int, seconds: float, interval: float) -> None:
    from benchdriver import BenchUps

    upses = []
    servers = []
    for i in range(nups):
        ups = BenchUps()
        for name, value in VARIABLES.items():
            ups.state.set_info(name, value)
        upses.append(ups)
        path = statepath / f"bench-ups{i}"
        path.unlink(missing_ok=True)
        servers.append(await asyncio.start_unix_server(ups.serve, str(path)))
        os.chmod(path, 0o660)
    print("READY", flush=True)
    await asyncio.sleep(2.0)
    seq = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(interval * random.uniform(0.5, 1.5))  # no phase lock with polls
        seq += 1
        k = seq % nups
        value = f"{20 + seq % 10000 / 1000:.3f}"  # a fresh value every time
        line = upses[k].state.set_info("battery.voltage", value)
        if line is not None:
            for writer in upses[k].writers:
                writer.write(line.encode())
        print(f"SENT {k} {value} {time.monotonic():.6f}", flush=True)
    for server in servers:
        server.close()


# -- measuring ---------------------------------------------------------------------
def timed_get(url: str, times: int) -> tuple[list[float], int]:
    out = []
    size = 0
    for _ in range(times):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as resp:
            size = len(resp.read())
        out.append(time.perf_counter() - start)
    return out, size


async def sse_arrivals(port: int, seconds: float) -> dict[tuple[str, str], float]:
    """(ups index, value) -> monotonic time the change event arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 26)
    writer.write(b"GET /api/v1/events HTTP/1.1\r\nHost: bench\r\n\r\n")
    await writer.drain()
    seen: dict[tuple[str, str], float] = {}
    end = time.monotonic() + seconds
    try:
        while (left := end - time.monotonic()) > 0:
            try:
                line = await asyncio.wait_for(reader.readline(), left)
            except TimeoutError:
                break
            if not line.startswith(b"data: {\"seq\""):
                continue
            now = time.monotonic()
            data = json.loads(line[6:])
            value = data.get("set", {}).get("battery.voltage")
            if value is not None and data["ups"].startswith("ups"):
                seen.setdefault((data["ups"][3:], value), now)
    finally:
        writer.close()
    return seen


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(n: int, seconds: float, interval: float, embedded: bool) -> dict[str, Any]:
    """One row: ``pnut web`` polling upsd, or (``embedded``) upsd's own HTTP_LISTEN."""
    upses = [Ups(f"ups{i}", "", driver="bench") for i in range(n)]
    hport = free_port()
    conf = f"HTTP_LISTEN 127.0.0.1 {hport}\n" if embedded else ""
    with Stack(upses, users="[admin]\n  password = pw\n", upsd_conf=conf) as st:
        # each UPS changes about every 2.2 poll intervals, so no change is overwritten
        # before a poll could see it (a poller cannot see what lives shorter than a poll)
        period = max(0.02, 2.2 * interval / n)
        drv = st.spawn([sys.executable, __file__, "driver", str(st.state), str(n),
                        str(seconds + 60), str(period)], "driver")
        wait_for(lambda: "READY" in (st.dir / "driver.log").read_text(), timeout=60)
        upsd = st.start_upsd("pnut", wait_ups=False)
        log = st.dir / "web.log"
        web = None
        if not embedded:
            with open(log, "wb") as fh:
                web = subprocess.Popen(
                    [*PNUT, "web", "--listen", "127.0.0.1:0", "--interval", str(interval),
                     "--timeout", "30", "--server", f"nut://127.0.0.1:{st.port}"],
                    stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            if web is not None:
                url = wait_for(lambda: (m := re.search(r"(http://\S+/) ", log.read_text()))
                               and m.group(1), timeout=30)
            else:
                url = f"http://127.0.0.1:{hport}/"
            port = int(url.rstrip("/").rsplit(":", 1)[1])

            def all_up() -> bool:
                with urllib.request.urlopen(url + "api/v1/ups", timeout=60) as resp:
                    body = json.loads(resp.read())
                return sum(1 for u in body["upses"] if u["up"]) == n

            wait_for(all_up, timeout=120, interval=0.5)
            reps = 30 if n <= 100 else 10
            metrics, metrics_size = timed_get(url + "metrics", reps)
            api, api_size = timed_get(url + "api/v1/ups", reps)
            started = time.monotonic()
            arrivals = asyncio.run(sse_arrivals(port, seconds))
            sent = {}
            for line in (st.dir / "driver.log").read_text().splitlines():
                parts = line.split()
                if parts[:1] == ["SENT"] and float(parts[3]) >= started:
                    sent[(parts[1], parts[2])] = float(parts[3])
            lat = [arrivals[k] - t for k, t in sent.items() if k in arrivals]
            rss = rss_mb(web.pid if web is not None else upsd.pid)
        finally:
            if web is not None:
                web.terminate()
                web.wait(10)
            st.stop(drv)
    return {
        "mode": "upsd HTTP_LISTEN" if embedded else f"pnut web {interval:g}s poll",
        "upses": n, "metrics_ms": statistics.median(metrics) * 1e3,
        "metrics_p95_ms": pct(metrics, 0.95) * 1e3, "metrics_kb": metrics_size / 1024,
        "api_ms": statistics.median(api) * 1e3, "api_p95_ms": pct(api, 0.95) * 1e3,
        "api_kb": api_size / 1024, "sse_p50_ms": pct(lat, 0.5) * 1e3,
        "sse_p99_ms": pct(lat, 0.99) * 1e3, "sse_samples": len(lat),
        "sse_sent": len(sent), "rss_mb": rss,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'':<20} {'UPSes':>6} {'/metrics':>10} {'p95':>9} {'size':>8} {'/api/v1/ups':>12}"
            f" {'p95':>9} {'size':>8} {'SSE p50':>9} {'SSE p99':>9} {'seen':>9} {'RSS':>8}")
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['mode']:<20} {r['upses']:>6.0f} {r['metrics_ms']:>8.1f}ms"
            f" {r['metrics_p95_ms']:>7.1f}ms"
            f" {r['metrics_kb']:>6.0f}kB {r['api_ms']:>10.1f}ms {r['api_p95_ms']:>7.1f}ms"
            f" {r['api_kb']:>6.0f}kB {r['sse_p50_ms']:>7.0f}ms {r['sse_p99_ms']:>7.0f}ms"
            f" {r['sse_samples']:>4.0f}/{r['sse_sent']:<4.0f} {r['rss_mb']:>6.1f}MB")
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["driver"]:
        a = sys.argv[2:]
        asyncio.run(run_driver(Path(a[0]), int(a[1]), float(a[2]), float(a[3])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,100,500", help="UPS counts (default 1,100,500)")
    ap.add_argument("--seconds", type=float, default=8.0, help="SSE measuring time per size")
    ap.add_argument("--interval", type=float, default=0.5, help="pnut web's poll interval")
    ap.add_argument("--no-embedded", action="store_true", help="skip the HTTP_LISTEN rows")
    args = ap.parse_args()
    rows = []
    for embedded in (False, True) if not args.no_embedded else (False,):
        for n in (int(x) for x in args.sizes.split(",")):
            rows.append(measure(n, args.seconds, args.interval, embedded))
            print(f"  {rows[-1]['mode']}, {n} UPSes done", file=sys.stderr, flush=True)
    print(table(rows))
    print("SSE: SETINFO written by the driver -> change event read by a client; 'seen' counts "
          "changes delivered / changes made.  RSS: pnut web's process, or upsd's with "
          "HTTP_LISTEN.")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "web.json").write_text(json.dumps({"interval": args.interval, "rows": rows},
                                             indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
