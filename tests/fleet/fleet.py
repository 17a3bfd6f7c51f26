"""The fleet proof: several hosts' upsd seen by Prometheus, MQTT and pnut web at once.

    ip netns exec HUB python tests/fleet/fleet.py --hosts 5 --upses 20 --report out.json

Run inside a network namespace (the "hub", made by the caller: the test
or scripts/fleet).  This script makes one more namespace per host, each
joined to the hub by a veth pair (hub side 10.79.<k>.1, host 10.79.<k>.2),
and starts on every host: one process driving its simulated UPSes
(fleetdriver.py), pnut's upsd (serving its own ``/metrics`` with
HTTP_LISTEN) and ``pnut mqtt`` publishing to the hub's broker.  In the hub:
mosquitto with ``pnut mqtt --watch``, Prometheus (scraping every host's exporter and the hub's
``pnut web``) and ``pnut web`` following every host's upsd.  A paho
observer records every state message from the start.

Then one host loses power: its link is cut (silence, no TCP reset) and
its processes are killed.  Measured from the cut: when the broker
says that host is offline (the hub's ``pnut mqtt --watch`` missing its
heartbeats, or its last will), when the hub's ``pnut web`` shows all
its UPSes down, when Prometheus sees its exporter down and its UPSes'
``nut_up`` at 0.  The drivers stop changing values a few seconds later;
then for every UPS of the other hosts the last state on the broker must
hold the last value its driver sent, and the state ``seq`` numbers the
observer received must have no gap (nothing lost on the way; counted
from the first state the broker got).  The
other hosts must never have gone offline.  Everything made is removed
at the end; the report is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path[:0] = [str(TESTS), str(TESTS / "mqtt"), str(TESTS / "web")]

from broker import Mosquitto, Observer  # noqa: E402
from websupport import PROMETHEUS, Prometheus, Web  # noqa: E402

from hostns import IP, NetNs  # noqa: E402
from support import PNUT, free_port, wait_for  # noqa: E402

UPSD_PORT = 3493
EXPORTER_PORT = 9493


class Host:
    """One simulated machine: a namespace, its config dir and its processes."""

    def __init__(self, k: int, nups: int, work: Path) -> None:
        self.k = k
        self.nups = nups
        self.addr = f"10.79.{k}.2"
        self.ns = NetNs(f"fl{k}")
        self.hub_if = f"fh{os.getpid() % 10000}x{k}"
        self.dir = work / f"host{k}"
        self.state = self.dir / "state"
        self.state.mkdir(parents=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.key = f"{self.addr}_{UPSD_PORT}"
        self.label = f"{self.addr}:{UPSD_PORT}"

    def link(self) -> None:
        """veth: this end in the hub (where this script runs), eth0 in the host."""
        subprocess.run([IP, "link", "add", self.hub_if, "type", "veth", "peer", "name", "eth0",
                        "netns", self.ns.name], check=True, capture_output=True, timeout=10)
        subprocess.run([IP, "addr", "add", f"10.79.{self.k}.1/24", "dev", self.hub_if],
                       check=True, capture_output=True, timeout=10)
        subprocess.run([IP, "link", "set", self.hub_if, "up"], check=True, capture_output=True,
                       timeout=10)
        self.ns.run([IP, "addr", "add", f"{self.addr}/24", "dev", "eth0"])
        self.ns.run([IP, "link", "set", "eth0", "up"])
        self.ns.run([IP, "route", "add", "default", "via", f"10.79.{self.k}.1"])

    def configure(self, exporter: bool) -> None:
        ups = "".join(f"[ups{i}]\n  driver = fleet\n  port = auto\n" for i in range(self.nups))
        (self.dir / "ups.conf").write_text(ups)
        http = f"HTTP_LISTEN {self.addr} {EXPORTER_PORT}\n" if exporter else ""
        (self.dir / "upsd.conf").write_text(
            f"LISTEN {self.addr} {UPSD_PORT}\nREQUIRE_TLS no\nZEROCONF no\nMAXAGE 15\n{http}")
        (self.dir / "upsd.users").write_text("[admin]\n  password = fleetpw\n  instcmds = ALL\n")

    def spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "NUT_CONFPATH": str(self.dir), "NUT_STATEPATH": str(self.state),
               "NUT_ALTPIDPATH": str(self.state), "PYTHONUNBUFFERED": "1",
               # upsd's own certificate (it listens beyond loopback): not the machine's
               "STATE_DIRECTORY": str(self.dir / "lib")}
        with open(self.dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([*self.ns.prefix, *argv], env=env, cwd=self.dir,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def sent(self) -> dict[str, int]:
        """The last fleet.seq the driver sent, per UPS."""
        out: dict[str, int] = {}
        for line in self.log("driver").splitlines():
            if line.startswith("SENT "):
                _, ups, seq = line.split()
                out[ups] = int(seq)
        return out

    def power_loss(self, cut: str = "link") -> None:
        """Go silent first, then stop everything that ran there.

        ``link``: the hub's end of the cable goes (and its route with it);
        ``carrier``: the host's interface goes dark, the hub keeps its address
        and route and sends into a link without carrier.  Neither sends a reset.
        """
        if cut == "carrier":
            self.ns.run([IP, "link", "set", "eth0", "down"])
        else:
            subprocess.run([IP, "link", "del", self.hub_if], capture_output=True, timeout=10)
        self.kill()

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)

    def close(self) -> None:
        self.kill()
        subprocess.run([IP, "link", "del", self.hub_if], capture_output=True, timeout=10)
        self.ns.delete()


def listening(addr: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((addr, port), 0.5):
        return True
    return False


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.loads(reply.read())


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="pnut-fleet-"))
    report: dict[str, Any] = {"hosts": args.hosts, "upses_per_host": args.upses,
                              "interval": args.interval}
    hosts: list[Host] = []
    broker: Mosquitto | None = None
    prom: Prometheus | None = None
    web: Web | None = None
    obs: Observer | None = None
    watcher: subprocess.Popen[bytes] | None = None
    total = args.hosts * args.upses
    try:
        subprocess.run([IP, "link", "set", "lo", "up"], check=True, timeout=10)
        broker = Mosquitto(listen="0.0.0.0").start()
        obs = Observer(broker.port, ["pnut/#"])
        # The watcher: declares a host whose bridge stopped beating offline.
        with open(work / "watch.log", "ab") as log:
            watcher = subprocess.Popen(
                [*PNUT, "mqtt", "--watch", "--broker", f"mqtt://127.0.0.1:{broker.port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for k in range(1, args.hosts + 1):
            host = Host(k, args.upses, work)
            hosts.append(host)
            host.link()
            host.configure(args.exporters)
        # Every UPS changes once per `period * upses` seconds.
        period = args.change_every / args.upses
        changes_for = args.changes_for
        for host in hosts:
            host.spawn([sys.executable, str(HERE / "fleetdriver.py"), str(host.state),
                        str(args.upses), str(period), str(changes_for)], "driver")
        for host in hosts:
            wait_for(lambda h=host: "READY" in h.log("driver"), timeout=60)
            host.spawn([*PNUT, "upsd", "-F", "-u", "root", "--confdir", str(host.dir)], "upsd")
        for host in hosts:
            wait_for(lambda h=host: listening(h.addr, UPSD_PORT), timeout=60)
            host.spawn([*PNUT, "mqtt", "--broker", f"mqtt://10.79.{host.k}.1:{broker.port}",
                        "--server", f"nut://{host.addr}", "--interval", str(args.interval),
                        "--keepalive", str(args.keepalive)], "mqtt")
        web = Web([f"nut://{h.addr}" for h in hosts], "--interval", str(args.interval))
        targets = [f"127.0.0.1:{web.port}"]
        hosts_https = [f"{h.addr}:{EXPORTER_PORT}" for h in hosts] if args.exporters else []
        prom = FleetPrometheus(targets, hosts_https, args.interval)
        targets += hosts_https
        hub = f'instance="127.0.0.1:{web.port}"'  # the hub's pnut web, following every host

        # -- everything up in all three --------------------------------------------
        started = time.monotonic()
        avail = [f"pnut/{h.key}/ups{i}/availability" for h in hosts for i in range(args.upses)]
        wait_for(lambda: all(obs.get(t) == "online" for t in avail), timeout=120)
        wait_for(lambda: sum(u["up"] for u in _upses(web)) == total, timeout=120)
        wait_for(lambda: _value(prom, f"sum(nut_up{{{hub}}})") == total and (
            not args.exporters or _value(prom, "sum(up)") == len(targets)),
            timeout=120, interval=0.3)
        report["all_up_after_s"] = round(time.monotonic() - started, 1)
        all_up = time.monotonic()
        time.sleep(args.settle)

        # -- one host loses power -------------------------------------------------------
        victim = hosts[args.kill - 1]
        t0 = time.monotonic()
        victim.power_loss(args.cut)
        seen: dict[str, float] = {}
        vlabel = victim.label
        checks = {
            # The server's topic and every UPS's own (the watcher marks both).
            "mqtt_offline": lambda: all(
                obs.get(t) == "offline" for t in [f"pnut/{victim.key}/availability", *(
                    f"pnut/{victim.key}/ups{i}/availability" for i in range(args.upses))]),
            "web_down": lambda: all(not u["up"] for u in _upses(web) if u["server"] == vlabel),
            "prometheus_nut_up": lambda: _value(
                prom, f'sum(nut_up{{{hub},server="{vlabel}"}})') == 0,
        }
        if args.exporters:
            checks["prometheus_target_down"] = lambda: _value(
                prom, f'up{{instance="{victim.addr}:{EXPORTER_PORT}"}}') == 0
        deadline = t0 + args.detect_timeout
        while len(seen) < len(checks) and time.monotonic() < deadline:
            for name, check in checks.items():
                if name not in seen:
                    with contextlib.suppress(Exception):
                        if check():
                            seen[name] = round(time.monotonic() - t0, 2)
            time.sleep(0.1)
        report["detected_after_s"] = seen
        report["missed"] = sorted(set(checks) - set(seen))

        # -- the others: unaffected, and nothing lost --------------------------------------
        others = [h for h in hosts if h is not victim]
        want_up = (args.hosts - 1) * args.upses
        report["others_up_web"] = sum(u["up"] for u in _upses(web) if u["server"] != vlabel)
        report["others_up_prometheus"] = _value(
            prom, f'sum(nut_up{{{hub},server!="{vlabel}"}})')
        report["others_expected"] = want_up
        # Let the drivers finish changing, then everything settle.
        end_changes = started + changes_for + 1  # the drivers' clocks started a bit earlier
        while time.monotonic() < end_changes and not all(
                "HOLDING" in h.log("driver") for h in others):
            time.sleep(0.2)
        time.sleep(args.interval * 3 + 1)
        report.update(_sequence_check(obs, others, args.upses))
        offline = [t for when, t, p in obs.log if when > all_up and p == "offline"
                   and not t.startswith(f"pnut/{victim.key}/")]
        report["others_offline_messages"] = offline
        report["state_messages"] = sum(1 for _, t, _ in obs.log if t.endswith("/state"))
        # Every scrape since all were up, not one look: did any other UPS or
        # exporter ever fail (a false alarm from a timeout on a loaded machine)?
        window = f"{int(time.monotonic() - all_up) + 1}s"
        report["others_min_nut_up"] = _value(
            prom, f'min(min_over_time(nut_up{{{hub},server!="{vlabel}"}}[{window}]))')
        if args.exporters:
            report["others_min_target_up"] = _value(prom, (
                f'min(min_over_time(up{{job="upsd",instance!="{victim.addr}:{EXPORTER_PORT}"}}'
                f"[{window}]))"))
        return report
    finally:
        if obs is not None:
            obs.close()
        if prom is not None:
            prom.close()
        if web is not None:
            web.close()
        if watcher is not None:
            watcher.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                watcher.wait(5)
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait(5)
        for host in hosts:
            host.close()
        if broker is not None:
            broker.close()
        if args.keep:
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(work)], timeout=30)


class FleetPrometheus(Prometheus):
    """Prometheus scraping the hub's pnut web (http) and every host's upsd (https).

    Without a CERTFILE, pnut's upsd serves HTTP_LISTEN over HTTPS with its
    own self-signed certificate, so that job skips verification.  Scrapes
    every ``interval``, each given up after half of it (a host that
    vanished must fail its scrape before the next one is due).
    """

    def __init__(self, web: list[str], upsds: list[str], interval: float) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pnut-prom-"))
        self.port = free_port()
        conf = self.dir / "prometheus.yml"
        jobs = (f"  - job_name: web\n    static_configs:\n      - targets: {json.dumps(web)}\n")
        if upsds:
            jobs += ("  - job_name: upsd\n    scheme: https\n    tls_config:\n"
                     "      insecure_skip_verify: true\n    static_configs:\n"
                     f"      - targets: {json.dumps(upsds)}\n")
        # A scrape must give up before the next is due: half the interval.
        every = round(interval * 1000)
        conf.write_text(f"global:\n  scrape_interval: {every}ms\n"
                        f"  scrape_timeout: {every // 2}ms\nscrape_configs:\n{jobs}")
        self.log = self.dir / "prometheus.log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={self.dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        wait_for(lambda: self.proc.poll() is not None or listening("127.0.0.1", self.port),
                 timeout=30, interval=0.2)
        wait_for(lambda: self.proc.poll() is not None or self.query("up") is not None,
                 timeout=30, interval=0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(self.log.read_text())


def _upses(web: Web) -> list[dict[str, Any]]:
    data = web.json("/api/v1/ups")
    items = data["upses"] if isinstance(data, dict) else data
    return list(items)


def _value(prom: Prometheus, promql: str) -> float | None:
    result = prom.query(promql)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def _sequence_check(obs: Observer, hosts: list[Host], nups: int) -> dict[str, Any]:
    """Per UPS: last state == last value sent; state seq numbers without a gap."""
    gaps: list[str] = []
    stale: list[str] = []
    values_seen = values_sent = first_above_1 = 0
    states: dict[str, list[dict[str, Any]]] = {}
    for _, topic, payload in obs.log:
        if topic.endswith("/state") and payload:
            states.setdefault(topic, []).append(json.loads(payload))
    for host in hosts:
        sent = host.sent()
        for i in range(nups):
            ups = f"ups{i}"
            msgs = states.get(f"pnut/{host.key}/{ups}/state", [])
            seqs = sorted({m["seq"] for m in msgs})
            # Contiguous from the first state the broker got: a bridge that
            # polled twice before its first broker connection sends only the
            # newer state (documented), so the first seen may be above 1.
            if not seqs or seqs != list(range(seqs[0], seqs[-1] + 1)):
                gaps.append(f"{host.label}/{ups}: {seqs[:3]}..{seqs[-3:]}")
            first_above_1 += bool(seqs) and seqs[0] > 1
            last = msgs[-1]["vars"].get("fleet.seq") if msgs else None
            if last != str(sent.get(ups, 0)):
                stale.append(f"{host.label}/{ups}: broker {last}, driver {sent.get(ups)}")
            observed = {m["vars"].get("fleet.seq") for m in msgs}
            values_sent += sent.get(ups, 0)
            values_seen += sum(1 for v in range(1, sent.get(ups, 0) + 1) if str(v) in observed)
    return {"seq_gaps": gaps, "final_state_mismatch": stale,
            "driver_values_sent": values_sent, "driver_values_seen_on_broker": values_seen,
            "upses_first_seq_above_1": first_above_1}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=5)
    p.add_argument("--upses", type=int, default=20, help="simulated UPSes per host")
    p.add_argument("--interval", type=float, default=1.0,
                   help="poll interval of pnut mqtt and pnut web, and Prometheus' scrape "
                        "interval")
    p.add_argument("--keepalive", type=int, default=1, help="pnut mqtt's MQTT keepalive")
    p.add_argument("--change-every", type=float, default=4.0,
                   help="seconds between two changes of one UPS")
    p.add_argument("--settle", type=float, default=5.0, help="seconds of steady state")
    p.add_argument("--changes-for", type=float, default=40.0,
                   help="seconds the drivers keep changing values (then hold still)")
    p.add_argument("--kill", type=int, default=2, help="which host loses power (1-based)")
    p.add_argument("--detect-timeout", type=float, default=30.0)
    p.add_argument("--cut", choices=("link", "carrier"), default="link",
                   help="how the host goes silent: the hub's end of its link is deleted "
                        "(default), or the host's interface is set down (the hub keeps its "
                        "route)")
    p.add_argument("--no-exporters", dest="exporters", action="store_false",
                   help="no HTTP_LISTEN in the hosts' upsd (Prometheus scrapes only the "
                        "hub's pnut web)")
    p.add_argument("--report", type=Path, help="write the JSON report here")
    p.add_argument("--keep", action="store_true", help="keep the logs")
    args = p.parse_args()
    report = run(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        args.report.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
