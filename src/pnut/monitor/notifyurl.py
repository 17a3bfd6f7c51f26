"""NOTIFYURL: upsmon events to webhooks, email and (with apprise) anything else.

upsmon.conf (pnut)::

    NOTIFYURL https://hooks.example/ups                    # JSON POST, every event
    NOTIFYURL smtp://user:pw@mail.lan:587/?from=ups@lan&to=admin@lan ONBATT LOWBATT
    NOTIFYURL tgram://bottoken/chatid LOADHIGH             # needs the apprise extra

How this works
--------------
Each NOTIFYURL line is a :class:`Target` with its own bounded queue and
one worker task.  :meth:`Dispatcher.submit` only puts the event in the
queues of the targets that want it and returns at once, so upsmon's
state machine and shutdown never wait for a network; when a queue is
full its oldest event is dropped (and logged).  A worker sends one event
at a time in a thread (urllib, smtplib or apprise, each with a timeout)
and retries a failure with doubling delays (``RETRY_FIRST`` up to
``RETRY_MAX``, ``ATTEMPTS`` tries in all), logging each failure with the
URL's password removed.  :meth:`Dispatcher.drain` gives the queues a
bounded time before upsmon exits.

Schemes: ``http``/``https`` (JSON POST; user:password in the URL becomes
HTTP basic auth), ``smtp`` (STARTTLS when the server offers it;
``?starttls=require`` insists) and ``smtps`` (TLS from the start), with
``from``, ``to`` (comma-separated) and optional ``cafile`` query
parameters; every other scheme goes to apprise when it is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import smtplib
import socket
import ssl
import time
import urllib.request
from base64 import b64encode
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from pnut.config.notify import redact

#: Events waiting per target; beyond this the oldest is dropped.
QUEUE_SIZE: Final = 64
#: Tries per event, the first retry delay and the longest delay (seconds).
ATTEMPTS: Final = 5
RETRY_FIRST: Final = 2.0
RETRY_MAX: Final = 60.0
#: Seconds one delivery attempt may take.
SEND_TIMEOUT: Final = 10.0



@dataclass(frozen=True)
class Event:
    """What is sent: NUT's event name, the UPS, the message, and context."""

    type: str
    system: str | None
    message: str
    time: float = field(default_factory=time.time)
    host: str = field(default_factory=socket.gethostname)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.type, "ups": self.system, "message": self.message,
                "host": self.host, "source": "pnut upsmon",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)),
                **self.details}

    @property
    def subject(self) -> str:
        return f"[upsmon {self.host}] {self.type}" + (f" {self.system}" if self.system else "")


# -- senders (blocking, run in a thread) -----------------------------------------
def send_http(url: str, event: Event, timeout: float = SEND_TIMEOUT) -> None:
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", "User-Agent": "pnut-upsmon"}
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username is not None:
        cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + b64encode(cred.encode()).decode()
    clean = parts._replace(netloc=netloc).geturl()
    body = json.dumps(event.to_json()).encode()
    request = urllib.request.Request(clean, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        reply.read(65536)


def send_smtp(url: str, event: Event, timeout: float = SEND_TIMEOUT) -> None:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    recipients = [a.strip() for a in query["to"].split(",") if a.strip()]
    sender = query.get("from") or f"upsmon@{event.host}"
    context = ssl.create_default_context(cafile=query.get("cafile"))
    host = parts.hostname or "localhost"
    msg = EmailMessage()
    msg["Subject"] = event.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg.set_content(event.message + "\n\n" + json.dumps(event.to_json(), indent=2) + "\n")
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, parts.port or 465, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, parts.port or 25, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if parts.scheme == "smtp":
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif query.get("starttls") == "require" or parts.username:
                # Never send a password in clear text.
                raise smtplib.SMTPException("server does not offer STARTTLS")
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(msg, from_addr=sender, to_addrs=recipients)


def send_apprise(url: str, event: Event, timeout: float = SEND_TIMEOUT) -> None:
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        raise ValueError("apprise does not accept this URL")
    if not sender.notify(title=event.subject, body=event.message):
        raise OSError("apprise could not deliver")


def _sender(url: str) -> Any:
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        return send_http
    if scheme in ("smtp", "smtps"):
        return send_smtp
    return send_apprise


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc) or type(exc).__name__
    return text.splitlines()[0][:200]


# -- the dispatcher ----------------------------------------------------------------
class Target:
    """One NOTIFYURL: its queue and its worker."""

    def __init__(self, url: str, events: frozenset[str], log: logging.Logger,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.url = url
        self.shown = redact(url)
        self.events = events
        self.log = log
        self.queue: deque[Event] = deque()
        self.queue_size = queue_size
        self.wake = asyncio.Event()
        self.busy = False
        self.sent = 0
        self.failed = 0
        self.task: asyncio.Task[None] | None = None

    def wants(self, event: Event) -> bool:
        return not self.events or event.type in self.events

    def put(self, event: Event) -> None:
        if len(self.queue) >= self.queue_size:
            lost = self.queue.popleft()
            self.log.error("NOTIFYURL %s: %d events waiting; dropped %s", self.shown,
                           self.queue_size, lost.type)
        self.queue.append(event)
        self.wake.set()

    @property
    def idle(self) -> bool:
        return not self.queue and not self.busy


class Dispatcher:
    """Every NOTIFYURL of upsmon.conf; see the module docstring."""

    def __init__(self, urls: list[tuple[str, frozenset[str]]], log: logging.Logger, *,
                 attempts: int = ATTEMPTS, retry_first: float = RETRY_FIRST,
                 retry_max: float = RETRY_MAX, timeout: float = SEND_TIMEOUT,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.log = log
        self.targets = [Target(u, e, log, queue_size) for u, e in urls]
        self.attempts = max(1, attempts)
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.timeout = timeout

    def submit(self, event: Event) -> None:
        """Queue ``event`` for every target that wants it; never waits."""
        for target in self.targets:
            if target.wants(event):
                target.put(event)
                if target.task is None or target.task.done():
                    target.task = asyncio.get_running_loop().create_task(self._work(target))

    async def _work(self, target: Target) -> None:
        send = _sender(target.url)
        while True:
            if not target.queue:
                target.wake.clear()
                await target.wake.wait()
                continue
            event = target.queue.popleft()
            target.busy = True
            try:
                await self._deliver(target, send, event)
            finally:
                target.busy = False

    async def _deliver(self, target: Target, send: Any, event: Event) -> None:
        delay = self.retry_first
        for attempt in range(1, self.attempts + 1):
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(send, target.url, event, self.timeout),
                    self.timeout + 5)
            except Exception as exc:  # every failure is retried the same way
                reason = _reason(exc)
                if attempt == self.attempts:
                    target.failed += 1
                    self.log.error("NOTIFYURL %s: %s not delivered after %d attempts: %s",
                                   target.shown, event.type, attempt, reason)
                    return
                self.log.warning("NOTIFYURL %s: %s attempt %d/%d failed: %s; retrying in "
                                 "%gs", target.shown, event.type, attempt, self.attempts,
                                 reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
            else:
                target.sent += 1
                self.log.debug("NOTIFYURL %s: %s delivered", target.shown, event.type)
                return

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) until every queue is empty, e.g. before upsmon exits."""
        deadline = time.monotonic() + timeout
        while any(not t.idle for t in self.targets) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def retire(self, timeout: float) -> None:
        """Finish what is queued (bounded), then stop the workers."""
        await self.drain(timeout)
        await self.close()

    async def close(self) -> None:
        for target in self.targets:
            if target.task is not None:
                target.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await target.task
