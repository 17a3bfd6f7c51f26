"""upsmon.conf: every directive of NUT 2.8.x, read as NUT 2.8.0 reads it.

A upsmon that does not start protects nobody, so every line NUT's upsmon
logs (or not) and carries on with, pnut reads the same way, or more safely,
and names in :attr:`UpsmonConf.warnings` as ``file:line: problem``: a
directive without its value (NUT: "invalid directive"), words after the
last one NUT reads, a number NUT reads with ``atoi``, a misspelt role
(``primay`` monitors as secondary, as in NUT).  Only what stops NUT's
upsmon too is refused: an old-style MONITOR line without a username, and
less power than MINSUPPLIES.  Directives of NUT releases after 2.8.0 and
pnut's own are parsed and stored; NUT 2.8.0 ignores those lines, so a bad
value there is a warning too.
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
    LineIgnored,
    confpath,
    did_you_mean,
    nut_int,
    parse_bool,
    parse_text,
    read_conf,
    warnings_of,
)
from pnut.protocol.cnum import strtol
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
    #: Power values of MONITOR lines whose UPS name NUT cannot split: NUT
    #: keeps such a UPS (never reachable) and counts its power value.
    unusable_power: int = 0

    @property
    def total_power(self) -> int:
        """The sum NUT checks against MINSUPPLIES."""
        return sum(m.power_value for m in self.monitors) + self.unusable_power

    @property
    def is_primary(self) -> bool:
        return any(m.primary for m in self.monitors)


# -- directive handlers ----------------------------------------------------------
# Each takes (conf, line, args) and stores its value; arity is checked from
# the table below before the handler runs.

Handler = Callable[[UpsmonConf, ConfLine, tuple[str, ...]], None]


def _monitor(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    if len(args) == 4:  # NUT: "Fatal error: unusable configuration"
        raise line.error("old-style MONITOR line without a username: "
                         "MONITOR ups@host powervalue user password primary|secondary")
    system, pv_text, user, password, role = args
    where = f"{line.path}:{line.lineno}"
    power = _power_value(line, pv_text, conf.warnings)
    low = role.lower()
    if low not in PRIMARY_WORDS | SECONDARY_WORDS:  # NUT: anything but primary/master
        conf.warnings.append(f"{where}: MONITOR {system}: {role!r} is not primary or "
                             "secondary: this UPS is monitored as secondary, as NUT does"
                             + did_you_mean(role, ("primary", "secondary")))
    if any(m.system == system for m in conf.monitors):  # NUT: "ignoring duplicate UPS"
        conf.warnings.append(f"{where}: MONITOR {system}: duplicate UPS, line ignored "
                             "(as NUT does)")
        return
    try:
        name = parse_upsname(system)
    except UpsNameError as exc:
        # NUT logs "unable to split UPS name", keeps a UPS it can never reach
        # and counts its power value: so does the MINSUPPLIES check here.
        conf.unusable_power += power
        raise line.ignored(f"MONITOR {system}: {exc} (NUT counts its power value {power} "
                           "and never reaches it)") from None
    conf.monitors.append(Monitor(system, name.name, name.host, name.port, power, user, password,
                                 low in PRIMARY_WORDS, line.lineno))


def _power_value(line: ConfLine, word: str, warnings: list[str]) -> int:
    """MONITOR's power value as NUT reads it: strtol, a negative one ignores the line."""
    value, used = strtol(word)
    where = f"{line.path}:{line.lineno}: MONITOR {line.words[1]}"
    if value < 0 or value > 0xFFFFFFFF:  # NUT: "ignoring invalid power value"
        raise line.ignored(f"MONITOR {line.words[1]}: invalid power value {word!r}")
    if used != len(word) or not word[:1].isdigit():
        warnings.append(f"{where}: power value {word!r} is read as {value}, as NUT reads it"
                        + (" (0: monitored, but not powering this machine)" if not value else ""))
    return value


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


def _atoi_flag(conf: UpsmonConf, line: ConfLine, word: str) -> bool:
    """CERTVERIFY, FORCESSL and CERTHOST's flags: NUT reads them with atoi.

    A word such as ``yes`` is 0 to NUT; pnut has always taken NUT's boolean
    words as meant, so it keeps doing so and says where NUT differs."""
    where = f"{line.path}:{line.lineno}: {line.words[0]}"
    low = word.lower()
    if low in ("yes", "true", "on", "no", "false", "off"):
        value = low in ("yes", "true", "on")
        if value:
            conf.warnings.append(f"{where} {word!r} is read as 1 (NUT's atoi reads it as 0: "
                                 "write 1)")
        return value
    number = strtol(word)[0]
    if not word.isdigit():
        conf.warnings.append(f"{where} {word!r} is read as {number}, as NUT reads it")
    return number != 0


def _certhost(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    host, name, verify, force = args
    conf.certhosts.append(CertHost(host, name, _atoi_flag(conf, line, verify),
                                   _atoi_flag(conf, line, force), line.lineno))


def _certverify(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    conf.certverify = _atoi_flag(conf, line, args[0])
    conf.certverify_line = line.lineno


def _forcessl(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    conf.forcessl = _atoi_flag(conf, line, args[0])


def _certpin(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    host, pin = args
    hexpin = normalize_pin(pin)
    if len(hexpin) != 64 or any(c not in "0123456789abcdef" for c in hexpin):
        raise line.ignored("CERTPIN needs the SHA-256 fingerprint of upsd's certificate: 64 hex "
                         "digits, colons allowed (as 'pnut cert show' prints it)")
    conf.certpins[host] = hexpin


def _notifyurl(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
    url, names = args[0], args[1:]
    if "=" in names:  # the config tokenizer makes '=' a word of its own
        raise line.ignored('NOTIFYURL: put a URL with "=" (a query) in double quotes')
    problem = check_url(url)
    if problem is not None:
        raise line.ignored(f"NOTIFYURL: {problem}")
    events: set[str] = set()
    for name in names:
        word = name.upper()
        if word == "ALL":
            events.clear()
            break
        known = {t.value for t in NotifyType}
        if word not in THRESHOLD_EVENTS and word not in known and word not in LATER_EVENTS:
            # NOTIFYURL is pnut's own, which NUT ignores: the whole line is ignored
            raise line.ignored(f"NOTIFYURL: unknown notify event {name!r}"
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
            raise line.ignored(f"{line.words[0]}: expected a number, got {args[0]!r}") from None
        if not 0 <= value < 1e9:
            raise line.ignored(f"{line.words[0]}: {args[0]} is out of range")
        setattr(conf, attr, value)
    return handler


def _int(attr: str, minimum: int | None = None, *, negative_ignored: bool = False) -> Handler:
    """A number NUT reads with atoi; ``negative_ignored``: NUT ignores a
    negative value (MINSUPPLIES, POLLFREQ, POLLFREQALERT, FINALDELAY)."""
    def handler(conf: UpsmonConf, line: ConfLine, args: tuple[str, ...]) -> None:
        value = nut_int(line, args[0], conf.warnings)
        if value is None:
            return
        if value < 0 and negative_ignored:  # NUT: "Ignoring invalid ... value"
            raise line.ignored(f"{line.words[0]} {value} is negative")
        if minimum is not None and value < minimum:
            conf.warnings.append(f"{line.path}:{line.lineno}: {line.words[0]} {value} is below "
                                 f"the minimum {minimum}: using {minimum}")
            value = minimum
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


#: directive -> (arguments NUT needs, arguments it reads, handler); None: any number.
DIRECTIVES: dict[str, tuple[int, int | None, Handler]] = {
    "MONITOR": (4, 5, _monitor),
    "MINSUPPLIES": (1, 1, _int("minsupplies", negative_ignored=True)),
    "SHUTDOWNCMD": (1, 1, _str("shutdowncmd")),
    "SHUTDOWNEXIT": (1, 1, _shutdownexit),
    "NOTIFYCMD": (1, 1, _str("notifycmd")),
    "NOTIFYMSG": (2, 2, _notifymsg),
    "NOTIFYFLAG": (2, 2, _notifyflag),
    "POLLFREQ": (1, 1, _int("pollfreq", 1, negative_ignored=True)),
    "POLLFREQALERT": (1, 1, _int("pollfreqalert", 1, negative_ignored=True)),
    "POLLFAIL_LOG_THROTTLE_MAX": (1, 1, _int("pollfail_log_throttle_max")),
    "HOSTSYNC": (1, 1, _int("hostsync", 0)),
    "DEADTIME": (1, 1, _int("deadtime", 0)),
    "POWERDOWNFLAG": (1, 1, _str("powerdownflag")),
    "RBWARNTIME": (1, 1, _int("rbwarntime", 0)),
    "NOCOMMWARNTIME": (1, 1, _int("nocommwarntime", 0)),
    "FINALDELAY": (1, 1, _int("finaldelay", negative_ignored=True)),
    "OFFDURATION": (1, 1, _int("offduration")),
    "OVERDURATION": (1, 1, _int("overduration")),
    "OBLBDURATION": (1, 1, _int("oblbduration")),
    "ALARMCRITICAL": (1, 1, _bool("alarmcritical")),
    "RUN_AS_USER": (1, 1, _str("run_as_user")),
    "CERTPATH": (1, 1, _str("certpath")),
    "CERTIDENT": (2, 2, _certident),
    "CERTHOST": (4, 4, _certhost),
    "CERTVERIFY": (1, 1, _certverify),
    "FORCESSL": (1, 1, _forcessl),
    "CERTPIN": (2, 2, _certpin),
    "CERTFILE": (1, 1, _str("certfile")),
    "DEBUG_MIN": (1, 1, _int("debug_min", 0)),
    "NOTIFYURL": (1, 40, _notifyurl),
    "NOTIFY_LOAD_ABOVE": (1, 1, _number("load_above")),
    "NOTIFY_RUNTIME_BELOW": (1, 1, _number("runtime_below")),
    "NOTIFY_CHARGE_BELOW": (1, 1, _number("charge_below")),
}
#: Commands NUT would run as their first word only: the words are joined back.
_COMMANDS = frozenset({"SHUTDOWNCMD", "NOTIFYCMD"})

#: Stored but without effect in 2.8.0 behaviour: a note when they are set.
_LATER_DIRECTIVES = frozenset({"OFFDURATION", "OVERDURATION", "OBLBDURATION", "ALARMCRITICAL",
                               "POLLFAIL_LOG_THROTTLE_MAX"})


def parse_lines(lines: list[ConfLine], path: str, *, require_monitor: bool = True) -> UpsmonConf:
    conf = UpsmonConf(path=path, warnings=warnings_of(lines))
    for line in lines:
        try:
            _directive(conf, line)
        except LineIgnored as exc:
            conf.warnings.append(str(exc))
    if require_monitor:
        check(conf)
    return conf


def _directive(conf: UpsmonConf, line: ConfLine) -> None:
    key, args = line.words[0], line.words[1:]
    where = f"{conf.path}:{line.lineno}"
    if key.upper() == "DEBUG_MIN":
        key = "DEBUG_MIN"
    spec = DIRECTIVES.get(key)
    if spec is None:  # NUT warns and carries on
        conf.warnings.append(f"{where}: unknown directive {key!r} is ignored"
                             + did_you_mean(key, DIRECTIVES, upper=True))
        return
    least, most, handler = spec
    if len(args) < least:  # NUT: "invalid directive"
        raise line.ignored(f"{key} needs {least} argument(s), got {len(args)}")
    if most is not None and len(args) > most:
        if key in _COMMANDS:
            # NUT would run the first word alone (a bare "/sbin/shutdown" waits a
            # minute, or fails): the command as written is the safer reading, its
            # quotes kept for the shell (the words joined would lose them).
            written = line.rest_as_written() or " ".join(args)
            conf.warnings.append(f"{where}: {key} has {len(args)} words: read as the command "
                                 f"{written!r} (NUT runs only {args[0]!r}; quote the command)")
            args = (written,)
        else:
            conf.warnings.append(f"{where}: {key} takes {most} argument(s): the words after "
                                 "them are ignored, as NUT ignores them")
            args = args[:most]
    handler(conf, line, args)
    if key in _LATER_DIRECTIVES:
        conf.warnings.append(f"{where}: {key} is from a NUT release after 2.8.0; stored, "
                             "no effect")


def check(conf: UpsmonConf) -> None:
    """The whole-file rules: enough power to stay up (NUT refuses to start
    without), and warnings for what NUT starts with."""
    if conf.total_power < conf.minsupplies:  # NUT: "insufficient power configured"
        raise ConfigError(conf.path, None,
                          ("no MONITOR line: " if not conf.monitors else "")
                          + f"insufficient power configured: sum of power values "
                          f"{conf.total_power} < MINSUPPLIES {conf.minsupplies}")
    if not conf.monitors:  # NUT runs, monitoring nothing
        conf.warnings.append(f"{conf.path}: no MONITOR line: upsmon monitors nothing")
    if conf.shutdowncmd is None:
        conf.warnings.append(f"{conf.path}: no SHUTDOWNCMD defined")
    if conf.certpath is None:
        certhost = {c.host: c for c in conf.certhosts}
        for mon in conf.monitors:
            rule = certhost.get(mon.host)
            if rule.verify if rule is not None else conf.certverify:
                line = rule.lineno if rule is not None else conf.certverify_line
                where = f"{conf.path}:{line}" if line else conf.path
                # NUT's NSS build starts too, and fails every verified connection.
                conf.warnings.append(f"{where}: certificate verification is on for {mon.host} "
                                     "but CERTPATH is not set: upsd's certificate is checked "
                                     "against the system's CA certificates")


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
