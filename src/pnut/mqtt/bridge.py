"""The MQTT bridge's asyncio layer: poll upsd, publish, take commands.

How this works
--------------
One :class:`ServerBridge` per ``--server``, each with its own MQTT
connection (MQTT allows one last will per connection, and the will
``<prefix>/<server>/availability = offline`` must cover exactly the UPSes
of that server).  Two loops run side by side:

- the poll loop asks upsd (``LIST UPS``, ``LIST VAR`` per UPS, ``LIST CMD``
  when a UPS appears) every ``interval`` seconds, hands the snapshot to the
  sans-IO :class:`~pnut.mqtt.feed.Feed` and puts the messages it returns
  in ``pending``; a failed poll makes everything offline and the next one
  reconnects (with back-off up to ``MAX_BACKOFF``);
- the broker loop connects, publishes :meth:`Feed.everything` (a broker
  that restarted may have lost its retained messages), then drains
  ``pending`` with QoS 1; on any MQTT error it waits (back-off) and
  connects again.

``pending`` maps topic -> newest message: while the broker is away it
holds at most one message per topic, so it stays bounded however long
the outage lasts (intermediate values of a topic are then skipped; the
``seq`` in the state JSON shows it).

Commands (``--commands``): the bridge subscribes to
``<prefix>/<server>/+/command/+``; each message for a known UPS and
command becomes ``INSTCMD`` on a separate, authenticated connection (the
credentials of the server URL), with TRACKING when upsd has it; the
outcome goes to ``.../command/<cmd>/result`` (not retained).  At most
``MAX_COMMANDS`` wait at once; more are refused with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pnut.client import ClientError, ServerError
from pnut.client.aio import AsyncClient
from pnut.client.session import Secret
from pnut.client.tls import settings_from
from pnut.client.url import ServerUrl
from pnut.mqtt.feed import Feed, Message, UpsData

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger("pnut.mqtt")

#: Longest wait between reconnect attempts (upsd or broker), seconds.
MAX_BACKOFF: Final = 30.0
#: Instant commands waiting for upsd at once, per server.
MAX_COMMANDS: Final = 16
#: Messages published concurrently (QoS 1 round trips overlap).
PUBLISH_BATCH: Final = 64
#: How long a command waits for its TRACKING result.
COMMAND_TIMEOUT: Final = 15.0


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    user: str | None = None
    password: Secret | None = None
    cafile: str | None = None
    insecure: bool = False

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


@dataclass(frozen=True)
class Options:
    interval: float = 5.0
    prefix: str = "pnut"
    discovery_prefix: str | None = "homeassistant"
    commands: bool = False
    keepalive: int = 30
    timeout: float = 10.0
    qos: int = 1


class Backoff:
    """Doubling delays from ``first`` up to ``MAX_BACKOFF``; reset on success."""

    def __init__(self, first: float = 0.5, top: float = MAX_BACKOFF) -> None:
        self.first, self.top, self.next = first, top, first

    def delay(self) -> float:
        value, self.next = self.next, min(self.next * 2, self.top)
        return value

    def reset(self) -> None:
        self.next = self.first


class ServerBridge:
    """One upsd mirrored onto one MQTT connection."""

    def __init__(self, server: ServerUrl, broker: Broker, opts: Options, boot: str) -> None:
        self.server = server
        self.broker = broker
        self.opts = opts
        self.feed = Feed(server.key, server.display, boot=boot, prefix=opts.prefix,
                         discovery_prefix=opts.discovery_prefix, commands=opts.commands)
        self.pending: dict[str, Message] = {}
        self._wake = asyncio.Event()
        self._client: AsyncClient | None = None
        self._cmd_client: AsyncClient | None = None
        self._cmd_lock = asyncio.Lock()
        self._cmd_tasks: set[asyncio.Task[None]] = set()
        self._mqtt: aiomqtt.Client | None = None
        self._known_cmds: dict[str, tuple[str, ...]] = {}
        #: Polls done and broker connections made (for tests and logs).
        self.polls = 0
        self.connects = 0

    async def run(self) -> None:
        """Both loops until cancelled; then a clean goodbye if the broker is up."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._poll_loop())
                group.create_task(self._broker_loop())
        finally:
            await self._close_clients()

    def _queue(self, messages: list[Message]) -> None:
        for msg in messages:
            self.pending.pop(msg.topic, None)  # keep the newest, in arrival order
            self.pending[msg.topic] = msg
        if messages:
            self._wake.set()

    # -- upsd -------------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(self.opts.interval)
        failures = 0
        while True:
            started = loop.time()
            try:
                snapshot = await self._poll()
            except (ClientError, OSError, ValueError) as exc:
                await self._drop_client()
                self._queue(self.feed.server_down(time.time()))
                if failures == 0:
                    log.warning("%s: %s", self.server.display, _text(exc))
                failures += 1
                self.polls += 1
                # The first few retries keep the poll rhythm, then back off.
                await asyncio.sleep(self.opts.interval if failures <= 3 else backoff.delay())
                continue
            if failures:
                log.warning("%s: answering again", self.server.display)
            failures = 0
            backoff.reset()
            self.polls += 1
            self._queue(self.feed.update(snapshot, time.time()))
            await asyncio.sleep(max(0.0, self.opts.interval - (loop.time() - started)))

    async def _poll(self) -> dict[str, UpsData]:
        client = self._client
        if client is None or not client.connected:
            client = await AsyncClient.connect(self.server.host, self.server.port,
                                               timeout=self.opts.timeout)
            self._client = client
            await client.secure(settings_from())
        out: dict[str, UpsData] = {}
        for entry in await client.list_ups():
            try:
                variables: dict[str, str] | None = await client.list_var(entry.name)
            except ServerError:  # DATA-STALE, DRIVER-NOT-CONNECTED, UNKNOWN-UPS
                variables = None
            commands = self._known_cmds.get(entry.name)
            if variables is not None and commands is None:
                with contextlib.suppress(ServerError):
                    commands = tuple(await client.list_cmd(entry.name))
                    self._known_cmds[entry.name] = commands
            if variables is None:
                self._known_cmds.pop(entry.name, None)  # read again when it returns
            out[entry.name] = UpsData(variables, entry.description, commands)
        return out

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        self._known_cmds.clear()

    async def _close_clients(self) -> None:
        await self._drop_client()
        cmd, self._cmd_client = self._cmd_client, None
        if cmd is not None:
            await cmd.close()

    # -- broker -----------------------------------------------------------------------
    async def _broker_loop(self) -> None:
        import aiomqtt

        backoff = Backoff()
        while True:
            try:
                async with self._mqtt_client() as client:
                    self._mqtt = client
                    self.connects += 1
                    log.info("%s: connected to %s", self.server.display, self.broker)
                    backoff.reset()
                    try:
                        await self._session(client)
                    finally:
                        self._mqtt = None
                        await self._goodbye(client)
            except aiomqtt.MqttError as exc:
                delay = backoff.delay()
                log.warning("%s: broker %s: %s; retrying in %.1fs", self.server.display,
                            self.broker, exc, delay)
                await asyncio.sleep(delay)

    def _mqtt_client(self) -> aiomqtt.Client:
        import aiomqtt as mq

        b = self.broker
        context: ssl.SSLContext | None = None
        if b.tls:
            context = ssl.create_default_context(cafile=b.cafile)
            if b.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        ident = f"pnut-{socket.gethostname()}-{os.getpid()}-{self.server.key}"[:100]
        client = mq.Client(
            b.host, b.port, username=b.user,
            password=b.password.reveal() if b.password is not None else None,
            identifier=ident, keepalive=self.opts.keepalive, timeout=self.opts.timeout,
            will=mq.Will(self.feed.server_availability, "offline", qos=1, retain=True),
            tls_context=context, clean_session=True,
        )
        client.pending_calls_threshold = PUBLISH_BATCH + 16  # our batches are by design
        return client

    async def _session(self, client: aiomqtt.Client) -> None:
        # A broker that restarted without persistence lost every retained
        # message: send the whole picture again, then follow the changes.
        self._queue(self.feed.everything())
        if self.opts.commands:
            await client.subscribe(self.feed.command_filter(), qos=1)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._publish_loop(client))
                # Also without --commands: reading is how a lost connection shows.
                group.create_task(self._command_loop(client))
        except ExceptionGroup as group_error:  # the first failure is the story
            raise group_error.exceptions[0] from None

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending:
                batch = []
                for topic in list(self.pending)[:PUBLISH_BATCH]:
                    batch.append(self.pending.pop(topic))
                try:
                    await asyncio.gather(*(
                        client.publish(m.topic, m.payload, qos=self.opts.qos, retain=m.retain)
                        for m in batch))
                except BaseException:
                    for m in batch:  # not sure which arrived: send again, unless replaced
                        self.pending.setdefault(m.topic, m)
                    raise

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                for m in self.feed.goodbye():
                    await client.publish(m.topic, m.payload, qos=1, retain=True)

    # -- commands ---------------------------------------------------------------------
    async def _command_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            target = self.feed.parse_command(topic)
            if target is None:
                log.info("%s: ignoring command on %s (unknown UPS or command)",
                         self.server.display, topic)
                continue
            if len(self._cmd_tasks) >= MAX_COMMANDS:
                log.error("%s: %d commands pending; refusing %s", self.server.display,
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
        log.info("%s: %s %s -> %s", self.server.display, ups, cmd, result)
        body = json.dumps({"ups": ups, "command": cmd, "result": result})
        with contextlib.suppress(Exception):
            await mqtt.publish(self.feed.result_topic(ups, cmd), body, qos=1)

    async def _instcmd(self, ups: str, cmd: str, param: str | None) -> str:
        user, secret = self.server.user, self.server.password
        if user is None or secret is None:
            return "ERR USERNAME-REQUIRED"
        async with self._cmd_lock:
            try:
                client = self._cmd_client
                if client is None or not client.connected:
                    client = await AsyncClient.connect(self.server.host, self.server.port,
                                                       timeout=self.opts.timeout)
                    await client.secure(settings_from())
                    await client.authenticate(user, secret.reveal())
                    with contextlib.suppress(ServerError):
                        await client.set_tracking(True)
                    self._cmd_client = client
                ident = await client.instcmd(ups, cmd, param)
                if ident is None:
                    return "OK"
                status = await client.wait_tracking(ident, timeout=COMMAND_TIMEOUT,
                                                    interval=0.2)
                return str(status.value)
            except ServerError as exc:
                return f"ERR {exc.name}"
            except (ClientError, OSError, ValueError) as exc:
                if self._cmd_client is not None:
                    await self._cmd_client.close()
                    self._cmd_client = None
                return f"ERR {_text(exc)}"


async def run_bridges(servers: list[ServerUrl], broker: Broker, opts: Options) -> None:
    """Every server's bridge until cancelled."""
    boot = f"{int(time.time())}-{os.getpid()}"
    bridges = [ServerBridge(s, broker, opts, boot) for s in servers]
    async with asyncio.TaskGroup() as group:
        for bridge in bridges:
            group.create_task(bridge.run())


def _text(exc: BaseException) -> str:
    nut = getattr(exc, "nut_text", None)
    return str(nut) if nut else (str(exc) or type(exc).__name__)
