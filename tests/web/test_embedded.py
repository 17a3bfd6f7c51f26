"""HTTP_LISTEN: pnut's upsd serves pnut web's endpoints itself, HTTPS with its CERTFILE."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import ssl
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from test_web import DUMMY_DEV, DevFile, sse_until
from websupport import Web, prometheus, promtool_check, request

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
