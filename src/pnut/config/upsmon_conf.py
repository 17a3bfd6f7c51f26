"""upsmon.conf: every directive of NUT 2.8.x, checked strictly.

NUT logs a warning for a line it cannot use and carries on, which can
leave a machine monitoring less than its admin thinks (a typo in
``primary`` silently makes a secondary; a bad MONITOR line monitors
nothing).  pnut refuses such a file with ``file:line: problem`` instead.
Directives of NUT releases after 2.8.0 are parsed and stored; the few
whose behaviour 2.8.0 lacks are reported in :attr:`UpsmonConf.warnings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.notify import (
    DEFAULT_FLAGS,
    LATER_EVENTS,
    STOCK_MESSAGES,
    THRESHOLD_EVENTS,
    NotifyFlag,
    NotifyType,
    check_url,
    parse_flags,
)
from pnut.config.parser import (
    ConfigError,
    ConfLine,
    confpath,
    did_you_mean,
    nut_int,
    parse_bool,
    parse_int,
    parse_text,
    read_conf,
    warnings_of,
)
from pnut.protocol.upsname import UpsNameError, parse_upsname
from pnut.tls.contexts import normalize_pin

FILENAME = "upsmon.conf"
#: The content of POWERDOWNFLAG, exactly, without newline.
POWERDOWN_MAGIC = "upsmon-shutdown-file"
PRIMARY_WORDS = frozenset({"primary", "master"})
SECONDARY_WORDS = frozenset({"secondary", "slave"})


@dataclass(frozen=True, slots=True)
class Monitor:
    """One MONITOR line."""

    system: str  # "ups@host:port" as written; what %s and UPSNAME show
    upsname: str
    host: str
    port: int
    power_value: int
    username: str
    password: str = field(repr=False)
    primary: bool
    lineno: int = 0


@dataclass(frozen=True, slots=True)
class CertHost:
    """CERTHOST: per-host STARTTLS rules (they replace CERTVERIFY/FORCESSL there)."""

    host: str
    certname: str
    verify: bool
    force_ssl: bool
    lineno: int = 0


@dataclass(frozen=True, slots=True)
class NotifyUrl:
    """NOTIFYURL (pnut): where to send events; ``events`` empty means all."""

    url: str = field(repr=False)
    events: frozenset[str] = frozenset()
    lineno: int = 0


@dataclass
class UpsmonConf:
    path: str = FILENAME
    monitors: list[Monitor] = field(default_factory=list)
    minsupplies: int = 1
    shutdowncmd: str | None = None
    notifycmd: str | None = None
    messages: dict[NotifyType, str] = field(default_factory=lambda: dict(STOCK_MESSAGES))
    flags: dict[NotifyType, NotifyFlag] = field(default_factory=lambda: dict(DEFAULT_FLAGS))
    pollfreq: int = 5
    pollfreqalert: int = 5
    hostsync: int = 15
    deadtime: int = 15
    finaldelay: int = 5
    powerdownflag: str | None = None
    rbwarntime: int = 43200
    nocommwarntime: int = 300
    run_as_user: str | None = None
    #: SHUTDOWNEXIT: 0 = exit right after SHUTDOWNCMD, N>0 = after N s, -1 = never.
    shutdownexit: int = 0
    pollfail_log_throttle_max: int = -1
    offduration: int = 30
    overduration: int = -1
    oblbduration: int = 0
    alarmcritical: bool = True
    certpath: str | None = None
    certident: tuple[str, str] | None = None
    certhosts: list[CertHost] = field(default_factory=list)
    certverify: bool = False
    certverify_line: int = 0
    forcessl: bool = False
    #: CERTPIN (pnut): host -> SHA-256 fingerprint its upsd certificate must have.
    certpins: dict[str, str] = field(default_factory=dict)
    #: CERTFILE (pnut): client certificate and key, for upsd's CERTREQUEST.
    certfile: str | None = None
    debug_min: int | None = None
    #: NOTIFYURL lines (pnut; see pnut.monitor.notifyurl).
    notifyurls: list[NotifyUrl] = field(default_factory=list)
    #: Threshold events (pnut): NOTIFY_LOAD_ABOVE %, NOTIFY_RUNTIME_BELOW s,
    #: NOTIFY_CHARGE_BELOW % (see pnut.monitor.thresholds).
    load_above: float | None = None
    runtime_below: float | None = None
    charge_below: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def total_power(self) -> int:
        return sum(m.power_value for m in self.monitors)

    @property
    def is_primary(self) -> bool:
        return any(m.primary for m in self.monitors)


# -- directive handlers ----------------------------------------------------------
# Each takes (conf, line, args) and stores its value; arity is checked from
# the table below before the handler runs.

Handler = Callable[[UpsmonConf, ConfLine, tuple[str, ...]], None]


def _monitor(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    if len(args) == 4:
        raise line.error("old-style MONITOR line without a username: "
                         "MONITOR ups@host powervalue user password primary|secondary")
    system, pv_text, user, password, role = args
    try:
        name = parse_upsname(system)
    except UpsNameError as exc:
        raise line.error(f"MONITOR {system}: {exc}") from None
    power = parse_int(line, pv_text, minimum=0)
    low = role.lower()
    where = f"{line.path}:{line.lineno}"
    if low not in PRIMARY_WORDS | SECONDARY_WORDS:  # NUT: anything but primary/master
        conf.warnings.append(f"{where}: MONITOR {system}: {role!r} is not primary or "
                             "secondary: this UPS is monitored as secondary, as NUT does"
                             + did_you_mean(role, ("primary", "secondary")))
    if any(m.system == system for m in conf.monitors):  # NUT: "ignoring duplicate UPS"
        conf.warnings.append(f"{where}: MONITOR {system}: duplicate UPS, line ignored "
                             "(as NUT does)")
        return
    conf.monitors.append(Monitor(system, name.name, name.host, name.port, power, user, password,
                                 low in PRIMARY_WORDS, line.lineno))


def _event(line: ConfLine, conf: UpsmonConf, name: str) -> NotifyType | None:
    try:
        return NotifyType(name.upper())
    except ValueError:
        pass
    if name.upper() in LATER_EVENTS:
        conf.warnings.append(f"{line.path}:{line.lineno}: event {name.upper()} is from a NUT "
                             "release after 2.8.0 and is never raised; line ignored")
        return None
    conf.warnings.append(f"{line.path}:{line.lineno}: unknown notify event {name!r}, line "
                         "ignored (as NUT does)"
                         + did_you_mean(name, [t.value for t in NotifyType], upper=True))
    return None


def _notifymsg(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    event = _event(line, conf, args[0])
    if event is not None:
        conf.messages[event] = args[1]


def _notifyflag(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    event = _event(line, conf, args[0])
    flags, bad = parse_flags(args[1])
    for word in bad:  # NUT: "Invalid notify flag", and keeps the others
        conf.warnings.append(f"{line.path}:{line.lineno}: unknown notify flag {word!r} is "
                             "ignored (as NUT does)"
                             + (did_you_mean(word, ("SYSLOG", "WALL", "EXEC", "IGNORE"),
                                             upper=True)
                                or " (SYSLOG, WALL, EXEC or IGNORE joined by +)"))
    if event is not None:
        conf.flags[event] = flags


def _shutdownexit(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    word = args[0]
    if word.lstrip("-").isdigit():
        value = int(word)
        conf.shutdownexit = -1 if value < 0 else value
    else:
        conf.shutdownexit = 0 if parse_bool(line, word) else -1


def _certhost(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    host, name, verify, force = args
    conf.certhosts.append(CertHost(host, name, parse_bool(line, verify), parse_bool(line, force),
                                   line.lineno))


def _certverify(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    conf.certverify = parse_bool(line, args[0])
    conf.certverify_line = line.lineno


def _certpin(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    host, pin = args
    hexpin = normalize_pin(pin)
    if len(hexpin) != 64 or any(c not in "0123456789abcdef" for c in hexpin):
        raise line.error("CERTPIN needs the SHA-256 fingerprint of upsd's certificate: 64 hex "
                         "digits, colons allowed (as 'pnut cert show' prints it)")
    conf.certpins[host] = hexpin


def _notifyurl(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    url, names = args[0], args[1:]
    if "=" in names:  # the config tokenizer makes '=' a word of its own
        raise line.error('NOTIFYURL: put a URL with "=" (a query) in double quotes')
    problem = check_url(url)
    if problem is not None:
        raise line.error(f"NOTIFYURL: {problem}")
    events: set[str] = set()
    for name in names:
        word = name.upper()
        if word == "ALL":
            events.clear()
            break
        known = {t.value for t in NotifyType}
        if word not in THRESHOLD_EVENTS and word not in known and word not in LATER_EVENTS:
            # NOTIFYURL is pnut's own: no NUT file has it, so a typo is an error here
            raise line.error(f"unknown notify event {name!r}"
                             + did_you_mean(name, [*known, *THRESHOLD_EVENTS], upper=True))
        if word not in THRESHOLD_EVENTS and _event(line, conf, word) is None:
            continue  # a later NUT event: warned, never raised
        events.add(word)
    conf.notifyurls.append(NotifyUrl(url, frozenset(events), line.lineno))


def _number(attr: str) -> Handler:
    def handler(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
        try:
            value = float(args[0])
        except ValueError:
            raise line.error(f"expected a number, got {args[0]!r}") from None
        if not 0 <= value < 1e9:
            raise line.error(f"{args[0]} is out of range")
        setattr(conf, attr, value)
    return handler


def _int(attr: str, minimum: int | None = None) -> Handler:
    def handler(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
        value = nut_int(line, args[0], conf.warnings, minimum=minimum)
        if value is not None:
            setattr(conf, attr, value)
    return handler


def _str(attr: str) -> Handler:
    def handler(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
        setattr(conf, attr, args[0])
    return handler


def _bool(attr: str) -> Handler:
    def handler(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
        setattr(conf, attr, parse_bool(line, args[0]))
    return handler


def _certident(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    conf.certident = (args[0], args[1])


#: directive -> (allowed argument counts, handler).
DIRECTIVES: dict[str, tuple[tuple[int, ...], Handler]] = {
    "MONITOR": ((4, 5), _monitor),
    "MINSUPPLIES": ((1,), _int("minsupplies", 0)),
    "SHUTDOWNCMD": ((1,), _str("shutdowncmd")),
    "SHUTDOWNEXIT": ((1,), _shutdownexit),
    "NOTIFYCMD": ((1,), _str("notifycmd")),
    "NOTIFYMSG": ((2,), _notifymsg),
    "NOTIFYFLAG": ((2,), _notifyflag),
    "POLLFREQ": ((1,), _int("pollfreq", 1)),
    "POLLFREQALERT": ((1,), _int("pollfreqalert", 1)),
    "POLLFAIL_LOG_THROTTLE_MAX": ((1,), _int("pollfail_log_throttle_max")),
    "HOSTSYNC": ((1,), _int("hostsync", 0)),
    "DEADTIME": ((1,), _int("deadtime", 0)),
    "POWERDOWNFLAG": ((1,), _str("powerdownflag")),
    "RBWARNTIME": ((1,), _int("rbwarntime", 0)),
    "NOCOMMWARNTIME": ((1,), _int("nocommwarntime", 0)),
    "FINALDELAY": ((1,), _int("finaldelay", 0)),
    "OFFDURATION": ((1,), _int("offduration")),
    "OVERDURATION": ((1,), _int("overduration")),
    "OBLBDURATION": ((1,), _int("oblbduration")),
    "ALARMCRITICAL": ((1,), _bool("alarmcritical")),
    "RUN_AS_USER": ((1,), _str("run_as_user")),
    "CERTPATH": ((1,), _str("certpath")),
    "CERTIDENT": ((2,), _certident),
    "CERTHOST": ((4,), _certhost),
    "CERTVERIFY": ((1,), _certverify),
    "FORCESSL": ((1,), _bool("forcessl")),
    "CERTPIN": ((2,), _certpin),
    "CERTFILE": ((1,), _str("certfile")),
    "DEBUG_MIN": ((1,), _int("debug_min", 0)),
    "NOTIFYURL": (tuple(range(1, 41)), _notifyurl),
    "NOTIFY_LOAD_ABOVE": ((1,), _number("load_above")),
    "NOTIFY_RUNTIME_BELOW": ((1,), _number("runtime_below")),
    "NOTIFY_CHARGE_BELOW": ((1,), _number("charge_below")),
}

#: Stored but without effect in 2.8.0 behaviour: a note when they are set.
_LATER_DIRECTIVES = frozenset({"OFFDURATION", "OVERDURATION", "OBLBDURATION", "ALARMCRITICAL",
                               "POLLFAIL_LOG_THROTTLE_MAX"})


def parse_lines(lines: list[ConfLine], path: str, *, require_monitor: bool = True) -> UpsmonConf:
    conf = UpsmonConf(path=path, warnings=warnings_of(lines))
    for line in lines:
        key, args = line.words[0], line.words[1:]
        if key.upper() == "DEBUG_MIN":
            key = "DEBUG_MIN"
        spec = DIRECTIVES.get(key)
        if spec is None:  # NUT warns and carries on
            conf.warnings.append(f"{path}:{line.lineno}: unknown directive {key!r} is ignored"
                                 + did_you_mean(key, DIRECTIVES, upper=True))
            continue
        counts, handler = spec
        if len(args) not in counts:
            want = " or ".join(str(n) for n in counts)
            raise line.error(f"{key} takes {want} argument(s), got {len(args)}")
        handler(conf, line, args)
        if key in _LATER_DIRECTIVES:
            conf.warnings.append(f"{path}:{line.lineno}: {key} is from a NUT release after "
                                 "2.8.0; stored, no effect")
    if require_monitor:
        check(conf)
    return conf


def check(conf: UpsmonConf) -> None:
    """The whole-file rules: something to monitor, enough power to stay up."""
    if not conf.monitors:
        raise ConfigError(conf.path, None, "no MONITOR line: upsmon would monitor nothing")
    if conf.total_power < conf.minsupplies:
        raise ConfigError(conf.path, None,
                          f"insufficient power configured: sum of power values "
                          f"{conf.total_power} < MINSUPPLIES {conf.minsupplies}")
    if conf.shutdowncmd is None:
        conf.warnings.append(f"{conf.path}: no SHUTDOWNCMD defined")
    if conf.certpath is None:
        certhost = {c.host: c for c in conf.certhosts}
        for mon in conf.monitors:
            rule = certhost.get(mon.host)
            if rule.verify if rule is not None else conf.certverify:
                where = rule.lineno if rule is not None else conf.certverify_line
                raise ConfigError(conf.path, where or None,
                                  f"certificate verification is on for {mon.host} but CERTPATH "
                                  "is not set (the CA file or directory to check upsd's "
                                  "certificate with)")


def load_upsmon_conf(path: str | Path | None = None, *, confdir: str | None = None,
                     require_monitor: bool = True) -> UpsmonConf:
    """Read upsmon.conf (``path``, else ``<confdir or NUT_CONFPATH>/upsmon.conf``)."""
    file = Path(path) if path else confpath(confdir) / FILENAME
    return parse_lines(read_conf(file), str(file), require_monitor=require_monitor)


def parse_upsmon_conf(text: str, path: str = FILENAME, *,
                      require_monitor: bool = True) -> UpsmonConf:
    """Parse upsmon.conf text held in memory (used by ``pnut demo``)."""
    lines = parse_text(text.encode("latin-1"), path)
    return parse_lines(lines, path, require_monitor=require_monitor)
