"""``pnut scan`` on real agents, servers, ports and device trees.

SNMP: snmpsim on 127.0.0.1 (and, for the comparison with Debian's
nut-scanner, on port 161 inside a network namespace of its own).  NUT
servers: pnut's upsd.  Serial: the Q1 emulator and a small APC Smart
responder on ptys.  USB: a sysfs-shaped tree of real files.  mDNS: upsd's
announcement inside a network namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "driver"))

from snmpagent import RESPONDER, V3, Agent, SnmpdV3, have_snmpd, have_snmpsim

from hostns import NetNs, can_netns
from support import PNUT, Stack, Ups, free_port, needs, wait_for

needs_snmpsim = needs(None if have_snmpsim() else "snmpsim is not installed")


def scan(*args: str, timeout: float = 60, prefix: list[str] | None = None) -> str:
    out = subprocess.run([*(prefix or []), *PNUT, "scan", "-q", *args], capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    ag = Agent().start()
    yield ag
    ag.close()


@needs_snmpsim
def test_snmp_agents_with_their_mibs(agent: Agent, tmp_path: Path) -> None:
    text = scan("-S", "-s", "127.0.0.1", "-e", "127.0.0.3", "--snmp-port", str(agent.port),
                "-c", "mge", "-t", "2")
    assert text == (f'[nutdev1]\n\tdriver = "snmp-ups"\n\tport = "127.0.0.1:{agent.port}"\n'
                    '\tdesc = "Eaton 5PX"\n\tmibs = "mge"\n\tcommunity = "mge"\n')
    # APC's sysObjectID is in no mapping: found by the model OID, listed once.
    apc = json.loads(scan("-S", "-m", "127.0.0.1/32", "--snmp-port", str(agent.port),
                          "-c", "apcc", "--snmp-version", "v2c", "--json"))
    assert apc == [{"type": "SNMP", "driver": "snmp-ups", "port": f"127.0.0.1:{agent.port}",
                    "options": {"desc": "Smart-UPS 5000", "mibs": "apcc",
                                "snmp_version": "v2c", "community": "apcc"}}]
    # The section is a working ups.conf entry.
    conf = tmp_path / "ups.conf"
    conf.write_text(text.replace("[nutdev1]", "[found]"))
    env = dict(os.environ, NUT_CONFPATH=str(tmp_path), NUT_STATEPATH=str(tmp_path))
    out = subprocess.run([*PNUT, "driver", "snmp-ups", "-a", "found", "-d", "1"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert "ups.model: Eaton 5PX" in out.stdout, out.stderr


@needs_snmpsim
@needs(None if have_snmpd() else "Debian's snmpd is not installed")
def test_snmpv3_scan(agent: Agent) -> None:
    front = SnmpdV3(agent, "apcc")
    try:
        found = json.loads(scan("-S", "-s", "127.0.0.1", "--snmp-port", str(front.port),
                                "-u", V3["user"], "-l", "authPriv", "-w", "SHA", "-W",
                                V3["auth"], "-x", "AES", "-X", V3["priv"], "-t", "2", "--json"))
    finally:
        front.close()
    assert found == [{"type": "SNMP", "driver": "snmp-ups", "port": f"127.0.0.1:{front.port}",
                      "options": {"desc": "Smart-UPS 5000", "mibs": "apcc", "snmp_version": "v3",
                                  "secLevel": "authPriv", "secName": V3["user"],
                                  "authPassword": V3["auth"], "authProtocol": "SHA",
                                  "privPassword": V3["priv"], "privProtocol": "AES"}}]


@needs_snmpsim
@pytest.mark.skipif(not can_netns(), reason="needs root for a network namespace")
def test_snmp_scan_like_nut_scanner() -> None:
    """Both scanners against snmpsim on port 161 in a namespace of their own."""
    ns = NetNs("scan")
    agent = Agent()
    addr = "10.78.0.1"
    proc = None
    try:
        ns.private_link(f"{addr}/24")
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
        proc = subprocess.Popen(
            [*ns.prefix, str(RESPONDER), f"--data-dir={agent.data}",
             f"--cache-dir={agent.dir / 'cache'}", f"--agent-udpv4-endpoint={addr}:161"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            r = ns.run(["snmpget", "-v2c", "-c", "mge", "-t", "1", "-r", "0", addr,
                        "1.3.6.1.2.1.1.2.0"])
            return r.returncode == 0
        wait_for(up, timeout=30, interval=0.3)
        for community in ("mge", "cyberpower", "ietf"):
            nut = ns.run(["nut-scanner", "-q", "-S", "-s", addr, "-c", community, "-t", "2"])
            ours = scan("-S", "-s", addr, "-c", community, "-t", "2", prefix=ns.prefix)
            assert ours == nut.stdout, (community, nut.stdout, nut.stderr)
        # NUT lists APC's card twice (apcc and ietf both answer); pnut once, as apcc.
        nut = ns.run(["nut-scanner", "-q", "-S", "-s", addr, "-c", "apcc", "-t", "2"]).stdout
        ours = scan("-S", "-s", addr, "-c", "apcc", "-t", "2", prefix=ns.prefix)
        assert ours.count("[nutdev") == 1 and nut.count("[nutdev") == 2
        assert ours in nut
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        agent.close()
        ns.delete()


def test_nut_servers() -> None:
    dev = "ups.status: OL\nups.mfr: Acme\n"
    with Stack([Ups("alpha", dev, desc="Rack A"), Ups("beta", dev)]) as st:
        st.start(upsd="pnut", driver="pnut")
        text = scan("-O", "-s", "127.0.0.1", "-p", str(st.port), "-t", "3")
        free = free_port()
        assert scan("-O", "-s", "127.0.0.1", "-p", str(free), "-t", "1") == ""
    where = f"127.0.0.1:{st.port}"
    assert text == (f'[nutdev1]\n\tdriver = "dummy-ups"\n\tport = "alpha@{where}"\n'
                    f'\tdesc = "Rack A"\n[nutdev2]\n\tdriver = "dummy-ups"\n'
                    f'\tport = "beta@{where}"\n')


def _sysfs(root: Path, name: str, **attrs: str) -> None:
    d = root / name
    d.mkdir(parents=True)
    for key, value in attrs.items():
        (d / key).write_text(value + "\n")


def test_usb_devices_by_the_drivers_tables(tmp_path: Path) -> None:
    _sysfs(tmp_path, "1-1", idVendor="051d", idProduct="0002", manufacturer="American Power "
           "Conversion", product="Back-UPS ES 700 FW:871.O2 .I USB FW:O2", serial="4B1234P56789",
           busnum="1")
    _sysfs(tmp_path, "1-1:1.0", idVendor="051d", idProduct="0002")  # an interface
    _sysfs(tmp_path, "2-3", idVendor="0764", idProduct="0501", product="CP1500PFCLCD",
           busnum="2")
    _sysfs(tmp_path, "2-4", idVendor="046d", idProduct="c52b", product="Receiver", busnum="2")
    _sysfs(tmp_path, "usb1", idVendor="1d6b", idProduct="0002", busnum="1")
    text = scan("-U", "--usb-root", str(tmp_path), "-P")
    assert text.splitlines() == [
        'USB:driver="usbhid-ups",port="auto",vendorid="051D",productid="0002",'
        'product="Back-UPS ES 700 FW:871.O2 .I USB FW:O2",serial="4B1234P56789",'
        'vendor="American Power Conversion",bus="001"',
        'USB:driver="usbhid-ups",port="auto",vendorid="0764",productid="0501",'
        'product="CP1500PFCLCD",bus="002"',
    ]


def _smart_ups(master: int, stop: threading.Event) -> None:
    """An APC Smart-protocol UPS: ``Y`` → ``SM``, ``Q`` → status, anything else ``NA``."""
    while not stop.is_set():
        try:
            data = os.read(master, 64)
        except OSError:
            return
        for byte in data:
            ch = bytes([byte])
            if ch == b"Y":
                os.write(master, b"SM\r\n")
            elif ch == b"Q":
                os.write(master, b"08\r\n")
            elif ch not in b"\r\n":
                os.write(master, b"NA\r\n")


def test_serial_ports_that_answer(tmp_path: Path) -> None:
    qx_link = tmp_path / "ttyQX"
    emu = subprocess.Popen([sys.executable, "-m", "pnut.driver.emulators.qx", "--dialect",
                            "megatec", "--link", str(qx_link)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    smart_master, smart_slave = os.openpty()
    silent_master, silent_slave = os.openpty()
    stop = threading.Event()
    thread = threading.Thread(target=_smart_ups, args=(smart_master, stop), daemon=True)
    thread.start()
    try:
        wait_for(qx_link.exists, timeout=15)
        smart = os.ttyname(smart_slave)
        silent = os.ttyname(silent_slave)
        started = time.monotonic()
        text = scan("-E", f"{qx_link},{smart},{silent},/dev/nonexistent", "-t", "2")
        assert time.monotonic() - started < 40
    finally:
        stop.set()
        emu.terminate()
        emu.wait(10)
        for fd in (smart_master, smart_slave, silent_master, silent_slave):
            os.close(fd)
    assert text == (f'[nutdev1]\n\tdriver = "nutdrv_qx"\n\tport = "{qx_link}"\n'
                    f'[nutdev2]\n\tdriver = "apcsmart"\n\tport = "{smart}"\n')


@pytest.mark.skipif(not can_netns(), reason="needs root for a network namespace")
def test_mdns_announced_servers(tmp_path: Path) -> None:
    ns = NetNs("scanmd")
    addr = "10.79.0.1"
    port = free_port()
    st = Stack([Ups("ups1", "ups.status: OL\n", desc="Announced")],
               upsd_conf=f"LISTEN {addr} {port}\nREQUIRE_TLS no\n")
    try:
        ns.private_link(f"{addr}/24")
        st.start_driver(st.upses[0], "nut")
        upsd = st.spawn([*ns.prefix, *PNUT, "upsd", "-F", "-u", "root", "--confdir",
                         str(st.dir)], "upsd-ns")
        wait_for(lambda: "zeroconf: announcing" in st.log_text() or upsd.poll() is not None)
        text = scan("-A", "--mdns-interface", addr, "-t", "4", prefix=ns.prefix)
    finally:
        st.close()
        ns.delete()
    assert text == (f'[nutdev1]\n\tdriver = "dummy-ups"\n\tport = "ups1@{addr}:{port}"\n'
                    '\tdesc = "Announced"\n')


def test_bad_ranges_are_one_line_errors() -> None:
    for args in (["-S", "-m", "10.0.0.0/8"], ["-S", "-s", "10.0.0.9", "-e", "10.0.0.1"],
                 ["-O", "-s", "not-an-ip"]):
        out = subprocess.run([*PNUT, "scan", "-q", *args], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 2
        assert out.stderr.startswith("pnut scan: ") and out.stderr.count("\n") == 1
        assert "Traceback" not in out.stderr
