"""``pnut mqtt`` against a real mosquitto, pnut's upsd and NUT's C upsd.

Each test starts the broker, upsd with NUT's dummy-ups plus a scripted
driver socket (:class:`FakeDriver`, to push SETINFO and see INSTCMD
arrive), and ``pnut mqtt`` as a separate process; a paho observer reads
what a Home Assistant or any subscriber would read.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Mosquitto, Observer

from conftest import requires_nut
from support import PNUT, Stack, Ups, wait_for
from upsd_support import FakeDriver

DEV = """ups.status: OL CHRG
ups.mfr: Acme
ups.model: "Backup 1500"
battery.charge: 87
battery.runtime: 1500
input.voltage: 230.5
ups.load: 21
"""

FAKE_DUMP = ['SETINFO ups.status "OL"', 'SETINFO ups.load "10"', 'SETINFO battery.charge "100"',
             "ADDCMD beeper.off", "ADDCMD test.battery.start", "DATAOK", "DUMPDONE"]

USERS = """\
[admin]
  password = "s3cret pw"
  instcmds = ALL
  actions = SET
"""


def start_bridge(st: Stack, broker: Mosquitto, servers: list[int], *extra: str,
                 name: str = "mqtt") -> subprocess.Popen[bytes]:
    pw = st.write("mqtt-pw", "s3cret pw\n")
    argv = [*PNUT, "mqtt", "--broker", f"mqtt://127.0.0.1:{broker.port}",
            "--password-file", str(pw), "--interval", "0.5", "--keepalive", "2", *extra]
    for port in servers:
        argv += ["--server", f"nut://admin@127.0.0.1:{port}"]
    return st.spawn(argv, name)


def state(obs: Observer, topic: str) -> dict[str, object]:
    raw = obs.get(topic)
    return json.loads(raw) if raw else {}


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as b:
        yield b


def _stack() -> tuple[Stack, FakeDriver]:
    upses = [Ups("eaton", DEV, desc="rack A"), Ups("fake", "", desc="scripted")]
    st = Stack(upses, users=USERS, upsd_conf="MAXAGE 15\n")
    fake = FakeDriver(st.state / "dummy-ups-fake", FAKE_DUMP)
    return st, fake


def _answer_tracking(fake: FakeDriver, seen: set[str]) -> None:
    for line in fake.lines("INSTCMD"):
        found = re.search(r"TRACKING (\S+)", line)
        if found and found.group(1) not in seen:
            seen.add(found.group(1))
            fake.push(f"TRACKING {found.group(1)} 0\n")


@pytest.mark.parametrize("impl", ["pnut", pytest.param("nut", marks=requires_nut)])
def test_state_discovery_setinfo_and_command(broker: Mosquitto, impl: str) -> None:
    st, fake = _stack()
    obs = None
    try:
        st.start_driver(st.upses[0], "nut")
        st.start_upsd(impl)
        obs = Observer(broker.port, ["pnut/#", "homeassistant/#"])
        bridge = start_bridge(st, broker, [st.port], "--commands")
        base = f"pnut/127.0.0.1_{st.port}"
        obs.wait(f"{base}/eaton/state", lambda v: json.loads(v)["available"])
        eaton = state(obs, f"{base}/eaton/state")
        assert eaton["status"] == ["OL", "CHRG"]
        assert eaton["description"] == "rack A"
        assert eaton["vars"]["battery.charge"] == "87"  # type: ignore[index]
        assert obs.get(f"{base}/eaton/var/battery.charge") == "87"
        assert obs.get(f"{base}/eaton/var/ups.model") == "Backup 1500"
        assert obs.get(f"{base}/eaton/availability") == "online"
        assert obs.get(f"{base}/availability") == "online"

        # Home Assistant discovery: one device per UPS, typed sensors, buttons
        # (those once LIST CMD has been answered).
        wait_for(lambda: len([t for t in obs.topics(lambda t: t.startswith("homeassistant/button/"))
                              if f"{base}/fake/" in (obs.get(t) or "")]) == 2)
        configs = {t: json.loads(obs.get(t) or "{}")
                   for t in obs.topics(lambda t: t.startswith("homeassistant/"))}
        charge = next(c for t, c in configs.items() if t.endswith("/battery_charge/config")
                      and c["state_topic"] == f"{base}/eaton/var/battery.charge")
        assert (charge["device_class"], charge["unit_of_measurement"],
                charge["state_class"]) == ("battery", "%", "measurement")
        assert charge["device"]["manufacturer"] == "Acme"
        assert charge["device"]["model"] == "Backup 1500"
        assert {"topic": f"{base}/availability"} in charge["availability"]
        runtime = next(c for t, c in configs.items() if t.endswith("/battery_runtime/config"))
        assert (runtime["device_class"], runtime["unit_of_measurement"]) == ("duration", "s")
        volts = next(c for t, c in configs.items() if t.endswith("/input_voltage/config"))
        assert (volts["device_class"], volts["unit_of_measurement"]) == ("voltage", "V")
        on_batt = [c for t, c in configs.items() if t.startswith("homeassistant/binary_sensor/")
                   and t.endswith("/on_battery/config")]
        assert len(on_batt) == 2  # one per UPS
        buttons = sorted(c["command_topic"] for t, c in configs.items()
                         if t.startswith("homeassistant/button/")
                         and "/fake/" in c["command_topic"])
        assert buttons == [f"{base}/fake/command/beeper.off",
                           f"{base}/fake/command/test.battery.start"]
        devices = {json.dumps(c["device"]["identifiers"]) for c in configs.values()}
        assert len(devices) == 2

        # A SETINFO from the driver becomes a retained update.
        seq = state(obs, f"{base}/fake/state")["seq"]
        fake.push('SETINFO ups.load "55"\nSETINFO ups.status "OB DISCHRG"\n')
        obs.wait(f"{base}/fake/var/ups.load", lambda v: v == "55")
        obs.wait(f"{base}/fake/state", lambda v: json.loads(v)["status"] == ["OB", "DISCHRG"])
        after = state(obs, f"{base}/fake/state")
        assert after["vars"]["ups.load"] == "55"  # type: ignore[index]
        assert isinstance(seq, int) and after["seq"] > seq  # type: ignore[operator]
        late = Observer(broker.port, [f"{base}/fake/#"])  # a late subscriber sees it retained
        try:
            late.wait(f"{base}/fake/var/ups.load", lambda v: v == "55", timeout=5)
        finally:
            late.close()

        # A command in on MQTT reaches the UPS through upsd.
        seen: set[str] = set()
        obs.publish(f"{base}/fake/command/beeper.off", "PRESS")
        wait_for(lambda: _answer_tracking(fake, seen) or
                 any(x.startswith("INSTCMD beeper.off") for x in fake.lines("INSTCMD")))
        obs.publish(f"{base}/fake/command/nosuch.cmd", "")
        obs.publish(f"{base}/fake/command/test.battery.start", "")
        wait_for(lambda: _answer_tracking(fake, seen) or any(
            x.startswith("INSTCMD test.battery.start") for x in fake.lines("INSTCMD")))
        results = wait_for(lambda: _answer_tracking(fake, seen) or
                           obs.messages(f"{base}/fake/command/test.battery.start/result"))
        assert json.loads(results[0])["result"] in ("SUCCESS", "OK")
        assert not any("nosuch" in x for x in fake.lines("INSTCMD"))

        # Stale data: only that UPS goes offline.
        fake.push("DATASTALE\n")
        obs.wait(f"{base}/fake/availability", lambda v: v == "offline")
        assert obs.get(f"{base}/eaton/availability") == "online"
        fake.push("DATAOK\n")
        obs.wait(f"{base}/fake/availability", lambda v: v == "online")

        # A clean stop leaves everything offline (not only the server's will).
        bridge.terminate()
        assert bridge.wait(15) == 0
        for topic in (f"{base}/eaton/availability", f"{base}/fake/availability",
                      f"{base}/availability"):
            obs.wait(topic, lambda v: v == "offline", timeout=5)
        assert "s3cret" not in st.log_text()
        assert "Traceback" not in st.log_text()
    finally:
        if obs is not None:
            obs.close()
        st.close()
        fake.close()


def test_reconnects_will_and_same_ups_names(broker: Mosquitto, tmp_path: Path) -> None:
    """Two servers with a UPS of the same name; broker and upsd restarts; a
    silent bridge declared offline by a watcher; last will."""
    one = Stack([Ups("eaton", DEV)], users=USERS)
    two = Stack([Ups("eaton", DEV.replace("battery.charge: 87", "battery.charge: 12"))],
                users=USERS)
    obs = None
    try:
        one.start()
        two.start(upsd="pnut")
        upsd_two = next(p for p in two.procs if "upsd" in str(p.args))
        obs = Observer(broker.port, ["pnut/#"])
        bridge = start_bridge(one, broker, [one.port, two.port])
        a, b = f"pnut/127.0.0.1_{one.port}", f"pnut/127.0.0.1_{two.port}"
        obs.wait(f"{a}/eaton/var/battery.charge", lambda v: v == "87")
        obs.wait(f"{b}/eaton/var/battery.charge", lambda v: v == "12")

        # The broker restarts (and forgets every retained message): the
        # bridge reconnects by itself and publishes the whole picture again.
        broker.stop()
        broker.start()
        fresh = Observer(broker.port, ["pnut/#"])
        try:
            fresh.wait(f"{a}/eaton/var/battery.charge", lambda v: v == "87", timeout=30)
            fresh.wait(f"{b}/eaton/state", lambda v: json.loads(v)["available"], timeout=30)
        finally:
            fresh.close()

        # upsd two goes away: its UPS and server go offline, the other stays.
        two.stop(upsd_two)
        obs.wait(f"{b}/eaton/availability", lambda v: v == "offline", timeout=30)
        obs.wait(f"{b}/availability", lambda v: v == "offline")
        assert obs.get(f"{a}/eaton/availability") == "online"
        two.start_upsd("pnut")
        obs.wait(f"{b}/eaton/availability", lambda v: v == "online", timeout=30)

        # The bridge falls silent (SIGSTOP: its connection stays, as when its
        # host loses power): the watcher, missing its heartbeats, says
        # offline - on each server's availability topic and its UPS's (the
        # watcher learnt those from the broker) - long before the broker's
        # keepalive check would; back, the bridge puts online again (its upsd
        # answers), on every one of those topics.
        watcher = one.spawn([*PNUT, "mqtt", "--watch", "--broker",
                             f"mqtt://127.0.0.1:{broker.port}"], "watch")
        wait_for(lambda: f"hearing {a}" in one.log_text() and f"hearing {b}" in one.log_text())
        assert json.loads(obs.wait(f"{a}/heartbeat", bool))["grace"] == 0.625
        availability = [f"{a}/availability", f"{a}/eaton/availability",
                        f"{b}/availability", f"{b}/eaton/availability"]
        seen = {topic: len(obs.messages(topic)) for topic in availability}
        bridge.send_signal(signal.SIGSTOP)
        try:
            for topic in availability:
                obs.wait(topic, lambda v: v == "offline", timeout=15)
        finally:
            bridge.send_signal(signal.SIGCONT)
        assert "no heartbeat for" in one.log_text()
        for topic in availability:
            obs.wait(topic, lambda v: v == "online", timeout=15)
            # The watcher's offline first, the bridge's online last. (Seen once
            # under load: offline, offline, online - a second offline from the
            # bridge's side before it puts online back: a poll of the resumed
            # bridge that timed out after the stall, or its last will. The
            # watcher cannot say offline twice without an online between.)
            news = obs.messages(topic)[seen[topic]:]
            assert news[0] == "offline" and news[-1] == "online", (topic, news)
        watcher.terminate()
        assert watcher.wait(10) == 0

        # The bridge dies without a goodbye: the broker sends its last will.
        assert isinstance(bridge, subprocess.Popen)
        bridge.send_signal(signal.SIGKILL)
        obs.wait(f"{a}/availability", lambda v: v == "offline", timeout=15)
        obs.wait(f"{b}/availability", lambda v: v == "offline", timeout=15)
        assert "s3cret" not in one.log_text()
    except BaseException:
        print(one.log_text())
        raise
    finally:
        if obs is not None:
            obs.close()
        one.close()
        two.close()


def test_mqtts_broker_with_password(tmp_path: Path) -> None:
    """mqtts://USER@: the bridge checks the broker's certificate against
    --broker-cafile and logs in with the password from $PNUT_MQTT_PASSWORD;
    without the CA, or with a wrong password, it does not get in."""
    from pnut.tls.certs import init_pki

    pki = tmp_path / "pki"
    init_pki(pki, ["127.0.0.1"])
    # mosquitto reads these after dropping root for its own user: readable copies.
    shared = Path(tempfile.mkdtemp(prefix="pnut-mosq-tls-"))
    shared.chmod(0o755)
    pem = shared / "server.pem"
    pem.write_bytes((pki / "server.pem").read_bytes())
    passwords = shared / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), "bridge", "br pw"],
                   check=True, capture_output=True, timeout=10)
    for path in (pem, passwords):
        path.chmod(0o644)
    try:
        with Mosquitto(tls_pem=pem, tls_passwords=passwords) as tls_broker, \
                Stack([Ups("eaton", DEV)], users=USERS) as st:
            st.start(upsd="pnut", driver="pnut")
            obs = Observer(tls_broker.port, ["pnut/#"])
            try:
                url = f"mqtts://bridge@127.0.0.1:{tls_broker.tls_port}"
                server = ["--server", f"127.0.0.1:{st.port}"]
                cafile = ["--broker-cafile", str(pki / "ca.pem")]
                st.spawn([*PNUT, "mqtt", "--broker", url, *server], "unverified",
                         env={"PNUT_MQTT_PASSWORD": "br pw"})
                st.spawn([*PNUT, "mqtt", "--broker", url, *cafile, *server], "wrongpw",
                         env={"PNUT_MQTT_PASSWORD": "nope"})
                st.spawn([*PNUT, "mqtt", "--broker", url, *cafile, "--interval", "0.5",
                          *server], "verified", env={"PNUT_MQTT_PASSWORD": "br pw"})
                base = f"pnut/127.0.0.1_{st.port}"
                obs.wait(f"{base}/eaton/var/battery.charge", lambda v: v == "87")
                logs = {name: st.dir / f"{name}.log" for name in ("unverified", "wrongpw")}
                wait_for(lambda: "certificate verify failed"
                         in logs["unverified"].read_text().lower())
                wait_for(lambda: "not authori" in logs["wrongpw"].read_text().lower())
                for log in logs.values():
                    assert "connected to" not in log.read_text()
                assert "br pw" not in st.log_text() and "nope" not in st.log_text()
            finally:
                obs.close()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_sigterm_as_a_publish_completes(broker: Mosquitto) -> None:
    """SIGTERM timed to land as a heartbeat's publish completes (see
    sigterm_at_publish.py): `pnut mqtt` still stops, every time, and leaves its
    server offline. Before the stop event, hops 0 and 1 hung for ever."""
    helper = Path(__file__).with_name("sigterm_at_publish.py")
    with Stack([Ups("eaton", DEV)], users=USERS) as st:
        st.start(upsd="pnut", driver="pnut")
        obs = Observer(broker.port, ["pnut/+/availability"])
        topic = f"pnut/127.0.0.1_{st.port}/availability"
        try:
            for hops in range(3):
                proc = st.spawn([sys.executable, str(helper), str(hops), "--broker",
                                 f"mqtt://127.0.0.1:{broker.port}", "--server",
                                 f"nut://127.0.0.1:{st.port}", "--interval", "0.5",
                                 "--keepalive", "2"], f"stop-{hops}")
                try:
                    assert proc.wait(10) == 0, st.log_text()
                except subprocess.TimeoutExpired:
                    pytest.fail(f"no exit within 10 s of SIGTERM (hops {hops})")
                wait_for(lambda n=hops + 1: obs.messages(topic).count("offline") == n)
                assert obs.messages(topic)[-2:] == ["online", "offline"]
                log = (st.dir / f"stop-{hops}.log").read_text()
                assert "Traceback" not in log
                # The previous run's retained goodbye is no false alarm to undo.
                assert "marked offline" not in log
        finally:
            obs.close()

        # SIGTERM while the broker is away (the bridge between reconnects).
        proc = start_bridge(st, broker, [st.port])
        wait_for(lambda: "connected to" in (st.dir / "mqtt.log").read_text())
        broker.stop()
        wait_for(lambda: "retrying in" in (st.dir / "mqtt.log").read_text())
        proc.terminate()
        assert proc.wait(10) == 0
        assert "Traceback" not in (st.dir / "mqtt.log").read_text()
