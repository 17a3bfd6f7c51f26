"""``pnut mqtt`` at the edges: broker connections reset (RST) under it, and
SIGTERM at any moment - during start-up, while the broker resets every
attempt, while it accepts and never answers, while its host drops the SYN.

The broker is a real mosquitto behind :class:`broker.Relay`, which resets
connections on demand (SO_LINGER 0); upsd is pnut's with a pnut driver.
The aiomqtt races the relay provokes are written up in pnut/mqtt/client.py;
the in-process tests hit them deterministically (the relay's reset lands in
a chosen loop turn), the process tests check what an admin sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from broker import Mosquitto, Observer, Relay

from pnut.mqtt.broker import Broker, broker_client
from support import PNUT, Stack, Ups, wait_for

DEV = "ups.status: OL CHRG\nbattery.charge: 87\nups.load: 21\n"
#: What must never be in a log of pnut mqtt (stderr included).
NOISE = ("Traceback", "Exception in callback", "never retrieved", "ERROR")
#: The one line a lost broker gives (bridge: "<server>: ...", watcher: "watch: ...");
#: a reset seen by the connect itself, in paho's connect thread, is its error alone.
LOSS = re.compile(r"pnut mqtt: WARNING (?:127\.0\.0\.1:\d+|watch): broker mqtt://127\.0\.0\.1:"
                  r"(\d+): (?:connection lost \(\[Errno \d+\] [^()]+\)|\[Errno \d+\] [^();]+);"
                  r" retrying in \d+\.\ds")


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as b:
        yield b


@pytest.fixture
def upsd() -> Iterator[Stack]:
    with Stack([Ups("eaton", DEV)]) as st:
        st.start(upsd="pnut", driver="pnut")
        yield st


def bridge(st: Stack, port: int, *extra: str, name: str = "mqtt") -> subprocess.Popen[bytes]:
    return st.spawn([*PNUT, "mqtt", "--broker", f"mqtt://127.0.0.1:{port}", "--server",
                     f"nut://127.0.0.1:{st.port}", "--interval", "0.5", "--keepalive", "2",
                     *extra], name)


def clean(text: str) -> None:
    for word in NOISE:
        assert word not in text, text


def stopped(proc: subprocess.Popen[bytes], within: float) -> int:
    """SIGTERM ``proc``; its exit status, which must come ``within`` seconds."""
    start = time.monotonic()
    proc.terminate()
    try:
        status = proc.wait(within + 5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no exit within {within + 5:.0f} s of SIGTERM")
    took = time.monotonic() - start
    assert took < within, f"exit {took:.1f} s after SIGTERM"
    return status


# -- in process: aiomqtt's races, one loop turn at a time ---------------------------------
def _run(relay: Relay, session: Callable[[Broker, list[str]], Any]) -> tuple[list[str], list[str]]:
    """Run ``session`` in a fresh loop: what the loop's exception handler saw
    (every "Exception in callback", "Future exception was never retrieved"),
    and the reasons the session gave for its losses."""
    seen: list[str] = []
    reasons: list[str] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: seen.append(str(context.get("message"))))
        await session(Broker("127.0.0.1", relay.port), reasons)
        gc.collect()  # a dropped future with an exception says so when collected
        await asyncio.sleep(0.05)

    asyncio.run(main())
    return seen, reasons


def _reason(client: aiomqtt.Client, error: BaseException) -> str:
    """The reason of a loss, as the bridge's warning gives it (pnut.mqtt.broker.why)."""
    return str(getattr(client, "lost", None) or error)


def _when(start: float) -> str:
    took = time.monotonic() - start
    return "at once" if took < 2 else f"after {took:.0f} s"


RESETS = ["[Errno 104] Connection reset by peer"] * 3


def test_reset_read_in_the_turn_a_publish_is_handed_over(broker: Mosquitto,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    """A reset read in the loop turn in which paho is handed a publish: aiomqtt
    asked for the write watch a turn later, on the socket the reset had closed
    meanwhile ("Exception in callback ... add_writer", EBADF, every time). Now:
    the loss ends the session with the reset as its reason, nothing else."""
    async def session(where: Broker, reasons: list[str]) -> None:
        for n in range(3):
            client = broker_client(where, f"pnut-test-{n}", keepalive=5)
            with pytest.raises(aiomqtt.MqttError) as failed:
                async with client:
                    await client.publish("pnut-test/x", "0", qos=1)
                    relay.reset()  # the RST is in our socket now ...
                    await asyncio.sleep(0)
                    # ... read in the next turn, which starts with this publish.
                    sending = asyncio.create_task(client.publish("pnut-test/x", "1", qos=1))
                    try:
                        async with asyncio.timeout(5):
                            async for _ in client.messages:
                                pass
                    finally:
                        sending.cancel()
                        await asyncio.wait({sending})
            reasons.append(_reason(client, failed.value))

    with Relay(broker.port) as relay:
        assert _run(relay, session) == ([], RESETS)
    assert not [r for r in caplog.records if r.levelno >= 40], caplog.text  # no paho ERROR


def test_reset_in_the_turn_of_the_connack(broker: Mosquitto) -> None:
    """Reset right after the CONNACK: aiomqtt's connect dropped that loss (it
    replaced the done "disconnected" future), so the session ran on a dead
    connection - deaf for good - and asyncio logged a never retrieved
    exception. Now the connect fails at once, with the reset."""
    async def session(where: Broker, reasons: list[str]) -> None:
        relay.reset("answer-reset")
        for n in range(3):
            client = broker_client(where, f"pnut-test-{n}", keepalive=5)
            start = time.monotonic()
            with pytest.raises(aiomqtt.MqttError) as failed:
                async with client:
                    async with asyncio.timeout(2):
                        async for _ in client.messages:
                            pass
            reasons.append(f"{_reason(client, failed.value)} {_when(start)}")

    with Relay(broker.port) as relay:
        assert _run(relay, session) == ([], [f"{r} at once" for r in RESETS])


def test_reset_before_the_connack_fails_the_connect_at_once(broker: Mosquitto) -> None:
    """Every attempt reset before the CONNACK: aiomqtt ignored those losses and
    waited its whole timeout (10 s) for a CONNACK that could not come."""
    async def session(where: Broker, reasons: list[str]) -> None:
        relay.reset("reset")
        for n in range(3):
            client = broker_client(where, f"pnut-test-{n}", keepalive=5)
            start = time.monotonic()
            with pytest.raises(aiomqtt.MqttError) as failed:
                async with client:
                    pass
            reasons.append(f"{_reason(client, failed.value)} {_when(start)}")

    with Relay(broker.port) as relay:
        assert _run(relay, session) == ([], [f"{r} at once" for r in RESETS])


def test_reset_while_a_subscribe_waits(broker: Mosquitto) -> None:
    """A loss while a SUBSCRIBE waits for its SUBACK, and a publish after it:
    aiomqtt let each wait its whole timeout (10 s) on the dead connection -
    the bridge, subscribing after each connect, neither reconnected nor
    stopped meanwhile. Now both fail at once, with the reset."""
    async def session(where: Broker, reasons: list[str]) -> None:
        client = broker_client(where, "pnut-test", keepalive=5)
        async with client:
            relay.hold()  # the SUBACK will not come
            subscribing = asyncio.create_task(client.subscribe("pnut-test/#", qos=1))
            await asyncio.sleep(0.1)
            start = time.monotonic()
            relay.reset()
            for call in (lambda: subscribing,
                         lambda: client.publish("pnut-test/x", "1", qos=1)):
                try:
                    async with asyncio.timeout(15):
                        await call()
                except aiomqtt.MqttError as exc:
                    reasons.append(f"{_reason(client, exc)} {_when(start)}")

    with Relay(broker.port) as relay:
        assert _run(relay, session) == ([], [f"{r} at once" for r in RESETS[:2]])


# -- pnut mqtt as a process -------------------------------------------------------------
def test_broker_reset_one_warning_then_back(broker: Mosquitto, upsd: Stack) -> None:
    """The broker's connections are reset - once, then at every attempt for a
    while: each loss is one warning naming the broker, the reason and the
    retry delay, and nothing else (no paho error line, no traceback); bridge
    and watcher connect again as soon as the broker is back, and publish."""
    st = upsd
    base = f"pnut/127.0.0.1_{st.port}"
    obs = Observer(broker.port, ["pnut/#"])
    with Relay(broker.port) as relay:
        try:
            proc = bridge(st, relay.port, "--watch")
            log = st.dir / "mqtt.log"

            def connects() -> tuple[int, int]:
                text = log.read_text()
                return text.count(": connected to"), text.count("watching heartbeats")

            wait_for(lambda: connects() == (1, 1) and obs.get(f"{base}/availability"))
            relay.reset()  # once: the broker stays
            wait_for(lambda: connects() == (2, 2))
            beats = len(obs.messages(f"{base}/heartbeat"))
            wait_for(lambda: len(obs.messages(f"{base}/heartbeat")) > beats)

            relay.reset("reset")  # unreachable: every attempt is reset
            # The 2 connections, then the first attempt of each (2 more were reset once).
            wait_for(lambda: relay.resets >= 6)
            relay.reset("relay")
            back = time.monotonic()
            wait_for(lambda: connects() == (3, 3), timeout=10)
            assert time.monotonic() - back < 2.5  # the next attempt (back-off 1 s by then)
            beats = len(obs.messages(f"{base}/heartbeat"))
            wait_for(lambda: len(obs.messages(f"{base}/heartbeat")) > beats)
            obs.wait(f"{base}/availability", lambda v: v == "online")
            assert stopped(proc, within=3) == 0
        finally:
            obs.close()
    text = log.read_text()
    clean(text)
    losses = [line for line in text.splitlines() if "WARNING" in line]
    assert len(losses) >= 6, text
    for line in losses:
        found = LOSS.fullmatch(line)
        assert found and int(found.group(1)) == relay.port, line


def test_sigterm_while_every_attempt_is_reset(broker: Mosquitto, upsd: Stack) -> None:
    """SIGTERM while the broker resets each connection (bridge and watcher
    between attempts, or in one): exit 0 at once, no traceback."""
    with Relay(broker.port) as relay:
        proc = bridge(upsd, relay.port, "--watch")
        log = upsd.dir / "mqtt.log"
        wait_for(lambda: ": connected to" in log.read_text())
        relay.reset("reset")
        wait_for(lambda: relay.resets >= 4)
        assert stopped(proc, within=2) == 0
    clean(log.read_text())


def test_sigterm_while_the_broker_never_answers(broker: Mosquitto, upsd: Stack) -> None:
    """A broker that accepts TCP and never sends its CONNACK (hung): a SIGTERM
    during that connect ends pnut mqtt at once. It waited for the connect's
    timeout, or until cancelled after the 5 s stop grace."""
    with Relay(broker.port) as relay:
        relay.reset("mute")
        proc = bridge(upsd, relay.port, "--watch")
        wait_for(lambda: len(relay._clients) == 2)  # bridge and watcher are connecting
        time.sleep(0.3)
        assert stopped(proc, within=2) == 0
    clean((upsd.dir / "mqtt.log").read_text())


def test_sigterm_while_the_broker_hangs(broker: Mosquitto, upsd: Stack) -> None:
    """The broker hangs (its connections stay open, nothing comes back): the
    watcher, hearing no heartbeat, publishes offline and waits for the PUBACK.
    A SIGTERM then ends pnut mqtt within the bridge's 2 s goodbye; the
    watcher waited for aiomqtt's timeout until cancelled after the 5 s stop
    grace ("watcher: not stopped after 5s; cancelling")."""
    with Relay(broker.port) as relay:
        proc = bridge(upsd, relay.port, "--watch")
        log = upsd.dir / "mqtt.log"
        wait_for(lambda: "hearing" in log.read_text())
        relay.hold()
        wait_for(lambda: "no heartbeat for" in log.read_text())
        assert stopped(proc, within=3) == 0
    text = log.read_text()
    clean(text)
    assert "not stopped" not in text


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port on 127.0.0.1 that drops every SYN, as a host that is down or a
    firewall does: a listener that never accepts, its queue full (Linux
    drops a SYN then, unless net.ipv4.tcp_abort_on_overflow is set)."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
                filler.connect(("127.0.0.1", port))
        time.sleep(0.1)
        with pytest.raises(TimeoutError), socket.create_connection(("127.0.0.1", port), 0.5):
            pass
        yield port


def test_sigterm_while_the_broker_drops_syns(upsd: Stack) -> None:
    """A broker host that drops the SYN: paho's connect blocks (up to its 5 s
    timeout) in a thread, and the exit waited for that thread after a SIGTERM
    (asyncio.run joins its executor). Now exit 0 at once."""
    with black_hole() as port:
        proc = bridge(upsd, port, "--watch")
        log = upsd.dir / "mqtt.log"
        wait_for(lambda: " -> mqtt://" in log.read_text())
        time.sleep(0.5)  # both in their connect
        assert stopped(proc, within=2) == 0
    clean(log.read_text())


def _status(pid: int) -> tuple[bool, str]:
    """(SIGTERM has a handler in ``pid``, its memory map); (False, "") once gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False, ""
    caught = next(int(line.split()[1], 16) for line in status.splitlines()
                  if line.startswith("SigCgt:"))
    return bool(caught >> (signal.SIGTERM - 1) & 1), maps


@pytest.mark.parametrize("moment", ["at once", "_asyncio", "_ssl", "loop"])
def test_sigterm_during_start_up(broker: Mosquitto, upsd: Stack, moment: str) -> None:
    """SIGTERM as soon as the process exists, while it imports asyncio, while
    it imports ssl (aiomqtt and the client), once its event loop has the
    signal: exit 0 at once, no traceback. A SIGTERM during the imports
    killed it (status -15): the handler came with the event loop. Only one
    that lands before pnut's first line, in the interpreter's own start-up,
    still gets the kernel's default action (systemd counts SIGTERM as a
    clean stop too)."""
    if moment.startswith("_") and moment in sys.builtin_module_names:
        pytest.skip(f"{moment} is built into this interpreter: not seen in its memory map")
    proc = bridge(upsd, broker.port, "--watch")
    log = upsd.dir / "mqtt.log"
    caught = False
    if moment != "at once":
        def reached() -> bool:
            nonlocal caught
            caught, maps = _status(proc.pid)
            if moment == "loop":
                return " -> mqtt://" in log.read_text()
            return f"/{moment}." in maps or proc.poll() is not None

        wait_for(reached, interval=0.001)
        assert proc.poll() is None
        assert caught, f"SIGTERM not handled yet at {moment}"
    else:
        caught = _status(proc.pid)[0]
    status = stopped(proc, within=3)
    assert status == 0 or (not caught and status == -signal.SIGTERM), status
    clean(log.read_text())
