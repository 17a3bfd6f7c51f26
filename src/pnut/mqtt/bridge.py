"""The MQTT bridge's asyncio layer: poll upsd, publish, take commands.

How this works
--------------
The shared :class:`~pnut.poller.Poller` (the core of ``pnut web`` too)
follows every ``--server``; after each poll that changed something it
calls :meth:`ServerBridge.on_changes`, which reads that server's UPSes
from the poller's fleet, hands them to the sans-IO
:class:`~pnut.mqtt.feed.Feed` and puts the messages it returns in
``pending``.  ``LIST CMD`` is asked once per UPS when it first comes up.

One :class:`ServerBridge` per server, each with its own MQTT connection:
MQTT allows one last will per connection, and the will
``<prefix>/<server>/availability = offline`` must cover exactly the UPSes
of that server.  Its broker loop connects, publishes
:meth:`Feed.everything` (a broker that restarted may have lost its
retained messages), then drains ``pending`` with QoS 1; on any MQTT error
it waits (back-off) and connects again.

Stopping (SIGTERM/SIGINT): the CLI sets a ``stop`` event; stopping does
not rely on cancelling tasks (aiomqtt's waits can swallow a cancellation
on Python 3.11, see :mod:`pnut.mqtt.aio`: a cancelled heartbeat loop went
on beating and the process never exited).  Every loop here ends on
``stop`` itself: the session ends,
``pending`` is drained, :meth:`Feed.goodbye` is published (within
``GOODBYE_TIMEOUT``) and the client disconnects; :func:`run_bridges` gives
that ``STOP_GRACE`` seconds, then cancels what is left.

``pending`` maps topic -> newest message: while the broker is away it
holds at most one message per topic, so it stays bounded however long
the outage lasts (intermediate values of a topic are then skipped; the
``seq`` in the state JSON shows it).

Commands (``--commands``): the bridge subscribes to
``<prefix>/<server>/+/command/+``; each message for a known UPS and
command becomes ``INSTCMD`` on a fresh connection with the credentials
of the server URL (:func:`pnut.poller.run_action`, with TRACKING when upsd
has it); the outcome goes to ``.../command/<cmd>/result`` (not
retained).  At most ``MAX_COMMANDS`` wait at once; more are refused with
a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pnut.client import ClientError, ServerError
from pnut.client.tls import settings_from
from pnut.mqtt.aio import nap, publish
from pnut.mqtt.broker import PUBLISH_BATCH, Backoff, Broker, broker_client, why
from pnut.mqtt.feed import OFFLINE, ONLINE, Feed, Message, UpsData
from pnut.mqtt.names import server_key
from pnut.mqtt.watch import heartbeat, run_watch
from pnut.poller import Change, Poller, ServerSpec, run_action

if TYPE_CHECKING:
    import aiomqtt

    from pnut.mqtt.client import Client

log = logging.getLogger("pnut.mqtt")

#: Instant commands waiting for upsd at once, per server.
MAX_COMMANDS: Final = 16
#: How long a command waits for its TRACKING result.
COMMAND_TIMEOUT: Final = 15.0
#: How long the goodbye (every UPS offline) may take, with what was pending
#: before it when stopping, seconds.
GOODBYE_TIMEOUT: Final = 2.0
#: After a stop request: how long the bridges may take to say goodbye and
#: disconnect before they are cancelled, seconds.
STOP_GRACE: Final = 5.0


@dataclass(frozen=True)
class Options:
    interval: float = 5.0
    prefix: str = "pnut"
    discovery_prefix: str | None = "homeassistant"
    commands: bool = False
    keepalive: int = 30
    timeout: float = 10.0
    qos: int = 1
    #: Also watch every bridge's heartbeat on the broker (pnut.mqtt.watch).
    watch: bool = False


class ServerBridge:
    """One upsd mirrored onto one MQTT connection."""

    def __init__(self, spec: ServerSpec, poller: Poller, broker: Broker, opts: Options,
                 boot: str) -> None:
        self.spec = spec
        self.label = spec.label
        self.poller = poller
        self.broker = broker
        self.opts = opts
        self.feed = Feed(server_key(spec), spec.label, boot=boot, prefix=opts.prefix,
                         discovery_prefix=opts.discovery_prefix, commands=opts.commands)
        self.pending: dict[str, Message] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cmd_tasks: set[asyncio.Task[None]] = set()
        self._commands: dict[str, tuple[str, ...]] = {}
        self._asking: set[str] = set()
        #: Broker connections made (for logs and tests).
        self.connects = 0
        #: When a stop's goodbye must be done (loop time).
        self._goodbye_by: float | None = None

    def _queue(self, messages: list[Message]) -> None:
        for msg in messages:
            self.pending.pop(msg.topic, None)  # keep the newest, in arrival order
            self.pending[msg.topic] = msg
        if messages:
            self._wake.set()

    # -- upsd (through the poller) ------------------------------------------------------
    def on_changes(self, changes: list[Change]) -> None:
        """The poller changed something on this server: bring the feed up to date."""
        self._refresh()
        for change in changes:
            if change.kind == "removed":
                self._commands.pop(change.ups, None)
            elif change.up and change.ups not in self._commands and change.ups not in \
                    self._asking:
                self._asking.add(change.ups)
                self._spawn(self._ask_commands(change.ups))

    def _refresh(self) -> None:
        now = time.time()
        if not self.poller.fleet.servers[self.label].up:
            self._queue(self.feed.server_down(now))
            return
        snapshot = {
            u.name: UpsData(dict(u.variables) if u.up else None, u.description,
                            self._commands.get(u.name))
            for u in self.poller.fleet.server_upses(self.label)
        }
        self._queue(self.feed.update(snapshot, now))

    async def _ask_commands(self, ups: str) -> None:
        try:
            client = await self.poller.query(self.label)
            self._commands[ups] = tuple(await client.list_cmd(ups))
        except (ClientError, OSError):
            return  # asked again when the UPS next changes
        finally:
            self._asking.discard(ups)
        self._refresh()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- broker -----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Keep a broker connection and publish until ``stop`` (then say goodbye)."""
        import aiomqtt

        backoff = Backoff()
        while not stop.is_set():
            client = self._mqtt_client(stop)
            try:
                async with client:
                    self.connects += 1
                    log.info("%s: connected to %s", self.label, self.broker)
                    backoff.reset()
                    try:
                        await self._session(client, stop)
                    finally:
                        await self._goodbye(client)
            except aiomqtt.MqttError as exc:
                if stop.is_set():
                    log.info("%s: broker %s: %s; stopping", self.label, self.broker,
                             why(exc, client))
                    return
                delay = backoff.delay()
                log.warning("%s: broker %s: %s; retrying in %.1fs", self.label,
                            self.broker, why(exc, client), delay)
                await nap(stop, delay)

    def _mqtt_client(self, stop: asyncio.Event) -> Client:
        import aiomqtt as mq

        ident = f"pnut-{socket.gethostname()}-{os.getpid()}-{self.feed.server_key}"
        return broker_client(
            self.broker, ident, self.opts.keepalive, self.opts.timeout,
            will=mq.Will(self.feed.server_availability, "offline", qos=1, retain=True),
            stop=stop)

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        if stop.is_set():
            return  # connected while stopping: only the goodbye
        # A broker that restarted without persistence lost every retained
        # message: send the whole picture again, then follow the changes.
        self._queue(self.feed.everything())
        if self.opts.commands:
            await client.subscribe(self.feed.command_filter(), qos=1)
        # To undo a watcher's false alarm (see pnut.mqtt.watch).
        await client.subscribe(self.feed.server_availability, qos=1)
        await client.subscribe(self.feed.availability_filter, qos=1)
        try:
            async with asyncio.TaskGroup() as group:
                publishing = group.create_task(self._publish_loop(client, stop))
                # Also without --commands: reading is how a lost connection shows.
                reading = group.create_task(self._command_loop(client))
                group.create_task(self._heartbeat_loop(client, stop))
                await stop.wait()
                # The heartbeat ends by itself, the publisher once it has drained
                # what is pending; the reader is cancelled (its wait is asyncio.wait,
                # which never swallows a cancellation).  Draining and the goodbye
                # share GOODBYE_TIMEOUT (a broker that hangs got 2 s of each).
                self._goodbye_by = asyncio.get_running_loop().time() + GOODBYE_TIMEOUT
                self._wake.set()
                await asyncio.wait({publishing}, timeout=GOODBYE_TIMEOUT)
                reading.cancel()
                publishing.cancel()
        except ExceptionGroup as group_error:  # the first failure is the story
            raise group_error.exceptions[0] from None

    async def _heartbeat_loop(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        every, payload = heartbeat(self.feed.boot, self.opts.interval)
        topic = self.feed.heartbeat_topic
        tick = time.monotonic()
        while not stop.is_set():
            await publish(client, topic, payload, qos=0, retain=False)
            tick += every
            await nap(stop, tick - time.monotonic())
            tick = max(tick, time.monotonic() - every)  # after a stall: no burst

    def _availability_seen(self, topic: str, ours: str, payload: str) -> None:
        """One of our availability topics (``ours``: what it should say) changed
        on the broker: put ``online`` back if someone else said ``offline``."""
        if payload != OFFLINE or ours != ONLINE:
            return
        if not self.poller.fleet.servers[self.label].up:
            return
        if topic == self.feed.server_availability:
            log.warning("%s: marked offline on the broker while upsd answers; "
                        "publishing online again", self.label)
        else:
            log.info("%s: %s marked offline on the broker; publishing online again",
                     self.label, topic)
        self._queue([Message(topic, ONLINE)])

    async def _publish_loop(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending:
                batch = []
                for topic in list(self.pending)[:PUBLISH_BATCH]:
                    batch.append(self.pending.pop(topic))
                try:
                    await asyncio.gather(*(
                        publish(client, m.topic, m.payload, qos=self.opts.qos, retain=m.retain)
                        for m in batch))
                except BaseException:
                    for m in batch:  # not sure which arrived: send again, unless replaced
                        self.pending.setdefault(m.topic, m)
                    raise
            if stop.is_set():
                return

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """Every UPS and the server offline, acknowledged by the stop's deadline
        (else within ``GOODBYE_TIMEOUT``): all handed to paho at once, so that
        they go out before the DISCONNECT even when the broker is slow."""
        loop = asyncio.get_running_loop()
        by = self._goodbye_by if self._goodbye_by is not None else loop.time() + GOODBYE_TIMEOUT
        messages = self.feed.goodbye()
        client.pending_calls_threshold = max(client.pending_calls_threshold,
                                             len(messages) + 16)
        sending = [loop.create_task(publish(client, m.topic, m.payload, qos=1, retain=True))
                   for m in messages]
        await asyncio.sleep(0)  # each hands its message to paho, however late it is
        _, late = await asyncio.wait(sending, timeout=max(0.0, by - loop.time()))
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        for task in sending:
            if not task.cancelled():
                task.exception()  # a lost connection: the session's error said it

    # -- commands ---------------------------------------------------------------------
    async def _command_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            ours = self.feed.availability_of(topic)
            if ours is not None:
                # A retained one comes with the subscription: the session's
                # Feed.everything() replaces it anyway.
                if not message.retain:
                    raw = message.payload
                    self._availability_seen(topic, ours, raw.decode("utf-8", "replace")
                                            if isinstance(raw, bytes) else str(raw))
                continue
            target = self.feed.parse_command(topic)
            if target is None:
                log.info("%s: ignoring command on %s (unknown UPS or command)",
                         self.label, topic)
                continue
            if len(self._cmd_tasks) >= MAX_COMMANDS:
                log.error("%s: %d commands pending; refusing %s", self.label,
                          len(self._cmd_tasks), topic)
                continue
            raw = message.payload
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
            param = text.strip() or None
            if param is not None and param.upper() == "PRESS":
                param = None
            task = asyncio.create_task(self._command(client, *target, param))
            self._cmd_tasks.add(task)
            task.add_done_callback(self._cmd_tasks.discard)

    async def _command(self, mqtt: aiomqtt.Client, ups: str, cmd: str,
                       param: str | None) -> None:
        result = await self._instcmd(ups, cmd, param)
        log.info("%s: %s %s -> %s", self.label, ups, cmd, result)
        body = json.dumps({"ups": ups, "command": cmd, "result": result})
        with contextlib.suppress(Exception):
            await publish(mqtt, self.feed.result_topic(ups, cmd), body, qos=1, retain=False)

    async def _instcmd(self, ups: str, cmd: str, param: str | None) -> str:
        user, secret = self.spec.user, self.spec.password
        if user is None or secret is None:
            return "ERR USERNAME-REQUIRED"
        try:
            result = await run_action(self.poller, self.label, user, secret.reveal(), ups,
                                      command=cmd, param=param, wait=COMMAND_TIMEOUT)
        except ServerError as exc:
            return f"ERR {exc.name}"
        except (ClientError, OSError, ValueError) as exc:
            return f"ERR {_text(exc)}"
        return result.result


async def run_bridges(specs: list[ServerSpec], broker: Broker, opts: Options,
                      stop: asyncio.Event) -> None:
    """Poll every server and mirror each onto the broker until ``stop`` is set;
    then every bridge says goodbye and disconnects (within ``STOP_GRACE``)."""
    boot = f"{int(time.time())}-{os.getpid()}"
    poller = Poller(specs, interval=opts.interval, timeout=opts.timeout, tls=settings_from())
    bridges = {s.label: ServerBridge(s, poller, broker, opts, boot) for s in specs}

    def dispatch(changes: list[Change]) -> None:
        for label in dict.fromkeys(c.server for c in changes):
            bridges[label].on_changes([c for c in changes if c.server == label])

    poller.add_listener(dispatch)
    async with asyncio.TaskGroup() as group:
        polling = group.create_task(poller.run()) if specs else None
        ending = [group.create_task(bridge.run(stop), name=f"bridge for {label}")
                  for label, bridge in bridges.items()]
        if opts.watch:
            ending.append(group.create_task(
                run_watch(broker, opts.prefix, opts.keepalive, stop), name="watcher"))
        await stop.wait()
        if polling is not None:
            polling.cancel()  # no new changes; the poller has no wait_for to swallow it
        if ending:
            _, late = await asyncio.wait(ending, timeout=STOP_GRACE)
            for task in late:
                log.warning("%s: not stopped after %.0fs; cancelling", task.get_name(),
                            STOP_GRACE)
                task.cancel()


def _text(exc: BaseException) -> str:
    nut = getattr(exc, "nut_text", None)
    return str(nut) if nut else (str(exc) or type(exc).__name__)
