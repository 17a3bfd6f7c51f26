"""What the MQTT bridge publishes, decided without any I/O.

How this works
--------------
A :class:`Feed` follows one upsd.  Each poll hands it a snapshot (UPS
name -> :class:`UpsData`); it compares with what it published before and
returns the :class:`Message` list that brings the broker up to date:

- ``<prefix>/<server>/<ups>/var/<name>``: one retained topic per
  variable, sent when its value changes; an empty retained payload
  deletes the topic of a variable that went away;
- ``<prefix>/<server>/<ups>/state``: retained JSON (status flags, every
  variable, ``available``, and ``seq`` - a per-UPS counter that grows by
  one with every state sent, with ``boot`` naming this bridge run, so a
  subscriber can prove it missed nothing);
- ``<prefix>/<server>/<ups>/availability``: ``online``/``offline``;
- ``<prefix>/<server>/availability``: ``online`` while upsd answers,
  ``offline`` when it does not - and the bridge's last will;
- ``<prefix>/<server>/heartbeat``: not retained, every quarter poll interval
  (for ``pnut mqtt --watch``, see :mod:`pnut.mqtt.watch`);
- Home Assistant discovery configs (see :mod:`pnut.mqtt.discovery`).

``<server>`` and ``<ups>`` are encoded by :mod:`pnut.mqtt.names`, so two
servers with a UPS of the same name never share a topic, and no name can
inject ``/``, ``+`` or ``#``.  :meth:`Feed.everything` repeats every retained message (after a
broker reconnect: the broker may have lost them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final

from pnut import __version__
from pnut.mqtt import discovery
from pnut.mqtt.names import ups_part

ONLINE: Final = "online"
OFFLINE: Final = "offline"


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: str
    retain: bool = True


@dataclass(frozen=True)
class UpsData:
    """One UPS in one poll; ``variables`` is None when its data is unavailable."""

    variables: dict[str, str] | None
    description: str = ""
    commands: tuple[str, ...] | None = None


@dataclass
class _Known:
    topics: discovery.Topics
    node: str
    variables: dict[str, str] = field(default_factory=dict)
    available: bool = False
    description: str = ""
    commands: tuple[str, ...] = ()
    seq: int = 0
    configs: dict[str, str] = field(default_factory=dict)
    state: str = ""


class Feed:
    """The published picture of one server, and the messages that update it."""

    def __init__(
        self,
        server_key: str,
        server_name: str,
        *,
        boot: str,
        prefix: str = "pnut",
        discovery_prefix: str | None = "homeassistant",
        commands: bool = False,
    ) -> None:
        self.server_key = server_key
        self.server_name = server_name
        self.boot = boot
        self.prefix = prefix
        self.discovery_prefix = discovery_prefix
        self.commands_enabled = commands
        #: None until the first poll, then whether upsd answered the last one.
        self.server_online: bool | None = None
        self._upses: dict[str, _Known] = {}
        self._by_part: dict[str, str] = {}

    # -- topics ------------------------------------------------------------------
    @property
    def server_availability(self) -> str:
        return f"{self.prefix}/{self.server_key}/availability"

    @property
    def heartbeat_topic(self) -> str:
        """Where the bridge says it is alive (see :mod:`pnut.mqtt.watch`)."""
        return f"{self.prefix}/{self.server_key}/heartbeat"

    def _topics(self, ups: str) -> discovery.Topics:
        return discovery.Topics(f"{self.prefix}/{self.server_key}/{ups_part(ups)}",
                                self.server_availability)

    def command_filter(self) -> str:
        """The subscription that receives commands for every UPS of this server."""
        return f"{self.prefix}/{self.server_key}/+/command/+"

    def parse_command(self, topic: str) -> tuple[str, str] | None:
        """(ups, command) for a command topic of a known UPS and command, else None."""
        head = f"{self.prefix}/{self.server_key}/"
        part, sep, _ = topic[len(head):].partition("/command/")
        ups = self._by_part.get(part) if topic.startswith(head) and sep else None
        if ups is None:
            return None
        topics = self._upses[ups].topics
        cmd = next((c for c in self._upses[ups].commands if topics.command(c) == topic), None)
        return (ups, cmd) if cmd is not None else None

    @property
    def availability_filter(self) -> str:
        """The subscription that receives every UPS availability topic of this server."""
        return f"{self.prefix}/{self.server_key}/+/availability"

    def availability_of(self, topic: str) -> str | None:
        """What an availability topic of this server should say (``online`` /
        ``offline``); ``""`` for a UPS availability topic of a UPS unknown here;
        None when ``topic`` is no availability topic of this server."""
        head = f"{self.prefix}/{self.server_key}/"
        rest = topic[len(head):] if topic.startswith(head) else ""
        if rest == "availability":
            return "" if self.server_online is None else (
                ONLINE if self.server_online else OFFLINE)
        part, sep, leaf = rest.partition("/")
        if not sep or leaf != "availability":
            return None
        ups = self._by_part.get(part)
        if ups is None:
            return ""
        return ONLINE if self._upses[ups].available else OFFLINE

    def result_topic(self, ups: str, cmd: str) -> str:
        return f"{self._topics(ups).command(cmd)}/result"

    # -- updates -----------------------------------------------------------------
    def update(self, snapshot: dict[str, UpsData], now: float) -> list[Message]:
        """Messages for one successful poll of the server."""
        out: list[Message] = []
        if self.server_online is not True:
            self.server_online = True
            out.append(Message(self.server_availability, ONLINE))
        for name, data in snapshot.items():
            out.extend(self._update_ups(name, data, now))
        for name in [n for n in self._upses if n not in snapshot]:
            out.extend(self._set_unavailable(name, now))  # gone from LIST UPS
        return out

    def server_down(self, now: float) -> list[Message]:
        """Messages when upsd cannot be reached: everything behind it offline."""
        out: list[Message] = []
        if self.server_online is not False:
            out.append(Message(self.server_availability, OFFLINE))
        self.server_online = False
        for name in self._upses:
            out.extend(self._set_unavailable(name, now))
        return out

    def everything(self) -> list[Message]:
        """Every retained message as it stands (to restore a broker)."""
        out = [] if self.server_online is None else [  # unknown until the first poll
            Message(self.server_availability, ONLINE if self.server_online else OFFLINE)]
        for known in self._upses.values():
            out.extend(Message(t, p) for t, p in known.configs.items())
            out.extend(Message(known.topics.var(k), v)
                       for k, v in known.variables.items())
            if known.state:
                out.append(Message(known.topics.state, known.state))
            out.append(Message(known.topics.availability, ONLINE if known.available else OFFLINE))
        return out

    def goodbye(self) -> list[Message]:
        """What a clean stop leaves on the broker: every UPS offline."""
        out = [Message(k.topics.availability, OFFLINE) for k in self._upses.values()]
        out.append(Message(self.server_availability, OFFLINE))
        return out

    # -- one UPS -----------------------------------------------------------------
    def _known(self, name: str) -> _Known:
        known = self._upses.get(name)
        if known is None:
            known = _Known(self._topics(name), discovery.node_id(self.server_key, name))
            self._upses[name] = known
            self._by_part[ups_part(name)] = name
        return known

    def _update_ups(self, name: str, data: UpsData, now: float) -> list[Message]:
        known = self._known(name)
        if data.variables is None:
            return self._set_unavailable(name, now)
        out: list[Message] = []
        old, new = known.variables, data.variables
        for var, value in new.items():
            if old.get(var) != value:
                out.append(Message(known.topics.var(var), value))
        out.extend(Message(known.topics.var(v), "") for v in old if v not in new)
        changed = bool(out) or not known.available or data.description != known.description
        known.variables = dict(new)
        known.description = data.description
        if data.commands is not None:
            known.commands = data.commands
        out.extend(self._discovery(name, known))
        if changed:
            out.append(self._state(name, known, True, now))
        if not known.available:
            known.available = True
            out.append(Message(known.topics.availability, ONLINE))
        return out

    def _set_unavailable(self, name: str, now: float) -> list[Message]:
        known = self._known(name)
        if not known.available and known.state:
            return []
        known.available = False
        return [self._state(name, known, False, now),
                Message(known.topics.availability, OFFLINE)]

    def _state(self, name: str, known: _Known, available: bool, now: float) -> Message:
        known.seq += 1
        status = known.variables.get("ups.status", "").split()
        body = {
            "server": self.server_name, "ups": name, "description": known.description,
            "available": available, "status": status, "seq": known.seq, "boot": self.boot,
            "time": round(now, 3), "vars": known.variables,
        }
        known.state = json.dumps(body, sort_keys=True)
        return Message(known.topics.state, known.state)

    def _discovery(self, name: str, known: _Known) -> list[Message]:
        if self.discovery_prefix is None:
            return []
        configs = discovery.configs(
            self.discovery_prefix, known.node, known.topics, name, self.server_name,
            known.variables, known.commands if self.commands_enabled else None, __version__)
        out = [Message(t, p) for t, p in configs.items() if known.configs.get(t) != p]
        out.extend(Message(t, "") for t in known.configs if t not in configs)
        known.configs = configs
        return out
