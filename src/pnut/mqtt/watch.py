"""Declaring silent bridges offline faster than the broker's last will.

How this works
--------------
Every bridge publishes ``<prefix>/<server>/heartbeat`` (not retained,
QoS 0) every quarter poll interval, with ``{"boot", "every", "grace"}``:
``grace`` is 1.25 poll intervals (a beat may be a whole interval late).
``pnut mqtt --watch`` (one per broker is enough) subscribes to the
heartbeats and to the availability topics - each server's
``<prefix>/<server>/availability`` and its UPSes'
``<prefix>/<server>/<ups>/availability``, which it learns from the
retained messages the broker hands it and from what the bridges publish.
A server whose heartbeats stop for ``grace`` seconds gets ``offline``
published (retained), once, on each of those topics that does not say
``offline`` already: Home Assistant's discovery configs require both
topics ``online``, and the per-UPS ones are what every other subscriber
reads.

Why: a host that loses power sends no TCP reset, so the broker learns of
it only from the MQTT keepalive - and mosquitto 2.0 looks at keepalives
only every 6 seconds (its keepalive.c: ``last_keepalive_check + 5 <
now``), so the last will comes 1.5 keepalives plus up to 6 seconds late.
The heartbeat puts the host's death on the broker within two poll
intervals.  The last will stays (it covers a clean network error at
once, and brokers without a watcher).

A false alarm (a live bridge's heartbeats delayed past ``grace``) is
corrected by the bridge itself: it follows its own availability topic
and its UPSes' and publishes ``online`` again where someone else said
``offline`` while its upsd answers.  The watcher only ever declares a server it has heard
beat since it (re)connected, so bridges of older versions, which do not
beat, are left alone.  :class:`Watch` decides, without I/O;
:func:`run_watch` runs it on a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pnut.mqtt.aio import nap, publish
from pnut.mqtt.broker import Backoff, Broker, broker_client, why
from pnut.mqtt.feed import OFFLINE, Message

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger("pnut.mqtt")

#: Bounds on the grace a heartbeat may ask for, seconds.
MIN_GRACE: Final = 0.1
MAX_GRACE: Final = 3600.0
#: Longest sleep of the watcher between two looks, seconds.
MAX_NAP: Final = 1.0


def heartbeat(boot: str, interval: float) -> tuple[float, str]:
    """A bridge's heartbeat for poll ``interval``: (seconds between beats, payload)."""
    every = max(interval / 4, 0.05)
    body = {"boot": boot, "every": round(every, 3), "grace": round(every + interval, 3)}
    return every, json.dumps(body, sort_keys=True)


@dataclass(slots=True)
class _Peer:
    last: float
    grace: float
    declared: bool = False


class Watch:
    """Heartbeats and availability in, ``offline`` messages out (no I/O)."""

    def __init__(self, prefix: str = "pnut") -> None:
        self.prefix = prefix
        self.peers: dict[str, _Peer] = {}
        #: server key -> availability topic (its own, its UPSes') -> last payload.
        self.availability: dict[str, dict[str, str]] = {}

    @property
    def filters(self) -> tuple[str, str, str]:
        return (f"{self.prefix}/+/heartbeat", f"{self.prefix}/+/availability",
                f"{self.prefix}/+/+/availability")

    def reset(self) -> None:
        """A new broker connection: forget who beat (the gap was ours), and the
        availability topics (the broker sends the retained ones again)."""
        self.peers.clear()
        self.availability.clear()

    def receive(self, topic: str, payload: bytes | str, now: float) -> bool:
        """One message from the broker; True when a new server started beating."""
        if not topic.startswith(f"{self.prefix}/"):
            return False
        key, _, leaf = topic[len(self.prefix) + 1:].partition("/")
        if not key:
            return False
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        if leaf == "availability" or (leaf.endswith("/availability") and leaf.count("/") == 1
                                      and not leaf.startswith("/")):
            topics = self.availability.setdefault(key, {})
            if text:
                topics[topic] = text
            else:
                topics.pop(topic, None)  # deleted
            return False
        if leaf != "heartbeat":
            return False
        try:
            grace = float(json.loads(text)["grace"])
        except (ValueError, KeyError, TypeError):
            return False
        if not math.isfinite(grace):
            return False
        grace = min(max(grace, MIN_GRACE), MAX_GRACE)
        peer = self.peers.get(key)
        if peer is None:
            self.peers[key] = _Peer(now, grace)
            return True
        peer.last, peer.grace, peer.declared = now, grace, False
        return False

    def due(self, now: float) -> list[Message]:
        """``offline`` for every server silent past its grace, on its own
        availability topic and its UPSes', where they are not offline yet."""
        out: list[Message] = []
        for key, peer in self.peers.items():
            if peer.declared or now - peer.last <= peer.grace:
                continue
            peer.declared = True
            known = self.availability.get(key, {})
            server = f"{self.prefix}/{key}/availability"
            topics = [server, *sorted(t for t in known if t != server)]  # server first
            late = [t for t in topics if known.get(t) != OFFLINE]
            if late:
                log.warning("%s: no heartbeat for %.1fs; publishing offline (%d topics)",
                            key, now - peer.last, len(late))
                out.extend(Message(t, OFFLINE) for t in late)
        return out

    def next_look(self, now: float) -> float:
        """Seconds until a server may fall due (at most MAX_NAP)."""
        waits = [p.last + p.grace - now for p in self.peers.values() if not p.declared]
        return max(0.0, min([MAX_NAP, *waits])) + 0.001


async def run_watch(broker: Broker, prefix: str, keepalive: int, stop: asyncio.Event) -> None:
    """Watch the bridges' heartbeats on ``broker`` until ``stop`` is set."""
    import aiomqtt

    watch = Watch(prefix)
    backoff = Backoff()
    ident = f"pnut-watch-{socket.gethostname()}-{os.getpid()}"
    while not stop.is_set():
        client = broker_client(broker, ident, keepalive, stop=stop)
        try:
            async with client:
                backoff.reset()
                watch.reset()
                for topic_filter in watch.filters:
                    await client.subscribe(topic_filter, qos=1)
                log.info("watching heartbeats under %s/ on %s", prefix, broker)
                await _watch_session(client, watch, stop)
        except aiomqtt.MqttError as exc:
            if stop.is_set():
                return
            delay = backoff.delay()
            log.warning("watch: broker %s: %s; retrying in %.1fs", broker, why(exc, client),
                        delay)
            await nap(stop, delay)


async def _watch_session(client: aiomqtt.Client, watch: Watch, stop: asyncio.Event) -> None:
    wake = asyncio.Event()

    async def read() -> None:
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, (bytes, str)) else str(payload or "")
            if watch.receive(str(message.topic), raw, time.monotonic()):
                log.info("hearing %s", str(message.topic).rsplit("/", 1)[0])
                wake.set()

    async def look() -> None:
        while not stop.is_set():
            for msg in watch.due(time.monotonic()):
                await publish(client, msg.topic, msg.payload, qos=1, retain=msg.retain)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(watch.next_look(time.monotonic())):
                    await wake.wait()

    try:
        async with asyncio.TaskGroup() as group:
            reading = group.create_task(read())
            looking = group.create_task(look())
            await stop.wait()
            # read() waits in asyncio.wait; look() may wait for a PUBACK (for
            # aiomqtt's timeout, 10 s, from a broker that hangs): nothing of
            # theirs is worth waiting for once stopping; publish() in look()
            # keeps the cancellation that aiomqtt's wait_for may swallow.
            reading.cancel()
            looking.cancel()
    except ExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
