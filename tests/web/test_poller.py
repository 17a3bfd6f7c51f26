"""The poller: URL parsing and the Fleet's changes (no I/O), then real servers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import pytest

from conftest import requires_nut
from pnut.poller import Fleet, Poller, UpsPoll, parse_server, parse_servers, status_flags
from pnut.poller.aio import run_action
from support import Stack, Ups

DEV = "ups.status: OL\nbattery.charge: 100\nups.load: 20\nups.mfr: Acme\n"


def test_parse_server_urls() -> None:
    spec = parse_server("nut://mon%40x:p%3Aw@[::1]:3500", environ={})
    assert (spec.host, spec.port, spec.user, spec.label) == ("::1", 3500, "mon@x", "[::1]:3500")
    assert spec.password is not None and spec.password.reveal() == "p:w"
    assert "p:w" not in repr(spec) and "p:w" not in str(spec)
    env_pw = parse_server("nut://admin@nas", environ={"PNUT_PASSWORD": "fromenv"})
    assert env_pw.password is not None and env_pw.password.reveal() == "fromenv"
    assert (env_pw.host, env_pw.port) == ("nas", 3493)
    assert parse_server("localhost").label == "localhost:3493"
    for bad in ("http://x", "nut://x/path", "nut://x:99999", "nut://"):
        with pytest.raises(ValueError):
            parse_server(bad, environ={})
    with pytest.raises(ValueError, match="twice"):
        parse_servers(["nut://a:1", "a:1"])


def test_fleet_changes_and_isolation() -> None:
    a, b = parse_server("a:1"), parse_server("b:2")
    fleet = Fleet([a, b])
    first = fleet.apply_poll("a:1", [UpsPoll("u1", "d", {"ups.status": "OL", "x": "1"}),
                                     UpsPoll("u2", "", None, "DATA-STALE")], now=10)
    assert [(c.ups, c.kind, c.up, c.reason) for c in first] == [
        ("u1", "added", True, None), ("u2", "added", False, "DATA-STALE")]
    fleet.apply_poll("b:2", [UpsPoll("u1", "", {"ups.status": "OB"})], now=10)
    same = fleet.apply_poll("a:1", [UpsPoll("u1", "d", {"ups.status": "OL", "x": "1"}),
                                    UpsPoll("u2", "", None, "DATA-STALE")], now=11)
    assert same == []
    moved = fleet.apply_poll("a:1", [UpsPoll("u1", "d", {"ups.status": "OB LB"}),
                                     UpsPoll("u2", "", {"y": "2"})], now=12)
    assert moved[0].set == {"ups.status": "OB LB"} and moved[0].unset == ("x",)
    assert moved[1].availability_changed and moved[1].up
    assert [c.seq for c in first + moved] == [1, 2, 4, 5]  # 3 was b:2's add
    down = fleet.apply_failure("a:1", "connection refused", now=13)
    assert {(c.ups, c.up, c.reason) for c in down} == {
        ("u1", False, "connection refused"), ("u2", False, "connection refused")}
    assert fleet.apply_failure("a:1", "connection refused", now=14) == []
    other = fleet.get("b:2", "u1")
    assert other is not None and other.up and other.status == ["OB"]
    gone = fleet.apply_poll("a:1", [UpsPoll("u2", "", {"y": "2"})], now=15)
    assert [(c.ups, c.kind) for c in gone] == [("u2", "updated"), ("u1", "removed")]
    assert [u.name for u in fleet.upses()] == ["u2", "u1"]


def test_status_flags_lists_every_flag() -> None:
    flags = status_flags("ALARM OL RB")
    assert flags["ALARM"] and flags["OL"] and flags["RB"]
    assert not flags["OB"] and not flags["LB"] and not flags["ECO"]
    assert status_flags("OL FOO")["FOO"]


def _server_cases() -> list[object]:
    return [pytest.param("pnut", "pnut", id="pnut-upsd"),
            pytest.param("nut", "nut", id="nut-upsd", marks=requires_nut)]


@pytest.mark.parametrize(("upsd", "driver"), _server_cases())
def test_poller_follows_real_server(upsd: str, driver: str) -> None:
    ups = Ups("ups1", DEV, desc="First", extra={"mode": "dummy-once"})
    with Stack([ups, Ups("ups2", DEV)]) as st:
        drv = st.start_driver(ups, driver)
        st.start_driver(st.upses[1], driver)
        st.start_upsd(upsd)
        asyncio.run(_follow(st, drv))


async def _follow(st: Stack, drv: object) -> None:
    poller = Poller([parse_server(f"nut://admin@127.0.0.1:{st.port}",
                                  environ={"PNUT_PASSWORD": "s3cret pw"})],
                    interval=0.3, timeout=5)
    label = f"127.0.0.1:{st.port}"
    with poller.subscribe() as sub:
        task = asyncio.create_task(poller.run())
        try:
            first = await asyncio.wait_for(sub.get(), 10)
            assert (first.kind, first.ups, first.up) == ("added", "ups1", True)
            assert first.set["battery.charge"] == "100"
            ups1 = poller.fleet.get(label, "ups1")
            assert ups1 is not None and ups1.description == "First"
            (st.dir / "ups1.dev").write_text(DEV.replace("100", "42"))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                change = await asyncio.wait_for(sub.get(), 20)
                if change.ups == "ups1" and change.set.get("battery.charge") == "42":
                    break
            else:
                pytest.fail("battery.charge change not seen")
            # a command with the caller's credentials reaches the driver
            result = await run_action(poller, label, "admin", "s3cret pw", "ups1",
                                      command="load.off")
            assert result.tracking is not None and result.result in ("UNKNOWN", "SUCCESS")
            st.stop(drv)  # type: ignore[arg-type]
            while True:
                change = await asyncio.wait_for(sub.get(), 30)
                if change.ups == "ups1" and not change.up:
                    break
            assert change.reason in ("DRIVER-NOT-CONNECTED", "DATA-STALE")
            ups2 = poller.fleet.get(label, "ups2")
            assert ups2 is not None and ups2.up
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_poller_server_down_is_its_own_failure() -> None:
    async def go() -> None:
        from support import free_port
        poller = Poller([parse_server(f"127.0.0.1:{free_port()}")], timeout=2)
        changes = await poller.poll_all()
        assert changes == []
        (state,) = poller.fleet.servers.values()
        assert not state.up and state.error and "refused" in state.error.lower()
    asyncio.run(go())


@pytest.mark.parametrize(("upsd", "driver"), _server_cases())
def test_silent_server_is_down_within_reply_timeout_and_probe_budget(
        upsd: str, driver: str) -> None:
    """A server that falls silent (SIGSTOP: the connection stays, no reply,
    as with a host that lost power) is down after the reply timeout (half
    the interval), not the poll's whole timeout; a probe marks it down
    within its budget; it comes back on the next poll."""
    with Stack([Ups("ups1", DEV)]) as st:
        st.start(upsd=upsd, driver=driver)
        proc = next(p for p in st.procs if "upsd" in str(p.args))
        try:
            asyncio.run(_silent(st, proc))
        finally:
            proc.send_signal(signal.SIGCONT)


async def _silent(st: Stack, proc: subprocess.Popen[bytes]) -> None:
    poller = Poller([parse_server(f"127.0.0.1:{st.port}")], interval=1.0, timeout=30)
    assert poller.reply_timeout == 0.5
    label = f"127.0.0.1:{st.port}"
    server = poller.fleet.servers[label]
    try:
        await poller.poll(label)
        assert server.up
        await poller.probe(label, 0.5)  # answers: still up
        assert server.up and poller.answered[label] > 0

        proc.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        await poller.poll(label)
        assert not server.up and server.error == f"{label}: no answer within 0.5s", server.error
        assert time.monotonic() - started < 10  # not the 30 s timeout
        ups = poller.fleet.get(label, "ups1")
        assert ups is not None and not ups.up

        proc.send_signal(signal.SIGCONT)
        await poller.poll(label)
        assert server.up and ups.up

        proc.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        await asyncio.gather(poller.probe(label, 0.3), poller.probe(label, 0.3))
        assert not server.up and server.error == f"{label}: no answer within 0.3s", server.error
        assert time.monotonic() - started < 10
        assert not ups.up
        await poller.probe(label, 0.3)  # already down: left to the polls, returns at once
        proc.send_signal(signal.SIGCONT)
        await poller.poll(label)
        assert server.up and ups.up
    finally:
        await poller.close()
