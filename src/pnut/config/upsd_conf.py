"""upsd.conf: where upsd listens and how it judges its drivers.

Every directive of NUT 2.8.0's upsd.conf is understood.  Where NUT logs a
bad line and carries on (a non-numeric MAXAGE, MAXCONN or TRACKINGDELAY, a
non-boolean ALLOW_NO_DEVICE, a directive without its value, an unknown
directive), pnut carries on too with a ``file:line:`` warning, since a upsd
that does not start protects nobody; so it does for a bad value of one of
its own directives, which NUT ignores whole.  Only a LISTEN port that no
lookup resolves stops upsd, as it stops NUT.  The obsolete ACCEPT/REJECT/ACL
lines are accepted with a warning, as NUT does.  TLS settings are stored
for the TLS layer; nothing here opens a socket.

pnut's own directives (docs/upsd.md): TLS_MIN_VERSION, REQUIRE_TLS,
CLIENTCAFILE, and the limits MAXCONN_PER_ADDRESS, LIMIT_LOOPBACK,
MAX_LOGIN_FAILURES, IDLE_TIMEOUT, LINE_TIMEOUT, TLS_HANDSHAKE_TIMEOUT.
:meth:`UpsdConf.check` applies the rules that span several lines.  A NUT
configuration that NUT accepts starts: without CERTFILE, a server reachable
beyond this host offers STARTTLS with its own certificate
(:mod:`pnut.tls.autocert`) and accepts clear text unless ``REQUIRE_TLS yes``.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.parser import (
    ConfigError,
    ConfLine,
    LineIgnored,
    did_you_mean,
    nut_int,
    parse_bool,
    parse_int,
    read_conf,
    warnings_of,
)
from pnut.protocol.limits import (
    CLIENT_IDLE_TIMEOUT,
    DEFAULT_MAXAGE,
    DEFAULT_PORT,
    DEFAULT_TRACKINGDELAY,
)

#: Where upsd listens when upsd.conf has no LISTEN line (NUT's default).
DEFAULT_LISTEN: tuple[tuple[str, int], ...] = (("127.0.0.1", DEFAULT_PORT), ("::1", DEFAULT_PORT))
#: The wildcard addresses ``LISTEN *`` stands for.
WILDCARDS: tuple[str, ...] = ("0.0.0.0", "::")

#: Connections one client address may hold (0: no limit).
DEFAULT_MAXCONN_PER_ADDRESS = 256
#: Failed logins one address may make per minute before it is refused unchecked.
DEFAULT_MAX_LOGIN_FAILURES = 10
#: Seconds a request line may take from its first byte to its newline.
DEFAULT_LINE_TIMEOUT = 10.0
#: Seconds a client has to finish the TLS handshake after ``OK STARTTLS``.
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 10.0
#: Every directive upsd.conf knows (NUT's and pnut's), for "did you mean".
DIRECTIVES = (
    "DEBUG_MIN", "LISTEN", "MAXAGE", "TRACKINGDELAY", "MAXCONN", "ALLOW_NO_DEVICE",
    "ALLOW_NOT_ALL_LISTENERS", "STATEPATH", "DATAPATH", "CERTFILE", "CERTPATH", "CERTIDENT",
    "CERTREQUEST", "DISABLE_WEAK_SSL", "TLS_MIN_VERSION", "REQUIRE_TLS", "CLIENTCAFILE",
    "MAXCONN_PER_ADDRESS", "LIMIT_LOOPBACK", "MAX_LOGIN_FAILURES", "IDLE_TIMEOUT",
    "LINE_TIMEOUT", "TLS_HANDSHAKE_TIMEOUT", "ACCEPT", "REJECT", "ACL", "ZEROCONF",
    "HTTP_LISTEN",
)
#: Port of ``HTTP_LISTEN`` without one (pnut web's default).
DEFAULT_HTTP_PORT = 9493
#: CERTREQUEST values, NUT's names.
CERTREQUEST_NAMES = {"NO": 0, "REQUEST": 1, "REQUIRE": 2}


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int
    lineno: int = 0


@dataclass
class UpsdConf:
    path: str = "upsd.conf"
    listen: list[Listen] = field(default_factory=list)
    #: HTTP_LISTEN lines: pnut web's endpoints served by upsd itself (docs/web.md).
    http_listen: list[Listen] = field(default_factory=list)
    maxage: int = DEFAULT_MAXAGE
    maxconn: int | None = None
    statepath: str | None = None
    datapath: str | None = None
    trackingdelay: int = DEFAULT_TRACKINGDELAY
    allow_no_device: bool = False
    #: Read as NUT 2.8.1+ reads it; pnut's upsd serves on what it can bind whatever
    #: it says (pnut.server.daemon.Upsd._listen), so nothing acts on it.
    allow_not_all_listeners: bool = False
    debug_min: int | None = None
    certfile: str | None = None
    certfile_line: int = 0
    certpath: str | None = None
    certident: tuple[str, str] | None = None
    certrequest: int = 0
    certrequest_line: int = 0
    disable_weak_ssl: bool = False
    #: Lowest TLS version offered: "1.3" (default) or "1.2".
    tls_min_version: str = "1.3"
    #: REQUIRE_TLS as written (None: not set, which means no).
    require_tls: bool | None = None
    require_tls_line: int = 0
    #: CA file or directory that client certificates must chain to.
    clientcafile: str | None = None
    maxconn_per_address: int = DEFAULT_MAXCONN_PER_ADDRESS
    limit_loopback: bool = False
    max_login_failures: int = DEFAULT_MAX_LOGIN_FAILURES
    idle_timeout: float = CLIENT_IDLE_TIMEOUT
    line_timeout: float = DEFAULT_LINE_TIMEOUT
    tls_handshake_timeout: float = DEFAULT_TLS_HANDSHAKE_TIMEOUT
    #: ZEROCONF: None announces _nut._tcp when listening beyond loopback,
    #: True always, False never (see pnut.server.mdns).
    zeroconf: bool | None = None
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

    def remote_listen(self) -> Listen | None:
        """The first LISTEN line reachable from other hosts, if any."""
        return next((item for item in self.listen if not is_loopback_host(item.host)), None)

    @property
    def tls_required(self) -> bool:
        """REQUIRE_TLS as written; off by default, as NUT has no such setting."""
        return bool(self.require_tls)

    @property
    def wants_own_certificate(self) -> bool:
        """No CERTFILE, but TLS matters: a LISTEN beyond loopback, or REQUIRE_TLS yes."""
        return self.certfile is None and (self.require_tls or self.remote_listen() is not None)

    def check(self) -> None:
        """Rules that span lines, as warnings naming the line at fault."""
        if self.certrequest and self.certfile is not None and self.clientcafile is None:
            # NUT's PEM (OpenSSL) build has no CERTREQUEST: it asks for no client
            # certificate, and neither does pnut without a CA to check them with.
            self.warnings.append(f"{self.path}:{self.certrequest_line}: CERTREQUEST "
                                 "REQUEST/REQUIRE needs CLIENTCAFILE (the CA that signs client "
                                 "certificates): client certificates are not asked for")


def is_loopback_host(host: str) -> bool:
    """True when ``host`` (a LISTEN address) is reachable only from this machine."""
    if host == "*":
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        pass
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback for info in infos)


def _port(conf: UpsdConf, line: ConfLine, word: str, default: int) -> int:
    """A LISTEN port as NUT's getaddrinfo reads it: a number or a service name."""
    where = f"{conf.path}:{line.lineno}: {line.words[0]}"
    if not word.isdigit():
        try:
            port = socket.getservbyname(word, "tcp")
        except OSError:  # NUT: getaddrinfo fails, fatal
            raise line.error(f"port {word!r} is neither a number nor a known service name") \
                from None
        conf.warnings.append(f"{where} port {word!r} is read as the service's port {port}, "
                             "as NUT reads it")
        return port
    port = int(word)
    if port == 0 or port > 65535:
        # NUT listens on a random port (0) or on the port number cut to 16 bits
        # (99999 is 34463): ports no client can find, where the default is one
        conf.warnings.append(f"{where} port {port} is not a port from 1 to 65535 (NUT would "
                             f"listen where no client looks): using {default}")
        return default
    return port


def _listen(conf: UpsdConf, line: ConfLine, default_port: int) -> Listen:
    args = line.words[1:]
    if len(args) > 2:  # NUT reads the address and the port and ignores the rest
        conf.warnings.append(f"{conf.path}:{line.lineno}: {line.words[0]} takes an address and "
                             "optionally a port: the words after the port are ignored, as NUT "
                             "ignores them")
    port = _port(conf, line, args[1], default_port) if len(args) > 1 else default_port
    return Listen(args[0], port, line.lineno)


def _seconds(line: ConfLine, word: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise line.ignored(f"{line.words[0]}: expected a number of seconds, got {word!r}") \
            from None
    if not math.isfinite(value) or value <= 0:
        raise line.ignored(f"{line.words[0]} must be a positive number of seconds, got {word!r}")
    return value


def _certrequest(conf: UpsdConf, line: ConfLine, word: str) -> int:
    """NUT's NSS build reads a value that starts with a digit through atoi and
    treats anything but 1 and 2 as 0; the names are pnut's."""
    names = CERTREQUEST_NAMES
    if word.upper() in names:
        return names[word.upper()]
    value = nut_int(line, word, conf.warnings, signed=False)
    if value is None:
        raise line.ignored(f"CERTREQUEST must be 0, 1 or 2 (NO, REQUEST, REQUIRE), got {word!r}")
    if value > 2:
        conf.warnings.append(f"{conf.path}:{line.lineno}: CERTREQUEST {value} is not 0, 1 or 2: "
                             "read as 0 (NO), as NUT reads it")
        return 0
    return value


def _need(line: ConfLine, count: int, usage: str) -> None:
    if len(line.words) < count + 1:  # NUT: "invalid directive", and carries on
        raise line.ignored(f"{line.words[0]} needs {usage}")


def _flag(line: ConfLine, word: str) -> bool:
    """ALLOW_NO_DEVICE's reading in NUT: a leading digit is atoi() != 0, else a boolean."""
    if word[:1].isdigit():
        return int(word[:len(word) - len(word.lstrip("0123456789"))]) != 0
    return parse_bool(line, word)


def parse_upsd_conf(lines: list[ConfLine], path: str = "upsd.conf") -> UpsdConf:
    """Every line NUT 2.8.0 reads is read the same way (or more safely, with a
    warning); what NUT ignores is ignored with a ``file:line:`` warning.  Only
    what stops NUT too (a LISTEN port no lookup can resolve) is a ConfigError."""
    conf = UpsdConf(path, warnings=warnings_of(lines))
    for line in lines:
        try:
            _directive(conf, line)
        except LineIgnored as exc:
            conf.warnings.append(str(exc))
    return conf


def _directive(conf: UpsdConf, line: ConfLine) -> None:
    path = conf.path
    key = line.words[0]
    args = line.words[1:]
    if key.upper() == "DEBUG_MIN":  # the one case-insensitive keyword in NUT
        _need(line, 1, "a number")
        conf.debug_min = parse_int(line, args[0], minimum=0)
    elif key == "LISTEN":
        _need(line, 1, "an address and optionally a port")
        conf.listen.append(_listen(conf, line, DEFAULT_PORT))
    elif key == "HTTP_LISTEN":
        _need(line, 1, "an address and optionally a port")
        try:
            conf.http_listen.append(_listen(conf, line, DEFAULT_HTTP_PORT))
        except ConfigError as exc:  # pnut's own line: NUT ignores all of it
            raise line.ignored(exc.problem) from None
    elif key == "MAXAGE":
        _need(line, 1, "a number of seconds")
        maxage = nut_int(line, args[0], conf.warnings, minimum=1, signed=False)
        conf.maxage = conf.maxage if maxage is None else maxage
    elif key == "TRACKINGDELAY":
        _need(line, 1, "a number of seconds")
        delay = nut_int(line, args[0], conf.warnings, minimum=0, signed=False)
        conf.trackingdelay = conf.trackingdelay if delay is None else delay
    elif key == "MAXCONN":
        _need(line, 1, "a number of connections")
        maxconn = nut_int(line, args[0], conf.warnings, minimum=1, signed=False)
        conf.maxconn = conf.maxconn if maxconn is None else maxconn
    elif key in ("ALLOW_NO_DEVICE", "ALLOW_NOT_ALL_LISTENERS"):
        _need(line, 1, "a boolean (yes/no)")
        value = _flag(line, args[0])
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
        conf.certfile_line = line.lineno
    elif key == "CERTPATH":
        _need(line, 1, "a directory")
        conf.certpath = args[0]
    elif key == "CERTIDENT":
        _need(line, 2, "a certificate name and a password")
        conf.certident = (args[0], args[1])
    elif key == "CERTREQUEST":
        _need(line, 1, "0, 1 or 2")
        conf.certrequest = _certrequest(conf, line, args[0])
        conf.certrequest_line = line.lineno
    elif key == "DISABLE_WEAK_SSL":
        _need(line, 1, "a boolean (yes/no)")
        conf.disable_weak_ssl = parse_bool(line, args[0])
    elif key == "TLS_MIN_VERSION":
        _need(line, 1, "1.2 or 1.3")
        if args[0] not in ("1.2", "1.3"):
            raise line.ignored(f"TLS_MIN_VERSION must be 1.2 or 1.3, got {args[0]!r}")
        conf.tls_min_version = args[0]
    elif key == "REQUIRE_TLS":
        _need(line, 1, "a boolean (yes/no)")
        conf.require_tls = parse_bool(line, args[0])
        conf.require_tls_line = line.lineno
    elif key == "CLIENTCAFILE":
        _need(line, 1, "a CA file or directory")
        conf.clientcafile = args[0]
    elif key == "MAXCONN_PER_ADDRESS":
        _need(line, 1, "a number of connections (0: no limit)")
        conf.maxconn_per_address = parse_int(line, args[0], minimum=0)
    elif key == "LIMIT_LOOPBACK":
        _need(line, 1, "a boolean (yes/no)")
        conf.limit_loopback = parse_bool(line, args[0])
    elif key == "MAX_LOGIN_FAILURES":
        _need(line, 1, "a number of failures per minute (0: no limit)")
        conf.max_login_failures = parse_int(line, args[0], minimum=0)
    elif key in ("IDLE_TIMEOUT", "LINE_TIMEOUT", "TLS_HANDSHAKE_TIMEOUT"):
        _need(line, 1, "a number of seconds")
        setattr(conf, key.lower(), _seconds(line, args[0]))
    elif key == "ZEROCONF":
        _need(line, 1, "a boolean (yes/no)")
        conf.zeroconf = parse_bool(line, args[0])
    elif key in ("ACCEPT", "REJECT", "ACL"):
        conf.warnings.append(
            f"{path}:{line.lineno}: {key} is no longer supported and is ignored - "
            "use LISTEN to choose where upsd listens"
        )
    else:  # NUT: "Unrecognized directive", and carries on
        conf.warnings.append(f"{path}:{line.lineno}: unknown directive {key!r} is ignored"
                             + did_you_mean(key, DIRECTIVES, upper=True))


def load_upsd_conf(confdir: str | os.PathLike[str]) -> UpsdConf:
    path = Path(confdir) / "upsd.conf"
    conf = parse_upsd_conf(read_conf(path), str(path))
    conf.check()
    return conf
