"""pnut's upsd against NUT's C upsd, side by side, in one run.

    python bench/run.py [--seconds 5] [--rounds 3] [--impl nut,pnut]
                        [--only upsd,propagation,flood]

Both servers serve the same device dump through NUT's C dummy-ups driver,
each in its own private config dir, both running at once: each load row
runs --rounds times on each server, alternating which goes first, and the
table gives the medians (on a shared VM a slow spell of a few seconds
otherwise lands on one server's rows only).  The server is pinned to CPU 0 and the
C load generator (bench/loadgen.c, compiled here) to CPU 1, so a 2-core
machine measures the server and not the client.  Beside requests/s the
table shows the server's own CPU time per request, read from
/proc/PID/stat, which is the fairer number when the load generator is
the bottleneck.  Memory is read twice: just after startup, and idle after
the load rows (TLS handshakes included: what the allocator keeps after
them counts), and again for a server without a certificate; pnut's modules
are byte-compiled first, as an installed pnut's are.  Results also
go to bench/results/latest.json.

A third section (bench/flood.py) floods each server with invalid input
while an honest client polls (issue 15).

A second table measures propagation: 16 UPSes served by a minimal driver
(bench/benchdriver.py) that changes one variable every 20 ms, and 100
clients polling GET VAR as fast as the server answers; the figure is the
time from the driver writing SETINFO to each client first seeing the new
value (medians of --rounds runs per server, alternating, as above).

TLS rows (bench/tlsbench.py): GET VAR over an established TLS session, and
full handshakes (connect, STARTTLS, handshake, VER, LOGOUT), for pnut's
upsd with CERTFILE and NUT's NSS-built upsd with an NSS database made from
the same certificate (both send it with pnut's CA behind it).  The load
generator is built with OpenSSL when libssl-dev is there; otherwise the TLS
rows are left out.  Its client makes every handshake a full one (no
tickets, no resumption), offers only TLS_AES_128_GCM_SHA256 (the suite
NUT's NSS upsd picks; pnut's OpenSSL would follow the client's preference)
and checks the server's CertificateVerify, not the chain; on OpenSSL 3.0 it
decodes the certificates' EC keys with the built-in method rather than the
provider decoders (~330 us of client CPU per handshake instead of ~600,
the row's bound before).  NUT's upsd runs each handshake to its end before
serving anyone else, so its handshake rate is bounded by that, not by its
CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import flood  # noqa: E402
import tlsbench  # noqa: E402

from support import FIXTURES, Stack, Ups, have_nut  # noqa: E402

DEV = FIXTURES / "Eaton__5PX_2000__usbhid-ups__2.7.4__01.dev"
UPS = "eaton"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, LOAD_CPU = "0", "1"
#: Connections held open for the memory rows (issue 10: 10,000 within 60 MB).
IDLE_CONNS = 10_000


def build_loadgen() -> Path:
    out = HERE / "results" / "loadgen"
    out.parent.mkdir(exist_ok=True)
    src = HERE / "loadgen.c"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        tls = subprocess.run(["gcc", "-O2", "-DWITH_TLS", "-o", str(out), str(src), "-lssl",
                              "-lcrypto"], capture_output=True)
        if tls.returncode != 0:  # no libssl-dev: plain modes only
            subprocess.run(["gcc", "-O2", "-o", str(out), str(src)], check=True)
    return out


def byte_compile_pnut() -> None:
    """Byte-compile pnut's modules, as installing it does (pip, a distribution's
    package).  Without the .pyc files, a checkout run with PYTHONDONTWRITEBYTECODE
    compiles every pure-Python module at each start, and the heap the compiler
    leaves behind (~0.9 MB) would count in the RSS rows of a upsd no deployment runs."""
    import compileall

    import pnut

    compileall.compile_dir(Path(pnut.__file__).parent, quiet=1)


def loadgen_has_tls(loadgen: Path) -> bool:
    return b"SSL_CTX_new" in loadgen.read_bytes()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Result:
    impl: str
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Why this server has no TLS rows ("" when it has them).
    tls_note: str = ""


def pinned(argv: list[str], cpu: str) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpu, *argv]
    return argv


def load(loadgen: Path, port: int, mode: str, conns: int, seconds: float) -> dict[str, float]:
    argv = pinned([str(loadgen), "127.0.0.1", str(port), mode, str(conns), str(seconds), UPS,
                   "ups.status"], LOAD_CPU)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def measure(impls: list[str], loadgen: Path, seconds: float, rounds: int,
            tls_only: bool = False) -> list[Result]:
    """The upsd rows of every server in ``impls`` (``tls_only``: only the TLS
    rows, no memory rows).

    All the servers run at once, each with its own driver and port, and each
    load row runs ``rounds`` times on each, alternating which server goes
    first, the figures being the medians: on a shared machine a slow spell
    then lands on both servers' samples instead of on whichever ran at that
    moment.  Only the server under load is busy; the others wait in epoll or
    poll, as idle servers do."""
    results = {impl: Result(impl) for impl in impls}
    users = "[admin]\n  password = pw\n  upsmon primary\n"
    with contextlib.ExitStack() as stacks:
        stack: dict[str, Stack] = {}
        pid: dict[str, int] = {}
        fresh: dict[str, float] = {}
        tls: dict[str, bool] = {}
        for impl in impls:
            st = stacks.enter_context(Stack([Ups(UPS, DEV.read_text())], users=users))
            tls_conf, results[impl].tls_note = tlsbench.upsd_conf(impl, st.dir)
            if not loadgen_has_tls(loadgen):
                tls_conf, results[impl].tls_note = None, "loadgen built without OpenSSL"
            if tls_conf is not None:
                st.write("upsd.conf", f"LISTEN 127.0.0.1 {st.port}\n{tls_conf}")
            st.start_driver(st.upses[0], "nut")
            proc = st.start_upsd(impl, prefix=pinned([], SERVER_CPU))
            stack[impl], pid[impl], tls[impl] = st, proc.pid, tls_conf is not None
            fresh[impl] = rss_mb(proc.pid)  # started, UPS ready, no client served yet
        plain = [] if tls_only else [
            ("GET VAR, 1 conn", "get", 1),
            ("GET VAR, 16 conns", "get", 16),
            ("GET VAR, 256 conns", "get", 256),
            ("LIST VAR, 16 conns", "list", 16),
            ("connect+VER+LOGOUT, 16 conns", "connect", 16),
        ]
        scenarios = [(*row, False) for row in plain] + [
            (*row, True) for row in tlsbench.SCENARIOS]
        for label, mode, conns, needs_tls in scenarios:
            samples: dict[str, list[dict[str, float]]] = {impl: [] for impl in impls}
            for n in range(rounds):
                for impl in (impls if n % 2 == 0 else impls[::-1]):
                    if needs_tls and not tls[impl]:
                        continue
                    before = cpu_seconds(pid[impl])
                    data = load(loadgen, stack[impl].port, mode, conns, seconds)
                    used = cpu_seconds(pid[impl]) - before
                    samples[impl].append({
                        "per_s": data["requests"] / data["seconds"],
                        "cpu_us": used / max(data["requests"], 1) * 1e6,
                        "p99_us": data["p99_us"],
                        "errors": data["errors"],
                    })
            for impl, runs in samples.items():
                if runs:
                    results[impl].rows[label] = {
                        key: (sum(r[key] for r in runs) if key == "errors"
                              else statistics.median(r[key] for r in runs))
                        for key in runs[0]}
        if tls_only:
            return list(results.values())
        for impl in impls:
            memory_rows(results[impl], stack[impl].port, pid[impl], fresh[impl], loadgen,
                        seconds)
    return list(results.values())


def memory_rows(res: Result, port: int, pid: int, fresh: float, loadgen: Path,
                seconds: float) -> None:
    """RSS just started, idle after the load rows and with IDLE_CONNS idle
    connections held, and one client's rate meanwhile."""
    base = rss_mb(pid)
    argv = pinned([str(loadgen), "127.0.0.1", str(port), "idle", str(IDLE_CONNS), "50"],
                  LOAD_CPU)
    idle = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert idle.stdout is not None
        ready = idle.stdout.readline()
        time.sleep(1.0)
        held = rss_mb(pid)
        res.rows["RSS, just started (MB)"] = {"value": fresh}
        res.rows["RSS, idle server (MB)"] = {"value": base}  # after the rows above
        res.rows[f"RSS, {IDLE_CONNS} idle conns (MB)"] = {
            "value": held, "conns": float(ready.split()[1]) if ready.startswith("READY")
            else 0.0}
        # Single-client latency with the idle connections held (target: within
        # 10% of "GET VAR, 1 conn" above).
        data = load(loadgen, port, "get", 1, min(seconds, 5.0))
        res.rows[f"GET VAR, 1 conn, {IDLE_CONNS} idle held"] = {
            "per_s": data["requests"] / data["seconds"], "cpu_us": float("nan"),
            "p99_us": data["p99_us"], "errors": data["errors"]}
    finally:
        idle.terminate()
        idle.wait(10)


def plain_rss_rows(impl: str, loadgen: Path, seconds: float) -> dict[str, dict[str, float]]:
    """RSS of a upsd without a certificate: just started, and idle after GET VAR load.

    The rows above measure a server with STARTTLS configured (its TLS rows
    need one); most sites run without, and pnut loads no TLS code then."""
    with Stack([Ups(UPS, DEV.read_text())]) as st:
        st.start_driver(st.upses[0], "nut")
        proc = st.start_upsd(impl, prefix=pinned([], SERVER_CPU))
        fresh = rss_mb(proc.pid)
        for conns in (1, 16, 256):
            load(loadgen, st.port, "get", conns, min(seconds, 2.0))
        load(loadgen, st.port, "connect", 16, min(seconds, 2.0))
        return {"RSS, just started, no TLS (MB)": {"value": fresh},
                "RSS, idle after load, no TLS (MB)": {"value": rss_mb(proc.pid)}}


def flood_rows(impl: str, seconds: float) -> dict[str, dict[str, float]]:
    """The flood section (bench/flood.py): one fresh server per scenario."""
    rows: dict[str, dict[str, float]] = {}
    users = "[admin]\n  password = pw\n  upsmon primary\n"
    for scenario in flood.SCENARIOS:
        with Stack([Ups(UPS, DEV.read_text())], users=users) as st:
            tls_conf, _note = tlsbench.upsd_conf(impl, st.dir)
            if scenario[5] and tls_conf is None:
                continue
            st.write("upsd.conf", f"LISTEN 127.0.0.1 {st.port}\n{tls_conf or ''}")
            st.start_driver(st.upses[0], "nut")
            proc = st.start_upsd(impl, prefix=pinned([], SERVER_CPU))
            rows[scenario[0]] = flood.run_scenario(
                st.port, proc.pid, seconds, scenario, pinned, cpu_seconds, SERVER_CPU, LOAD_CPU,
                UPS)
            print(f"  flood {impl} {scenario[0]}: {rows[scenario[0]]}", file=sys.stderr,
                  flush=True)
    return rows


PROP_UPSES, PROP_CLIENTS, PROP_INTERVAL = 16, 100, 0.02


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def propagation(impl: str, loadgen: Path, seconds: float) -> dict[str, float]:
    """SETINFO-to-client latency with 16 UPSes and 100 polling clients."""
    upses = [Ups(f"ups{i}", "", driver="bench") for i in range(PROP_UPSES)]
    users = "[admin]\n  password = pw\n"
    with Stack(upses, users=users) as st:
        drv = st.spawn(pinned([sys.executable, str(HERE / "benchdriver.py"), str(st.state),
                               str(PROP_UPSES), str(seconds + 30), str(PROP_INTERVAL)], LOAD_CPU),
                       "benchdriver")
        st.logs.pop()  # its stdout is the SENT log, read below
        st.start_upsd(impl, prefix=pinned([], SERVER_CPU))
        argv = pinned([str(loadgen), "127.0.0.1", str(st.port), "watch", str(PROP_CLIENTS),
                       str(seconds), "ups", "bench.seq", str(PROP_UPSES)], LOAD_CPU)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                             check=True)
        st.stop(drv)
        sent: dict[tuple[str, str], float] = {}
        for line in (st.dir / "benchdriver.log").read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["SENT"]:
                sent[(parts[1], parts[2])] = float(parts[3])
    lat = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["SEEN"] and (parts[1], parts[2]) in sent:
            lat.append(float(parts[3]) - sent[(parts[1], parts[2])])
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "p50_ms": percentile(lat, 0.5) * 1e3,
        "p99_ms": percentile(lat, 0.99) * 1e3,
        "samples": float(len(lat)),
        "polls_per_s": summary["requests"] / summary["seconds"],
    }


def propagation_table(rows: dict[str, dict[str, float]]) -> str:
    lines = [f"{'SETINFO -> client sees it':<32} {'p50':>9} {'p99':>9} {'samples':>8}"
             f" {'polls/s':>9}   (16 UPSes, 100 polling clients)"]
    for impl, row in rows.items():
        lines.append(f"{impl + ' upsd':<32} {row['p50_ms']:>7.2f}ms {row['p99_ms']:>7.2f}ms"
                     f" {row['samples']:>8.0f} {row['polls_per_s']:>9.0f}")
    if {"nut", "pnut"} <= rows.keys():
        ratio = rows["pnut"]["p99_ms"] / rows["nut"]["p99_ms"]
        lines.append(f"{'ratio p99 pnut / NUT':<32} {ratio:>9.2f}   (lower is better)")
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    by = {r.impl: r for r in results}
    nut, pn = by.get("nut"), by.get("pnut")
    lines = [
        f"{'metric':<32} {'NUT req/s':>11} {'pnut req/s':>11} {'ratio':>6}"
        f" {'NUT cpu/req':>12} {'pnut cpu/req':>13} {'NUT p99':>9} {'pnut p99':>9}",
    ]
    labels = list((nut or pn).rows) if (nut or pn) else []
    labels += [label for r in (nut, pn) if r for label in r.rows if label not in labels]
    for label in labels:
        a = nut.rows.get(label) if nut else None
        b = pn.rows.get(label) if pn else None
        if "value" in (a or b or {}):
            va = a["value"] if a else float("nan")
            vb = b["value"] if b else float("nan")
            ratio = vb / va if a and b and va else float("nan")
            lines.append(f"{label:<32} {va:>11.1f} {vb:>11.1f} {ratio:>6.2f}")
            continue
        ra = a["per_s"] if a else float("nan")
        rb = b["per_s"] if b else float("nan")
        ratio = rb / ra if a and b and ra else float("nan")
        ca = f"{a['cpu_us']:.1f}us" if a else "-"
        cb = f"{b['cpu_us']:.1f}us" if b else "-"
        pa = f"{a['p99_us'] / 1000:.2f}ms" if a else "-"
        pb = f"{b['p99_us'] / 1000:.2f}ms" if b else "-"
        lines.append(f"{label:<32} {ra:>11.0f} {rb:>11.0f} {ratio:>6.2f} {ca:>12} {cb:>13}"
                     f" {pa:>9} {pb:>9}")
    lines.append("ratio = pnut / NUT (req/s: higher is better; RSS: lower is better)")
    for r in results:
        if r.tls_note:
            lines.append(f"no TLS rows for {r.impl}: {r.tls_note}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each load run")
    ap.add_argument("--impl", default="nut,pnut", help="comma list of servers to measure")
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs of each load row on each server, alternating (medians)")
    ap.add_argument("--only", default="upsd,propagation,flood",
                    help="comma list of sections: upsd, propagation, flood (10 s runs at "
                         "least), tls (only upsd's TLS rows)")
    args = ap.parse_args()
    if not have_nut():
        need = "apt-get install nut-server nut-client"
        print(f"bench: Debian's NUT 2.8.0 is needed ({need})", file=sys.stderr)
        return 2
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    loadgen = build_loadgen()
    byte_compile_pnut()
    impls = args.impl.split(",")
    only = set(args.only.split(","))
    data: dict[str, object] = {}
    if "upsd" in only:
        results = measure(impls, loadgen, args.seconds, args.rounds)
        for res in results:
            res.rows.update(plain_rss_rows(res.impl, loadgen, args.seconds))
        print(table(results), flush=True)
        data.update({r.impl: r.rows for r in results})
    elif "tls" in only:
        results = measure(impls, loadgen, args.seconds, args.rounds, tls_only=True)
        print(table(results), flush=True)
        data.update({r.impl: r.rows for r in results})
    if "propagation" in only:
        runs: dict[str, list[dict[str, float]]] = {impl: [] for impl in impls}
        for n in range(args.rounds):  # alternating, medians: as the upsd rows
            for impl in (impls if n % 2 == 0 else impls[::-1]):
                runs[impl].append(propagation(impl, loadgen, args.seconds))
        prop = {impl: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
                for impl, rows in runs.items()}
        print()
        print(propagation_table(prop), flush=True)
        data["propagation"] = prop
    if "flood" in only:
        floods = {impl: flood_rows(impl, max(args.seconds, 10.0)) for impl in impls}
        print()
        print(flood.table(floods), flush=True)
        data["flood"] = floods
    out = HERE / "results" / ("latest.json" if len(only) == 3 else
                              f"latest-{'-'.join(sorted(only))}.json")
    out.write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
