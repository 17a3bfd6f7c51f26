"""NOTIFYURL and threshold events: config, delivery with retries, email, apprise, upsmon.

Every receiver is real: a stdlib HTTP server for webhooks, aiosmtpd with
STARTTLS and AUTH for email, apprise's ``json://`` posting to the same
webhook server, and pnut's upsmon driving it all against pnut's upsd
and NUT's C upsd.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
import time
from base64 import b64decode
from pathlib import Path

import pytest
from hooks import Hook, self_signed, wait_until

from conftest import requires_nut
from pnut.config.notify import check_url, redact
from pnut.config.upsmon_conf import parse_upsmon_conf
from pnut.monitor import Notification, Options, run
from pnut.monitor.notifyurl import Dispatcher, Event
from pnut.monitor.thresholds import Watch
from support import Ups, free_port, stack

MON = "MONITOR u@h 1 u p secondary\n"
SECRET = "hunter2xyz"


def test_config_lines() -> None:
    conf = parse_upsmon_conf(
        MON + "NOTIFYURL https://h.example/x ONBATT lowbatt LOADHIGH\n"
        'NOTIFYURL "smtp://mail:25/?to=a@b"\nNOTIFY_LOAD_ABOVE 80\nNOTIFY_RUNTIME_BELOW 300\n'
        "NOTIFY_CHARGE_BELOW 40.5\n")
    assert conf.notifyurls[0].events == {"ONBATT", "LOWBATT", "LOADHIGH"}
    assert conf.notifyurls[1].events == frozenset()  # every event
    assert (conf.load_above, conf.runtime_below, conf.charge_below) == (80, 300, 40.5)
    for line, problem in [
        (f"NOTIFYURL smtp://u:{SECRET}@mail/", "no recipient"),
        ("NOTIFYURL https://h/x NOSUCH", "unknown notify event"),
        (f"NOTIFYURL nosuchscheme://u:{SECRET}@x", "not a URL apprise knows"),
        ("NOTIFYURL https://h:99999/", "bad URL"),
        ("NOTIFY_LOAD_ABOVE lots", "expected a number"),
        ("NOTIFYURL smtp://mail/?to=a@b", "double quotes"),
    ]:
        # NUT ignores a line it does not know, whatever it holds: so does pnut, saying why
        conf = parse_upsmon_conf(MON + line + "\n")
        assert conf.notifyurls == [] and conf.load_above is None
        (warning,) = [w for w in conf.warnings if "SHUTDOWNCMD" not in w]
        assert warning.startswith("upsmon.conf:2: ") and warning.endswith(": the line is ignored")
        assert problem in warning
        assert SECRET not in warning
    assert redact(f"https://me:{SECRET}@h:8443/p?token=t") == "https://me:***@h:8443/p"
    assert check_url("json://127.0.0.1/x") is None  # apprise's scheme


def test_threshold_crossings_with_hysteresis() -> None:
    conf = parse_upsmon_conf(MON + "NOTIFY_LOAD_ABOVE 80\nNOTIFY_RUNTIME_BELOW 600\n")
    watch = Watch.from_conf(conf)
    assert watch.variables == ["ups.load", "battery.runtime"]
    seen = []
    for load, runtime in [(50, 900), (81, 900), (90, 900), (78, 900), (74, 900),
                          (74, 500), (74, 640), (74, 700), (74, "n/a")]:
        seen += [(e.type, e.value) for e in watch.update(
            "u@h", {"ups.load": str(load), "battery.runtime": str(runtime)})]
    # 78 is still within the 5-point margin; 640 within 10 % of 600.
    assert seen == [("LOADHIGH", 81), ("LOADOK", 74), ("RUNTIMELOW", 500),
                    ("RUNTIMEOK", 700)]
    assert watch.update("other@h", {}) == []  # a UPS without the variables: nothing


def test_webhook_retries_basic_auth_and_never_blocks(caplog: pytest.LogCaptureFixture) -> None:
    good, dead, hung = Hook(fail=2), Hook(), Hook(hang=True)
    dead.close()  # a port nobody listens on any more
    log = logging.getLogger("test.notifyurl")

    async def main() -> float:
        d = Dispatcher([(f"http://ups:{SECRET}@127.0.0.1:{good.port}/hook", frozenset()),
                        (f"http://127.0.0.1:{dead.port}/x", frozenset({"ONBATT"})),
                        (f"http://127.0.0.1:{hung.port}/x", frozenset())],
                       log, attempts=3, retry_first=0.1, timeout=1.0)
        started = time.monotonic()
        d.submit(Event("ONBATT", "u@h", "UPS u@h on battery"))
        d.submit(Event("COMMOK", "u@h", "Communications with UPS u@h established"))
        took = time.monotonic() - started
        await d.drain(10)
        await d.close()
        return took

    with caplog.at_level(logging.DEBUG, "test.notifyurl"):
        took = asyncio.run(main())
    good.close()
    hung.close()
    assert took < 0.05  # submit only queues
    assert good.events() == ["ONBATT", "COMMOK"]
    assert good.attempts == 4  # two 503s, then both delivered
    first = good.received[0]
    assert first["path"] == "/hook"
    assert b64decode(first["headers"]["Authorization"].split()[1]) == f"ups:{SECRET}".encode()
    assert first["body"]["ups"] == "u@h" and first["body"]["message"] == "UPS u@h on battery"
    text = caplog.text
    assert "attempt 1/3 failed" in text
    assert "ONBATT not delivered after 3 attempts" in text  # the dead one gave up
    assert SECRET not in text


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_email_with_tls_and_auth(tmp_path: Path, scheme: str) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    got: list[tuple[list[str], bytes]] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object,
                              envelope: object) -> str:
            got.append((list(envelope.rcpt_tos), envelope.content))  # type: ignore[attr-defined]
            return "250 OK"

    def auth(server: object, session: object, envelope: object, mechanism: str,
             data: object) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == SECRET.encode()
        return AuthResult(success=ok)

    port = free_port()
    if scheme == "smtp":  # STARTTLS, required by the server before AUTH
        ctl = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=tls,
                         require_starttls=True, auth_require_tls=True, authenticator=auth)
    else:  # TLS from the first byte
        ctl = Controller(Handler(), hostname="127.0.0.1", port=port, ssl_context=tls,
                         auth_require_tls=False, authenticator=auth)
    ctl.start()
    try:
        url = (f"{scheme}://ups:{SECRET}@127.0.0.1:{port}/?from=ups@test.lan"
               f"&to=admin@test.lan,ops@test.lan&cafile={cert}")
        assert check_url(url) is None

        async def main() -> None:
            d = Dispatcher([(url, frozenset())], logging.getLogger("t"), attempts=1)
            d.submit(Event("LOWBATT", "u@h", "UPS u@h battery is low"))
            await d.drain(15)
            await d.close()
            assert d.targets[0].sent == 1

        asyncio.run(main())
    finally:
        ctl.stop()
    (rcpt, content), = got
    assert rcpt == ["admin@test.lan", "ops@test.lan"]
    assert b"Subject: [upsmon " in content and b"LOWBATT u@h" in content
    assert b"UPS u@h battery is low" in content


def test_apprise_scheme_delivers() -> None:
    hook = Hook()
    try:
        async def main() -> None:
            d = Dispatcher([(f"json://127.0.0.1:{hook.port}/apprise", frozenset())],
                           logging.getLogger("t"), attempts=2, retry_first=0.1)
            d.submit(Event("ONLINE", "u@h", "UPS u@h on line power"))
            await d.drain(15)
            await d.close()

        asyncio.run(main())
        (req,) = hook.received
        assert req["path"] == "/apprise"
        assert req["body"]["message"] == "UPS u@h on line power"
    finally:
        hook.close()


@pytest.mark.parametrize("impl", [pytest.param("pnut", id="pnut-upsd"),
                                  pytest.param("nut", id="nut-upsd", marks=requires_nut)])
def test_upsmon_sends_events_and_thresholds_and_shuts_down_despite_a_dead_hook(
        tmp_path: Path, impl: str) -> None:
    """upsmon against pnut's upsd and NUT's C upsd (each with its own dummy-ups,
    played from a .dev file): a threshold event, ONBATT/LOWBATT/SHUTDOWN
    posted, and a hanging endpoint never holds the shutdown up (that one
    only once: it costs upsmon's drain time, whatever the upsd)."""
    hook, hung = Hook(), Hook(hang=True)
    seen: list[Notification] = []
    dev_text = "ups.status: {status}\nups.load: {load}\nbattery.charge: 100\n"
    try:
        with stack([Ups("u", dev_text.format(status="OL", load=20),
                        extra={"pollinterval": "1"})], upsd=impl, driver=impl) as st:
            conf = parse_upsmon_conf(
                f'MONITOR u@127.0.0.1:{st.port} 1 admin "s3cret pw" primary\n'
                f'SHUTDOWNCMD "true"\nPOWERDOWNFLAG {tmp_path}/flag\n'
                "POLLFREQ 1\nPOLLFREQALERT 1\nFINALDELAY 0\n"
                f"NOTIFYURL http://127.0.0.1:{hook.port}/all\n"
                + (f"NOTIFYURL http://127.0.0.1:{hung.port}/dead\n" if impl == "pnut" else "")
                + "NOTIFY_LOAD_ABOVE 50\n")
            dev = st.dir / "u.dev"
            stamp = time.time() + 10

            def write(status: str, load: int) -> None:
                nonlocal stamp  # a newer mtime each time (NUT's dummy-ups checks seconds)
                dev.write_text(dev_text.format(status=status, load=load))
                stamp += 10
                os.utime(dev, (stamp, stamp))

            def power_fails() -> None:
                # upsmon logged in (it has seen the UPS OL), then the load rises.
                wait_until(lambda: any(line.startswith("CLIENT u ")
                                       for line in st.talk(["LIST CLIENT u"])))
                write("OL", 90)
                wait_until(lambda: "LOADHIGH" in hook.events())
                write("OB LB", 90)

            threading.Thread(target=power_fails, daemon=True).start()
            started = time.monotonic()
            rc = run(conf, options=Options(demo=True, on_event=seen.append,
                                           print_fn=lambda s: None))
            took = time.monotonic() - started
        assert rc == 0
        assert [n.type.value for n in seen] == ["ONBATT", "LOWBATT", "SHUTDOWN"]
        # The hanging endpoint never delayed the shutdown beyond upsmon's own drain.
        assert took < 25
        events = hook.events()
        assert events[:2] == ["LOADHIGH", "ONBATT"] and "SHUTDOWN" in events
        high = hook.received[0]["body"]
        assert (high["variable"], high["value"], high["threshold"]) == ("ups.load", 90, 50)
    finally:
        hook.close()
        hung.close()


def test_email_password_never_in_clear_text(caplog: pytest.LogCaptureFixture) -> None:
    from aiosmtpd.controller import Controller

    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object,
                              envelope: object) -> str:
            got.append(envelope.content)  # type: ignore[attr-defined]
            return "250 OK"

    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)  # no TLS offered
    ctl.start()
    try:
        async def main() -> Dispatcher:
            d = Dispatcher([(f"smtp://ups:{SECRET}@127.0.0.1:{port}/?to=a@test.lan",
                             frozenset())], logging.getLogger("t.clear"), attempts=1)
            d.submit(Event("ONBATT", "u@h", "UPS u@h on battery"))
            await d.drain(10)
            await d.close()
            return d

        with caplog.at_level(logging.INFO, "t.clear"):
            d = asyncio.run(main())
    finally:
        ctl.stop()
    assert got == [] and d.targets[0].failed == 1
    assert "does not offer STARTTLS" in caplog.text and SECRET not in caplog.text
