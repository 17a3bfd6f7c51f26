"""HTTP_LISTEN: pnut's upsd serves pnut web's endpoints itself, HTTPS with its CERTFILE."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import signal
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_web import DUMMY_DEV, DevFile, sse_until
from websupport import Web, prometheus, promtool_check, request

from pnut.config.parser import parse_text
from pnut.config.upsd_conf import parse_upsd_conf
from pnut.server.config import why_no_https
from pnut.tls.certs import init_pki
from support import Stack, Ups, free_port, wait_for

ADMIN = "Basic " + base64.b64encode(b"admin:s3cret pw").decode()


class _Url(Web):
    """Web's helpers over upsd's own HTTP listener (no process of its own)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def close(self) -> None:
        pass


def test_upsd_serves_metrics_api_and_events() -> None:
    hport = free_port()
    dummy = Ups("dummy", DUMMY_DEV.format(charge=77), desc="Closet")
    sim = Ups("sim", "", driver="sim")
    with Stack([dummy, sim], upsd_conf=f"HTTP_LISTEN 127.0.0.1 {hport}\n") as st:
        st.start_driver(dummy, "pnut")
        st.start_driver(sim, "pnut")
        st.start_upsd("pnut")
        web = _Url(f"http://127.0.0.1:{hport}/")
        wait_for(lambda: request(web.url + "metrics")[0] == 200, timeout=15)
        server = f"127.0.0.1:{st.port}"
        status, text = web.get("/metrics")
        assert promtool_check(text) == ""
        got = {(s.name, s.labels.get("ups"), s.labels.get("flag")): s.value
               for f in text_string_to_metric_families(text.decode()) for s in f.samples
               if s.labels.get("server", server) == server}
        assert got[("nut_battery_charge", "dummy", None)] == 77
        assert got[("nut_ups_status", "dummy", "ALARM")] == 1
        assert got[("nut_ups_status", "dummy", "OB")] == 0
        assert got[("nut_up", "sim", None)] == 1
        status, page = web.get("/")
        assert status == 200 and b"/static/app.js" in page
        # the same JSON API; commands go through upsd's own access control
        detail = web.json(f"/api/v1/ups/{server}/sim")
        assert "test.failure.start" in {c["name"] for c in detail["commands"]}
        base = web.url + f"api/v1/ups/{server}/sim/command/"
        assert request(base + "beeper.disable", "POST")[0] == 401
        status, body = request(base + "test.failure.start", "POST",
                               headers={"Authorization": ADMIN})
        assert status == 200 and json.loads(body)["result"] == "SUCCESS", body
        wait_for(lambda: "OB" in {u["name"]: u for u in web.json("/api/v1/ups")["upses"]}
                 ["sim"]["status"], timeout=15)
        # changes reach SSE without polling: the store tells the web side
        dev = DevFile(st.dir / "dummy.dev")
        dev.charge(33)
        started = time.monotonic()
        seen = sse_until(web, lambda e, d: e == "change" and d["ups"] == "dummy"
                         and d["set"].get("battery.charge") == "33")
        assert seen[-1]["data"]["status"] == ["ALARM", "OL", "RB"]
        assert time.monotonic() - started < 15
        with prometheus([f"127.0.0.1:{hport}"]) as prom:
            assert prom.value('nut_battery_charge{ups="dummy"}') == 33
            assert prom.value('up{job="pnut"}') == 1


def test_upsd_serves_https_with_its_certificate(tmp_path: Path) -> None:
    cert = init_pki(tmp_path / "pki", ["127.0.0.1", "localhost"]).cert
    hport = free_port()
    ups = Ups("dummy", DUMMY_DEV.format(charge=64))
    with Stack([ups], upsd_conf=f"CERTFILE {cert}\nHTTP_LISTEN 127.0.0.1 {hport}\n") as st:
        st.start_driver(ups, "pnut")
        st.start_upsd("pnut")
        context = ssl.create_default_context(cafile=str(tmp_path / "pki" / "ca.pem"))
        url = f"https://127.0.0.1:{hport}/metrics"

        def scrape() -> bytes:
            with urllib.request.urlopen(url, context=context, timeout=10) as resp:
                body: bytes = resp.read()
                return body

        body = wait_for(lambda: b"nut_battery_charge" in scrape() and scrape(), timeout=15)
        assert promtool_check(body) == ""
        with contextlib.suppress(OSError, http.client.HTTPException):  # no clear text here
            assert request(f"http://127.0.0.1:{hport}/metrics", timeout=5)[0] != 200
        with prometheus([f"127.0.0.1:{hport}"], scheme="https") as prom:
            assert prom.value('nut_battery_charge{ups="dummy"}') == 64


def test_a_reload_that_loads_the_certificate_turns_http_into_https(tmp_path: Path) -> None:
    """HTTP_LISTEN serves plain HTTP while CERTFILE does not load; once it is
    fixed, SIGHUP binds the listener again with it: HTTPS, no clear text."""
    pki = tmp_path / "pki"
    cert = pki / "server.pem"
    hport = free_port()
    ups = Ups("dummy", DUMMY_DEV.format(charge=64))
    with Stack([ups], upsd_conf=f"CERTFILE {cert}\nHTTP_LISTEN 127.0.0.1 {hport}\n") as st:
        st.start_driver(ups, "pnut")
        st.start_upsd("pnut")
        upsd = st.procs[-1]
        plain = f"http://127.0.0.1:{hport}/metrics"
        wait_for(lambda: request(plain)[0] == 200, timeout=15)
        assert f"CERTFILE {cert} cannot be loaded: No such file or directory" in st.log_text()
        init_pki(pki, ["127.0.0.1"])
        upsd.send_signal(signal.SIGHUP)
        wait_for(lambda: f"serving pnut web on https://127.0.0.1:{hport}/" in st.log_text(),
                 timeout=15)
        context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        with urllib.request.urlopen(f"https://127.0.0.1:{hport}/metrics", context=context,
                                    timeout=10) as resp:
            assert b"nut_battery_charge" in resp.read()
        with contextlib.suppress(OSError, http.client.HTTPException):  # no clear text now
            assert request(plain, timeout=5)[0] != 200


def test_plain_http_warning_names_the_certificate_problem(tmp_path: Path) -> None:
    """Why HTTP_LISTEN is not HTTPS: the CERTFILE that does not load, and why."""
    gone = tmp_path / "gone.pem"
    conf = parse_upsd_conf(parse_text(f"CERTFILE {gone}\nHTTP_LISTEN 192.0.2.1\n".encode()))
    assert why_no_https(conf) == (f"CERTFILE {gone} cannot be loaded: No such file or "
                                  "directory; fix it, then reload, to serve HTTPS")
    assert why_no_https(parse_upsd_conf(parse_text(b"HTTP_LISTEN 192.0.2.1\n"))) == (
        "set CERTFILE, then reload, to serve HTTPS")


def test_a_reload_with_a_renewed_certificate_keeps_the_https_listener(tmp_path: Path) -> None:
    """Every reload makes a new TLS context: HTTPS goes on with it on the same
    listener (no window of refused scrapes), and the next handshake shows the
    renewed certificate."""
    old = init_pki(tmp_path / "old", ["127.0.0.1"]).cert
    new = init_pki(tmp_path / "new", ["127.0.0.1"]).cert
    cert = tmp_path / "server.pem"
    cert.write_bytes(old.read_bytes())
    hport = free_port()
    ups = Ups("dummy", DUMMY_DEV.format(charge=64))
    url = f"https://127.0.0.1:{hport}/metrics"

    def scrape(ca: str) -> bytes:
        context = ssl.create_default_context(cafile=str(tmp_path / ca / "ca.pem"))
        with urllib.request.urlopen(url, context=context, timeout=10) as resp:
            body: bytes = resp.read()
            return body

    with Stack([ups], upsd_conf=f"CERTFILE {cert}\nHTTP_LISTEN 127.0.0.1 {hport}\n") as st:
        st.start_driver(ups, "pnut")
        st.start_upsd("pnut")
        upsd = st.procs[-1]
        wait_for(lambda: b"nut_battery_charge" in scrape("old"), timeout=15)
        listener = _listening_inode(hport)
        cert.write_bytes(new.read_bytes())
        upsd.send_signal(signal.SIGHUP)
        wait_for(lambda: "Configuration reloaded" in st.log_text(), timeout=15)
        wait_for(lambda: b"nut_battery_charge" in scrape("new"), timeout=15)
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            scrape("old")
        assert st.log_text().count(f"serving pnut web on https://127.0.0.1:{hport}/") == 1
        assert _listening_inode(hport) == listener  # never closed nor bound again


def _listening_inode(port: int) -> str:
    """The inode of the IPv4 socket listening on ``port`` (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # LISTEN
            return fields[9]
    raise AssertionError(f"nothing listens on port {port}")
