"""upsd.conf: where upsd listens and how it judges its drivers.

Every directive of NUT 2.8.0's upsd.conf is understood.  Where NUT logs a
bad line and carries on (a non-numeric MAXAGE, an unknown directive), pnut
refuses the file with ``file:line: problem``, because a typo here silently
changes how a power failure is handled.  The obsolete ACCEPT/REJECT/ACL
lines are accepted with a warning, as NUT does.  TLS settings are stored
for the TLS layer; nothing here opens a socket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.parser import ConfLine, parse_bool, parse_int, read_conf
from pnut.protocol.limits import DEFAULT_MAXAGE, DEFAULT_PORT, DEFAULT_TRACKINGDELAY

#: Where upsd listens when upsd.conf has no LISTEN line (NUT's default).
DEFAULT_LISTEN: tuple[tuple[str, int], ...] = (("127.0.0.1", DEFAULT_PORT), ("::1", DEFAULT_PORT))
#: The wildcard addresses ``LISTEN *`` stands for.
WILDCARDS: tuple[str, ...] = ("0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int
    lineno: int = 0


@dataclass
class UpsdConf:
    path: str = "upsd.conf"
    listen: list[Listen] = field(default_factory=list)
    maxage: int = DEFAULT_MAXAGE
    maxconn: int | None = None
    statepath: str | None = None
    datapath: str | None = None
    trackingdelay: int = DEFAULT_TRACKINGDELAY
    allow_no_device: bool = False
    allow_not_all_listeners: bool = False
    debug_min: int | None = None
    certfile: str | None = None
    certpath: str | None = None
    certident: tuple[str, str] | None = None
    certrequest: int = 0
    disable_weak_ssl: bool = False
    #: Messages to log once the daemon's logger is up (obsolete lines).
    warnings: list[str] = field(default_factory=list)

    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs to bind, ``*`` expanded, defaults applied."""
        if not self.listen:
            return list(DEFAULT_LISTEN)
        out: list[tuple[str, int]] = []
        for item in self.listen:
            hosts = WILDCARDS if item.host == "*" else (item.host,)
            out.extend((h, item.port) for h in hosts if (h, item.port) not in out)
        return out


def _port(line: ConfLine, word: str) -> int:
    port = parse_int(line, word, minimum=1)
    if port > 65535:
        raise line.error(f"port {port} is out of range (1-65535)")
    return port


def _certrequest(line: ConfLine, word: str) -> int:
    names = {"NO": 0, "REQUEST": 1, "REQUIRE": 2}
    if word.upper() in names:
        return names[word.upper()]
    value = parse_int(line, word, minimum=0)
    if value > 2:
        raise line.error(f"CERTREQUEST must be 0, 1 or 2 (NO, REQUEST, REQUIRE), got {word!r}")
    return value


def _need(line: ConfLine, count: int, usage: str) -> None:
    if len(line.words) < count + 1:
        raise line.error(f"{line.words[0]} needs {usage}")


def parse_upsd_conf(lines: list[ConfLine], path: str = "upsd.conf") -> UpsdConf:
    conf = UpsdConf(path)
    for line in lines:
        key = line.words[0]
        args = line.words[1:]
        if key.upper() == "DEBUG_MIN":  # the one case-insensitive keyword in NUT
            _need(line, 1, "a number")
            conf.debug_min = parse_int(line, args[0], minimum=0)
        elif key == "LISTEN":
            _need(line, 1, "an address and optionally a port")
            if len(args) > 2:
                raise line.error("LISTEN takes an address and optionally a port")
            port = _port(line, args[1]) if len(args) > 1 else DEFAULT_PORT
            conf.listen.append(Listen(args[0], port, line.lineno))
        elif key == "MAXAGE":
            _need(line, 1, "a number of seconds")
            conf.maxage = parse_int(line, args[0], minimum=1)
        elif key == "TRACKINGDELAY":
            _need(line, 1, "a number of seconds")
            conf.trackingdelay = parse_int(line, args[0], minimum=0)
        elif key == "MAXCONN":
            _need(line, 1, "a number of connections")
            conf.maxconn = parse_int(line, args[0], minimum=1)
        elif key in ("ALLOW_NO_DEVICE", "ALLOW_NOT_ALL_LISTENERS"):
            _need(line, 1, "a boolean (yes/no)")
            word = args[0]
            value = int(word) != 0 if word.isdigit() else parse_bool(line, word)
            if key == "ALLOW_NO_DEVICE":
                conf.allow_no_device = value
            else:
                conf.allow_not_all_listeners = value
        elif key == "STATEPATH":
            _need(line, 1, "a directory")
            conf.statepath = args[0]
        elif key == "DATAPATH":
            _need(line, 1, "a directory")
            conf.datapath = args[0]
        elif key == "CERTFILE":
            _need(line, 1, "a PEM file")
            conf.certfile = args[0]
        elif key == "CERTPATH":
            _need(line, 1, "a directory")
            conf.certpath = args[0]
        elif key == "CERTIDENT":
            _need(line, 2, "a certificate name and a password")
            conf.certident = (args[0], args[1])
        elif key == "CERTREQUEST":
            _need(line, 1, "0, 1 or 2")
            conf.certrequest = _certrequest(line, args[0])
        elif key == "DISABLE_WEAK_SSL":
            _need(line, 1, "a boolean (yes/no)")
            conf.disable_weak_ssl = parse_bool(line, args[0])
        elif key in ("ACCEPT", "REJECT", "ACL"):
            conf.warnings.append(
                f"{path}:{line.lineno}: {key} is no longer supported and is ignored - "
                "use LISTEN to choose where upsd listens"
            )
        else:
            raise line.error(f"unknown directive {key!r}")
    return conf


def load_upsd_conf(confdir: str | os.PathLike[str]) -> UpsdConf:
    path = Path(confdir) / "upsd.conf"
    return parse_upsd_conf(read_conf(path), str(path))
