"""pnut web end to end, against pnut's upsd and NUT's C upsd.

One stack per upsd: a dummy-ups UPS played from a .dev file (NUT's binary
under NUT's upsd) and pnut's ``sim`` UPS (which really acts on commands),
plus a second server that is down.  The same test then checks /metrics
(promtool, and Prometheus scraping it and answering PromQL), the JSON API
with upsd credentials, the SSE stream, and the page in headless Chromium:
a live update, a reload that keeps the chart, a login and a command that
reaches the UPS.  Screenshots are kept (see websupport.artifacts()).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websupport import Web, artifacts, browser, prometheus, promtool_check, request

from conftest import requires_nut
from support import REPO, Stack, Ups, free_port, wait_for

DUMMY_DEV = ("ups.status: ALARM OL RB\nups.alarm: Replace battery\nbattery.charge: {charge}\n"
             "ups.load: 31\ninput.voltage: 229.5\noutput.voltage: 230.1\nbattery.runtime: 1800\n"
             "ups.serial: 00123\nups.mfr: Acme\nups.model: Box 9\n")
ADMIN = "Basic " + base64.b64encode(b"admin:s3cret pw").decode()
MON = "Basic " + base64.b64encode(b"monuser:mon").decode()


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(all_: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
           **labels: str) -> float | None:
    for (n, ls), v in all_.items():
        if n == name and set(labels.items()) <= ls:
            return v
    return None


class DevFile:
    """The dummy UPS's .dev file; each write gets a newer mtime (NUT checks seconds)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp = time.time() + 10

    def charge(self, value: int) -> None:
        self.path.write_text(DUMMY_DEV.format(charge=value))
        self.stamp += 10
        os.utime(self.path, (self.stamp, self.stamp))


def sse_until(web: Web, want: Any, timeout: float = 30) -> list[dict[str, Any]]:
    """Read /api/v1/events until ``want(event, data)`` is true; every (event, data) read."""
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=timeout)
    conn.request("GET", "/api/v1/events")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    seen: list[dict[str, Any]] = []
    event = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = resp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                seen.append({"event": event, "data": data})
                if want(event, data):
                    return seen
    finally:
        conn.close()
    raise AssertionError(f"SSE: wanted event not seen in {seen!r}")


def _impls() -> list[Any]:
    return [pytest.param("pnut", id="pnut-upsd"),
            pytest.param("nut", id="nut-upsd", marks=requires_nut)]


@pytest.mark.parametrize("impl", _impls())
def test_web_end_to_end(impl: str) -> None:
    dummy = Ups("dummy", DUMMY_DEV.format(charge=77), desc="Closet")
    sim = Ups("sim", "", driver="sim", desc="Rack A")
    with Stack([dummy, sim]) as st:
        dummy_proc = st.start_driver(dummy, impl)
        st.start_driver(sim, "pnut")
        st.start_upsd(impl)
        server = f"127.0.0.1:{st.port}"
        dead = f"127.0.0.1:{free_port()}"
        dev = DevFile(st.dir / "dummy.dev")
        with Web([f"nut://{server}", f"nut://{dead}"]) as web:
            wait_for(lambda: len([u for u in web.json("/api/v1/ups")["upses"] if u["up"]]) == 2,
                     timeout=20)
            check_metrics(web, server, dead)
            check_api(web, server)
            with prometheus([f"127.0.0.1:{web.port}"]) as prom:
                assert prom.value('nut_battery_charge{ups="dummy"}') == 77
                assert prom.value('nut_ups_status{ups="dummy",flag="ALARM"}') == 1
                assert prom.value('nut_ups_status{ups="dummy",flag="RB"}') == 1
                assert prom.value('nut_ups_status{ups="dummy",flag="OB"}') == 0
                assert prom.value('count(nut_ups_status{ups="dummy"})') >= 16
                assert prom.value(f'nut_server_up{{server="{dead}"}}') == 0
                assert prom.value('up{job="pnut"}') == 1  # a dead server fails no scrape
                check_dashboard(prom)
                check_sse(web, dev)
                check_browser(web, dev, server, impl)
                assert prom.value('nut_battery_charge{ups="dummy"}') in (42, 55)
                # the driver goes away: only its UPS's series fail
                st.stop(dummy_proc)
                wait_for(lambda: prom.value('nut_up{ups="dummy"}') == 0, timeout=40)
                assert prom.value('nut_up{ups="sim"}') == 1
                assert prom.value('up{job="pnut"}') == 1
                wait_for(lambda: prom.query('nut_battery_charge{ups="dummy"}') == [], timeout=15)
            ups = {u["name"]: u for u in web.json("/api/v1/ups")["upses"]}
            assert not ups["dummy"]["up"]
            assert ups["dummy"]["reason"] in ("DRIVER-NOT-CONNECTED", "DATA-STALE")
            assert ups["sim"]["variables"]["device.location"] == "Rack 9"


def check_metrics(web: Web, server: str, dead: str) -> None:
    status, text = web.get("/metrics")
    assert status == 200
    assert promtool_check(text) == ""
    s = samples(text)
    assert sample(s, "nut_battery_charge", server=server, ups="dummy") == 77
    assert sample(s, "nut_input_voltage", server=server, ups="dummy") == 229.5
    for flag, on in {"ALARM": 1, "OL": 1, "RB": 1, "OB": 0, "LB": 0, "ECO": 0, "FSD": 0}.items():
        assert sample(s, "nut_ups_status", server=server, ups="dummy", flag=flag) == on, flag
    assert sample(s, "nut_ups_info", server=server, ups="dummy", model="Box 9",
                  serial="00123", description="Closet") == 1
    assert sample(s, "nut_ups_serial", ups="dummy") is None  # an identifier, not a number
    assert sample(s, "nut_up", server=server, ups="sim") == 1
    assert sample(s, "nut_server_up", server=dead) == 0
    assert sample(s, "nut_up", server=dead) is None


def check_dashboard(prom: Any) -> None:
    """Every query of the Grafana dashboard in the repo runs and the charts get data."""
    dash = json.loads((REPO / "contrib" / "grafana" / "pnut-ups.json").read_text())
    answered = {}
    for panel in dash["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$server", ".*").replace("$ups", ".*")
            answered[panel["title"]] = prom.query(expr)
    for title in ("UPSes up", "Battery charge", "Runtime left", "Load", "UPS inventory"):
        assert answered[title], title


def check_api(web: Web, server: str) -> None:
    listing = web.json("/api/v1/ups")
    ups = {u["name"]: u for u in listing["upses"]}
    assert ups["dummy"]["status"] == ["ALARM", "OL", "RB"]
    assert ups["dummy"]["variables"]["battery.charge"] == "77"
    assert {s["server"]: s["up"] for s in listing["servers"]}[server] is True
    detail = web.json(f"/api/v1/ups/{server}/sim")
    writable = {v["name"]: v for v in detail["writable"]}
    sensitivity = writable["input.sensitivity"]
    assert sensitivity["enum"] and sensitivity["type"] == "STRING"
    assert writable["input.transfer.low"]["ranges"]
    assert "test.failure.start" in {c["name"] for c in detail["commands"]}
    assert detail["clients"] == [] or all(isinstance(c, str) for c in detail["clients"])
    base = web.url + f"api/v1/ups/{server}/sim"
    status, body = request(base + "/command/beeper.disable", "POST")
    assert status == 401 and json.loads(body)["error"] == "USERNAME-REQUIRED"
    status, body = request(base + "/command/beeper.disable", "POST", headers={"Authorization": MON})
    assert status == 403 and json.loads(body)["error"] == "ACCESS-DENIED"
    status, body = request(base + "/command/beeper.disable", "POST",
                           headers={"Authorization": ADMIN, "Origin": "http://evil.example"})
    assert status == 403
    status, body = request(base + "/command/beeper.disable", "POST",
                           headers={"Authorization": ADMIN})
    assert status == 200, body
    answer = json.loads(body)
    assert answer["tracking"] and answer["result"] == "SUCCESS"
    status, body = request(base + "/var/ups.id", "PUT", b'{"value": "rack-7"}',
                           headers={"Authorization": ADMIN, "Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["result"] == "SUCCESS", body
    wait_for(lambda: web.json(f"/api/v1/ups/{server}/sim")["variables"]["ups.id"] == "rack-7")
    status, body = request(base + "/var/input.transfer.low", "PUT", b"999",
                           headers={"Authorization": ADMIN, "Content-Type": "text/plain"})
    assert status in (200, 400)
    assert json.loads(body).get("result", json.loads(body).get("error")) != "SUCCESS"
    assert web.get(f"/api/v1/ups/{server}/nope")[0] == 404


def check_sse(web: Web, dev: DevFile) -> None:
    seen = sse_until(web, lambda e, d: e == "snapshot", timeout=10)
    assert any(u["name"] == "dummy" for u in seen[0]["data"]["upses"])
    dev.charge(55)
    seen = sse_until(web, lambda e, d: e == "change" and d["ups"] == "dummy"
                     and d["set"].get("battery.charge") == "55")
    change = seen[-1]["data"]
    assert change["status"] == ["ALARM", "OL", "RB"] and change["seq"] > seen[0]["data"]["seq"]


def check_browser(web: Web, dev: DevFile, server: str, impl: str) -> None:
    shots = artifacts()
    with browser() as ctx:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(web.url)
        card = page.locator('.card[data-ups="dummy"]')
        card.locator(".charge-value").filter(has_text="55").wait_for(timeout=15000)
        assert "Replace battery" in card.locator(".status-badge").inner_text()
        dev.charge(42)  # live: no reload
        card.locator(".charge-value").filter(has_text="42").wait_for(timeout=20000)
        page.reload()  # history is kept server-side: the chart survives
        card = page.locator('.card[data-ups="dummy"]')
        card.locator(".charge-value").filter(has_text="42").wait_for(timeout=15000)
        wait_for(lambda: (card.locator(".charge-line").get_attribute("d") or "").count("L") >= 2,
                 timeout=15)
        page.screenshot(path=str(shots / f"overview-{impl}.png"), full_page=True)
        # log in, open the sim UPS, cut the mains: the UPS goes on battery
        page.click("#login-button")
        page.fill("#login-user", "admin")
        page.fill("#login-password", "s3cret pw")
        page.click("#login-submit")
        page.locator('.card[data-ups="sim"] .manage').click()
        button = page.locator('button.cmd[data-cmd="test.failure.start"]')
        button.wait_for(timeout=15000)
        page.screenshot(path=str(shots / f"manage-{impl}.png"))
        button.click()
        page.locator("#toast").filter(has_text="test.failure.start: SUCCESS").wait_for(
            timeout=20000)
        # a setting, through the same dialog
        field = page.locator('input[data-var="device.location"]')
        field.fill("Rack 9")
        page.locator('.setting:has(input[data-var="device.location"]) button').click()
        page.locator("#toast").filter(has_text="device.location = Rack 9: SUCCESS").wait_for(
            timeout=20000)
        page.click("#manage-close")
        page.locator('.card[data-ups="sim"] .status-badge').filter(
            has_text="On battery").wait_for(timeout=20000)
        page.screenshot(path=str(shots / f"after-command-{impl}.png"), full_page=True)
        assert errors == []
    print(f"screenshots in {shots}")
