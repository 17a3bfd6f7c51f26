"""Following several upsd servers: polls in, changes out.  No I/O here.

How this works
--------------
:func:`poll_server` is a client operation (an :data:`~pnut.client.core.Op`,
driven by :meth:`pnut.client.AsyncClient.run` or the sync client): ``LIST
UPS`` then ``LIST VAR`` for each UPS, where a UPS's own ``ERR`` (``DATA-STALE``,
``DRIVER-NOT-CONNECTED``...) is part of the answer instead of failing the
poll.  :class:`Fleet` keeps the last known state of every UPS of every
server and turns each poll (or each failure to poll a server) into a list
of :class:`Change` events.  The clock is an argument, so the whole thing is
tested without sockets.

Invariants:

* a UPS is ``up`` exactly when its server's last poll answered ``LIST VAR``
  for it; its ``reason`` says why not otherwise;
* a failure of one server, or of one UPS, never touches the state of another;
* every change carries a sequence number, one greater than the previous
  change of the fleet, so a consumer can tell it missed one;
* a UPS keeps its last variables while down (for display), but consumers
  must not present them as current (``up`` is False).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from pnut.client.core import ClientConnection, Op
from pnut.client.errors import ServerError
from pnut.client.session import Secret
from pnut.protocol.limits import DEFAULT_PORT
from pnut.protocol.upsname import UpsNameError, parse_hostport

#: UPSes followed per server; a server announcing more is cut at this.
MAX_UPS_PER_SERVER: Final = 10_000

#: Every ``ups.status`` flag NUT defines (WAIT is upsd's placeholder, not a flag).
STATUS_FLAGS: Final = ("OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL",
                       "OFF", "OVER", "TRIM", "BOOST", "FSD", "ALARM", "ECO")

#: Environment variables holding the password of a ``nut://user@host`` URL.
PASSWORD_ENV: Final = ("PNUT_PASSWORD", "NUT_PASSWORD")


# -- server addresses -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One upsd to follow: where, and who to be there (optional)."""

    host: str
    port: int = DEFAULT_PORT
    user: str | None = None
    password: Secret | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """``host:port`` (``[v6]:port``): the server's name in metrics, topics and URLs."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        who = f"{self.user}@" if self.user else ""
        return f"nut://{who}{self.label}"


def parse_server(url: str, environ: Mapping[str, str] | None = None) -> ServerSpec:
    """``nut://[USER[:PASSWORD]@]HOST[:PORT]`` (or plain ``HOST[:PORT]``).

    A user without a password takes it from ``PNUT_PASSWORD`` or
    ``NUT_PASSWORD``, so that it need not appear on a command line.  User
    and password may be %-encoded.  Raises ValueError with a one-line reason
    that never contains the password.
    """
    env = os.environ if environ is None else environ
    text = url.strip()
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() != "nut":
            raise ValueError(f"{scheme}://: only nut:// server URLs are known")
    text = text.rstrip("/")
    user: str | None = None
    password: str | None = None
    if "@" in text:
        who, _, text = text.rpartition("@")
        raw_user, sep, raw_pw = who.partition(":")
        user = urllib.parse.unquote(raw_user) or None
        password = urllib.parse.unquote(raw_pw) if sep else None
    if "/" in text or "?" in text:
        raise ValueError(f"nut://{text}: a server URL has no path or query")
    try:
        host, port = parse_hostport(text)
    except UpsNameError as exc:
        raise ValueError(f"nut://{text}: {exc}") from None
    if user is not None and password is None:
        password = next((env[k] for k in PASSWORD_ENV if env.get(k)), None)
    return ServerSpec(host, port, user, Secret(password) if password is not None else None)


def parse_servers(urls: Iterable[str], environ: Mapping[str, str] | None = None,
                  ) -> list[ServerSpec]:
    """Several URLs; the same server twice is an error (its label must be unique)."""
    out: list[ServerSpec] = []
    seen: set[str] = set()
    for url in urls:
        spec = parse_server(url, environ)
        if spec.label in seen:
            raise ValueError(f"{spec.label}: server given twice")
        seen.add(spec.label)
        out.append(spec)
    return out


def read_server_file(text: str, source: str) -> list[str]:
    """Server URLs from a file (one per line, ``#`` comments): keeps passwords off argv."""
    urls = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            urls.append(line)
    if not urls:
        raise ValueError(f"{source}: no server URL in the file")
    return urls


# -- one poll -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UpsPoll:
    """What one poll learned about one UPS: its variables, or the ERR name."""

    name: str
    description: str
    variables: Mapping[str, str] | None
    error: str | None = None


def poll_server(conn: ClientConnection) -> Op[tuple[UpsPoll, ...]]:
    """``LIST UPS``, then ``LIST VAR`` of each UPS; per-UPS ERRs are results."""
    entries = yield from conn.list_ups()
    out = []
    for entry in entries[:MAX_UPS_PER_SERVER]:
        try:
            variables = yield from conn.list_var(entry.name)
        except ServerError as exc:
            out.append(UpsPoll(entry.name, entry.description, None, exc.name))
        else:
            out.append(UpsPoll(entry.name, entry.description, variables))
    return tuple(out)


# -- the fleet ------------------------------------------------------------------------
@dataclass(slots=True)
class UpsState:
    """The last known state of one UPS of one server."""

    server: str
    name: str
    description: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    up: bool = False
    #: Why the UPS is not up: an ERR name, or the server's connection error.
    reason: str | None = None
    #: When the variables were last confirmed by a poll (seconds, fleet clock).
    updated: float = 0.0
    #: The poll last applied: the very same object again means "unchanged"
    #: (an in-process source reuses it), so the diff is skipped.
    source: UpsPoll | None = field(default=None, repr=False, compare=False)
    #: Bumped with every Change of this UPS: what a reader derived from it
    #: (e.g. its metric lines) is current while the version is the same.
    version: int = 0

    @property
    def status(self) -> list[str]:
        """The ``ups.status`` flags, empty when unknown or not up."""
        return self.variables.get("ups.status", "").split() if self.up else []

    def to_json(self) -> dict[str, object]:
        return {"server": self.server, "name": self.name, "description": self.description,
                "up": self.up, "reason": self.reason, "status": self.status,
                "updated": self.updated, "variables": dict(self.variables)}


@dataclass(slots=True)
class ServerState:
    """How the last polls of one server went."""

    spec: ServerSpec
    up: bool = False
    error: str | None = "not polled yet"
    last_poll: float = 0.0
    polls: int = 0
    failures: int = 0
    #: Seconds the last successful poll took.
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class Change:
    """Something about one UPS changed.

    ``added``: first seen; ``updated``: variables (``set``/``unset``) or
    availability (``up``/``reason``) changed; ``removed``: no longer listed
    by its server.  ``set`` holds new and changed values only.
    """

    seq: int
    time: float
    server: str
    ups: str
    kind: Literal["added", "updated", "removed"]
    up: bool
    reason: str | None
    set: Mapping[str, str]
    unset: tuple[str, ...] = ()
    availability_changed: bool = False


class Fleet:
    """Every UPS of every followed server, and the changes between polls."""

    def __init__(self, servers: Iterable[ServerSpec]) -> None:
        self.servers: dict[str, ServerState] = {s.label: ServerState(s) for s in servers}
        self._upses: dict[str, dict[str, UpsState]] = {label: {} for label in self.servers}
        self.seq = 0

    # -- reading ---------------------------------------------------------------
    def upses(self) -> list[UpsState]:
        """Every UPS, servers in the order given, UPSes in their server's order."""
        return [u for label in self.servers for u in self._upses[label].values()]

    def get(self, server: str, ups: str) -> UpsState | None:
        return self._upses.get(server, {}).get(ups)

    def server_upses(self, server: str) -> list[UpsState]:
        return list(self._upses.get(server, {}).values())

    # -- writing ---------------------------------------------------------------
    def _change(self, now: float, ups: UpsState, kind: Literal["added", "updated", "removed"],
                set_: Mapping[str, str], unset: tuple[str, ...] = (),
                availability: bool = False) -> Change:
        self.seq += 1
        ups.version += 1
        return Change(self.seq, now, ups.server, ups.name, kind, ups.up, ups.reason,
                      set_, unset, availability)

    def apply_poll(self, server: str, polls: Iterable[UpsPoll], now: float,
                   duration: float = 0.0) -> list[Change]:
        """A successful poll of ``server``; returns what changed."""
        srv = self.servers[server]
        srv.up, srv.error, srv.last_poll, srv.duration = True, None, now, duration
        srv.polls += 1
        known = self._upses[server]
        changes: list[Change] = []
        listed: dict[str, UpsState] = {}
        for poll in polls:
            state = known.get(poll.name)
            added = state is None
            if state is None:
                state = UpsState(server, poll.name, poll.description)
            listed[poll.name] = state
            if poll is state.source:
                continue
            state.source = poll
            renamed = state.description != poll.description
            state.description = poll.description
            was_up, was_reason = state.up, state.reason
            set_: dict[str, str] = {}
            unset: tuple[str, ...] = ()
            if poll.variables is not None:
                old = state.variables
                set_ = {k: v for k, v in poll.variables.items() if old.get(k) != v}
                unset = tuple(k for k in old if k not in poll.variables)
                state.variables = dict(poll.variables)
                state.up, state.reason, state.updated = True, None, now
            else:
                state.up, state.reason = False, poll.error
            availability = (was_up, was_reason) != (state.up, state.reason)
            if added:
                changes.append(self._change(now, state, "added", dict(state.variables),
                                            availability=True))
            elif set_ or unset or availability or renamed:
                changes.append(self._change(now, state, "updated", set_, unset, availability))
        for name, state in known.items():
            if name not in listed:
                state.up, state.reason = False, "UNKNOWN-UPS"
                changes.append(self._change(now, state, "removed", {}, availability=True))
        self._upses[server] = listed
        return changes

    def apply_failure(self, server: str, error: str, now: float) -> list[Change]:
        """``server`` could not be polled; each of its UPSes goes down with ``error``."""
        srv = self.servers[server]
        srv.up, srv.error, srv.last_poll = False, error, now
        srv.failures += 1
        changes = []
        for state in self._upses[server].values():
            if state.up or state.reason != error:
                state.up, state.reason = False, error
                changes.append(self._change(now, state, "updated", {}, availability=True))
        return changes


def status_flags(status: str) -> dict[str, bool]:
    """Every NUT flag -> set or not, plus any unknown word the UPS reports."""
    words = status.split()
    flags = {flag: flag in words for flag in STATUS_FLAGS}
    for word in words:
        if word not in flags and word != "WAIT":
            flags[word] = True
    return flags
