"""The MQTT broker as the bridge and the watcher reach it: its address and
credentials (:class:`Broker`), an aiomqtt client for it, and the back-off
between reconnect attempts.  Below :mod:`pnut.mqtt.bridge` and
:mod:`pnut.mqtt.watch`, which both connect to it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pnut.client.session import Secret

if TYPE_CHECKING:
    import asyncio

    import aiomqtt

    from pnut.mqtt.client import Client

#: Longest wait between broker reconnect attempts, seconds.
MAX_BACKOFF: Final = 30.0
#: Messages published concurrently (QoS 1 round trips overlap).
PUBLISH_BATCH: Final = 64


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


class Backoff:
    """Doubling delays from ``first`` up to ``MAX_BACKOFF``; reset on success."""

    def __init__(self, first: float = 0.5, top: float = MAX_BACKOFF) -> None:
        self.first, self.top, self.next = first, top, first

    def delay(self) -> float:
        value, self.next = self.next, min(self.next * 2, self.top)
        return value

    def reset(self) -> None:
        self.next = self.first


def why(exc: Exception, client: Client) -> str:
    """What went wrong with ``client``'s connection, for the one warning line."""
    from aiomqtt.exceptions import MqttConnectError

    if client.lost and not isinstance(exc, MqttConnectError):  # not a refusal
        return f"connection lost ({client.lost})"
    return str(exc)


def broker_client(broker: Broker, ident: str, keepalive: int, timeout: float = 10.0,
                  will: aiomqtt.Will | None = None,
                  stop: asyncio.Event | None = None) -> Client:
    """An aiomqtt client for ``broker`` (TLS, credentials), not yet connected;
    connecting gives up when ``stop`` is set (see :mod:`pnut.mqtt.client`)."""
    from pnut.mqtt.client import Client

    b = broker
    context: ssl.SSLContext | None = None
    if b.tls:
        context = ssl.create_default_context(cafile=b.cafile)
        if b.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    client = Client(
        b.host, b.port, username=b.user,
        password=b.password.reveal() if b.password is not None else None,
        identifier=ident[:100], keepalive=keepalive, timeout=timeout, will=will,
        tls_context=context, clean_session=True, stop=stop,
    )
    client.pending_calls_threshold = PUBLISH_BATCH + 16  # our batches are by design
    return client
