"""upsd's ``_nut._tcp`` announcement, browsed with python-zeroconf.

The live test runs pnut's upsd in a network namespace of its own (a
dummy interface with a private address, so the multicast never leaves
it) and browses from inside the same namespace.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from hostns import NetNs, can_netns
from pnut.config.parser import read_conf
from pnut.config.upsd_conf import parse_upsd_conf
from pnut.server.mdns import plan
from support import PNUT, Stack, Ups, free_port, wait_for

BROWSE = Path(__file__).with_name("browse.py")
ADDR = "10.77.0.1"


def _conf(text: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "upsd.conf"
    path.write_text(text)
    return parse_upsd_conf(read_conf(path), str(path))


def test_plan(tmp_path: Path) -> None:
    local = ["192.0.2.5", "fd00::5"]
    assert plan(_conf("", tmp_path), "nas") == []  # loopback only: nothing
    assert plan(_conf("LISTEN 127.0.0.1 3493\nZEROCONF yes\n", tmp_path), "nas.lan") == [
        _svc("nas", 3493, "127.0.0.1")]
    assert plan(_conf("LISTEN 10.0.0.2 3500\nLISTEN ::1\n", tmp_path), "nas") == [
        _svc("nas", 3500, "10.0.0.2")]
    both = plan(_conf("LISTEN *\n", tmp_path), "nas", local)
    assert both == [_svc("nas", 3493, "192.0.2.5", "fd00::5")]
    assert plan(_conf("LISTEN *\nZEROCONF no\n", tmp_path), "nas", local) == []
    two = plan(_conf("LISTEN 10.0.0.2 3493\nLISTEN 10.0.0.2 3494\n", tmp_path), "nas")
    assert [(s.name, s.port) for s in two] == [("nas", 3493), ("nas (3494)", 3494)]


def _svc(name: str, port: int, *addrs: str):  # type: ignore[no-untyped-def]
    from pnut.server.mdns import Service

    return Service(name, port, addrs)


def _browse(ns: NetNs, seconds: float) -> dict[str, dict[str, object]]:
    out = ns.run([sys.executable, str(BROWSE), ADDR, str(seconds)], timeout=seconds + 20)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


@pytest.mark.skipif(not can_netns(), reason="needs root for a network namespace")
def test_upsd_announces_and_zeroconf_no_silences(tmp_path: Path) -> None:
    ns = NetNs("zc")
    port = free_port()
    st = Stack([Ups("ups1", "ups.status: OL\n")],
               upsd_conf=f"LISTEN {ADDR} {port}\nREQUIRE_TLS no\n")
    try:
        ns.private_link(f"{ADDR}/24")
        st.start_driver(st.upses[0], "nut")
        upsd = st.spawn([*ns.prefix, *PNUT, "upsd", "-F", "-u", "root", "--confdir",
                         str(st.dir)], "upsd-ns")
        wait_for(lambda: "zeroconf: announcing" in st.log_text() or upsd.poll() is not None)
        found = _browse(ns, 15)
        assert len(found) == 1, (found, st.log_text())
        (name, info), = found.items()
        assert name.endswith("._nut._tcp.local.")
        assert info["port"] == port
        assert info["addresses"] == [ADDR]
        # The service answers there: it is upsd.
        reply = ns.run([*PNUT, "upsc", f"ups1@{ADDR}:{port}", "ups.status"])
        assert reply.stdout.strip() == "OL"
        st.stop(upsd)
        assert "Traceback" not in st.log_text()

        st.write("upsd.conf", f"LISTEN {ADDR} {port}\nREQUIRE_TLS no\nZEROCONF no\n")
        upsd = st.spawn([*ns.prefix, *PNUT, "upsd", "-F", "-u", "root", "--confdir",
                         str(st.dir)], "upsd-ns-off")
        wait_for(lambda: ns.run([*PNUT, "upsc", f"ups1@{ADDR}:{port}", "ups.status"])
                 .stdout.strip() == "OL")
        started = time.monotonic()
        assert _browse(ns, 4) == {}
        assert time.monotonic() - started >= 4
    finally:
        st.close()
        ns.delete()
