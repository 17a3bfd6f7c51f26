"""upsmon.conf's notification vocabulary: event names, flags, messages, URLs.

NUT 2.8.0 raises exactly the eleven events of :class:`NotifyType`; later
2.8.x releases added more (OFF, BYPASS, NOTCAL, ...).  Their names are
listed in :data:`LATER_EVENTS` so that a upsmon.conf written for a newer
NUT still loads (with a warning) instead of being refused.  pnut's own
threshold events (:data:`THRESHOLD_EVENTS`) and NOTIFYURL's URLs are
checked here too, so that the config reader needs nothing of upsmon's
runtime (:mod:`pnut.monitor` imports this, never the other way).
"""

from __future__ import annotations

import importlib.util
from enum import Flag, StrEnum, auto
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit


class NotifyType(StrEnum):
    ONLINE = "ONLINE"
    ONBATT = "ONBATT"
    LOWBATT = "LOWBATT"
    FSD = "FSD"
    COMMOK = "COMMOK"
    COMMBAD = "COMMBAD"
    SHUTDOWN = "SHUTDOWN"
    REPLBATT = "REPLBATT"
    NOCOMM = "NOCOMM"
    NOPARENT = "NOPARENT"
    CAL = "CAL"


class NotifyFlag(Flag):
    NONE = 0
    IGNORE = auto()
    SYSLOG = auto()
    WALL = auto()
    EXEC = auto()


#: Event names of NUT releases after 2.8.0: accepted in NOTIFYMSG and
#: NOTIFYFLAG, never raised.
LATER_EVENTS: Final = frozenset({
    "SHUTDOWN_HOSTSYNC", "NOTCAL", "OFF", "NOTOFF", "BYPASS", "NOTBYPASS",
    "ECO", "NOTECO", "ALARM", "NOTALARM", "OVER", "NOTOVER", "TRIM", "NOTTRIM",
    "BOOST", "NOTBOOST", "OTHER", "NOTOTHER", "SUSPEND_STARTING", "SUSPEND_FINISHED",
})

#: NUT 2.8.0's stock messages; ``%s`` is the UPS as written in MONITOR.
STOCK_MESSAGES: Final[dict[NotifyType, str]] = {
    NotifyType.ONLINE: "UPS %s on line power",
    NotifyType.ONBATT: "UPS %s on battery",
    NotifyType.LOWBATT: "UPS %s battery is low",
    NotifyType.FSD: "UPS %s: forced shutdown in progress",
    NotifyType.COMMOK: "Communications with UPS %s established",
    NotifyType.COMMBAD: "Communications with UPS %s lost",
    NotifyType.SHUTDOWN: "Auto logout and shutdown proceeding",
    NotifyType.REPLBATT: "UPS %s battery needs to be replaced",
    NotifyType.NOCOMM: "UPS %s is unavailable",
    NotifyType.NOPARENT: "upsmon parent process died - shutdown impossible",
    NotifyType.CAL: "UPS %s: calibration in progress",
}

_DEFAULT = NotifyFlag.SYSLOG | NotifyFlag.WALL
#: NUT 2.8.0 defaults: SYSLOG+WALL everywhere, except CAL (SYSLOG only).
DEFAULT_FLAGS: Final[dict[NotifyType, NotifyFlag]] = {
    t: (NotifyFlag.SYSLOG if t is NotifyType.CAL else _DEFAULT) for t in NotifyType
}

def parse_flags(text: str) -> tuple[NotifyFlag, list[str]]:
    """``SYSLOG+WALL`` -> flags, plus the words that are not flag names."""
    flags = NotifyFlag.NONE
    bad: list[str] = []
    for word in text.split("+"):
        if word in ("SYSLOG", "WALL", "EXEC", "IGNORE"):
            flags |= NotifyFlag[word]
        else:
            bad.append(word)
    return flags, bad


#: pnut's threshold events (NOTIFYURL, NOTIFYCMD; pnut.monitor.thresholds raises them).
THRESHOLD_EVENTS: Final = frozenset({"LOADHIGH", "LOADOK", "RUNTIMELOW", "RUNTIMEOK",
                                     "CHARGELOW", "CHARGEOK"})

#: NOTIFYURL schemes pnut sends itself; every other one goes to apprise.
_BUILTIN: Final = ("http", "https", "smtp", "smtps")


def redact(url: str) -> str:
    """The URL without its password (and without any query: it may hold tokens)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.scheme not in _BUILTIN:
        return f"{parts.scheme}://***"  # apprise URLs carry secrets anywhere
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    user = f"{unquote(parts.username)}:***@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be used, or None (for the config file's error)."""
    shown = redact(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{shown}: bad URL (host or port)"
    if not parts.scheme:
        return f"{shown}: no scheme (https://, smtp://, ...)"
    if parts.scheme in ("http", "https"):
        return None if parts.hostname else f"{shown}: no host"
    if parts.scheme in ("smtp", "smtps"):
        query = parse_qs(parts.query)
        if not parts.hostname:
            return f"{shown}: no host"
        if not query.get("to"):
            return f"{shown}: no recipient (add ?to=someone@example.org)"
        return None
    if importlib.util.find_spec("apprise") is None:
        return (f"{parts.scheme}:// needs apprise (pip install 'pnut[apprise]'); "
                "built in: http, https, smtp, smtps")
    import apprise

    if not apprise.Apprise().add(url):
        return f"{parts.scheme}:// is not a URL apprise knows (see apprise's documentation)"
    return None
