"""The checks behind ``pnut check-config`` and every daemon's start-up.

How this works
--------------
Each NUT file kind has a loader that raises :class:`ConfigError` for what
pnut cannot run with and collects warnings for what NUT accepts.  This
module adds the checks that need more than one line or more than one file
(a MONITOR user unknown to upsd.users, a password crossing the network in
clear text, an instant command no driver knows, a ``drvier =`` typo) and
turns everything into :class:`Problem` rows: ``file:line: severity: text``.

The daemons call the same per-file functions on the objects they already
loaded and log the warnings (``startup_warnings``); they refuse only what
raised ConfigError, so a configuration NUT accepts still starts.
``check_confdir`` runs everything on one directory for the CLI, which
exits 1 when it reports anything at all.

It sits above :mod:`pnut.config` and :mod:`pnut.driver` because it asks
the drivers (pnut's and NUT's ``driver -L``) which settings they take;
the config readers themselves know nothing of drivers or daemons.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from pnut.config.parser import ConfigError, did_you_mean
from pnut.config.problems import Problem, upsd_conf_problems, users_problems
from pnut.config.problems import warning_problems as _warnings
from pnut.config.ups_conf import UpsConf, UpsSection, load_ups_conf
from pnut.config.upsd_conf import UpsdConf, is_loopback_host, load_upsd_conf
from pnut.config.users import Users, load_users

if TYPE_CHECKING:  # upsd runs the upsd checks at startup: it loads none of these
    from pnut.config.upsmon_conf import UpsmonConf

#: The files ``check_confdir`` looks for, in the order it reports them.
FILES = ("nut.conf", "ups.conf", "upsd.conf", "upsd.users", "upsmon.conf", "upssched.conf")

#: nut.conf keys (NUT 2.8.x) and MODE values.
NUT_CONF_KEYS = (
    "MODE", "ALLOW_NO_DEVICE", "ALLOW_NOT_ALL_LISTENERS", "UPSD_OPTIONS", "UPSMON_OPTIONS",
    "POWEROFF_WAIT", "POWEROFF_QUIET", "NUT_DEBUG_LEVEL", "NUT_DEBUG_PID", "NUT_DEBUG_SYSLOG",
    "NUT_DEBUG_PROCNAME", "NUT_IGNORE_CHECKPROCNAME", "NUT_QUIET_INIT_UPSNOTIFY",
    "NUT_STATEPATH", "NUT_CONFPATH", "NUT_ALTPIDPATH",
)
MODES = ("none", "standalone", "netserver", "netclient")
#: The files a nut.conf MODE leaves unread, and the program that would read
#: each: NUT's init scripts and units start none of them in that mode, so an
#: error there stops nothing (reported as a warning that says so).
UNUSED_BY_MODE: dict[str, dict[str, str]] = {
    "none": {"ups.conf": "the drivers are", "upsd.conf": "upsd is", "upsd.users": "upsd is",
             "upsmon.conf": "upsmon is", "upssched.conf": "upsmon is"},
    "netclient": {"ups.conf": "the drivers are", "upsd.conf": "upsd is",
                  "upsd.users": "upsd is"},
}

#: ups.conf keys every driver (NUT's drivers/main.c) or upsdrvctl takes.
CORE_KEYS = (
    "driver", "port", "desc", "sdorder", "sdcommands", "user", "group", "pollinterval",
    "synchronous", "maxstartdelay", "maxretry", "retrydelay", "debug_min", "chroot",
    "driverpath", "statepath", "sddelay", "reconnect_max_tries", "LIBUSB_DEBUG",
    "usb_set_altinterface", "usb_config_index", "usb_hid_rep_index", "usb_hid_desc_index",
    "usb_hid_ep_in", "usb_hid_ep_out",
)
CORE_FLAGS = ("nolock", "ignorelb", "nowait", "allow_killpower", "usb_set_altinterface")
#: Where Debian puts NUT's C drivers.
DEFAULT_DRIVERPATH = "/lib/nut"

# -- nut.conf ----------------------------------------------------------------------------

def check_nut_conf(path: Path) -> list[Problem]:
    """nut.conf is read by the shell: KEY=value, no blanks around ``=``."""
    return _read_nut_conf(path)[0]


def _read_nut_conf(path: Path) -> tuple[list[Problem], str | None]:
    """nut.conf's problems and its MODE (None: not set, or not one of MODES)."""
    out: list[Problem] = []
    found: str | None = None
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return [Problem(str(path), f"cannot read: {exc.strerror or exc}", "error")], None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)(\s*)=(\s*)(.*)", line)
        if m is None:
            out.append(Problem.at(str(path), n, "expected KEY=value (nut.conf is read by the "
                                  "shell)", "error"))
            continue
        key, before, after, value = m.groups()
        if before or after:
            out.append(Problem.at(str(path), n, f"no blanks around '=' in {key}=... (nut.conf "
                                  "is read by the shell, which would run a command instead)",
                                  "error"))
            continue
        if key not in NUT_CONF_KEYS:
            out.append(Problem.at(str(path), n, f"unknown setting {key!r}"
                                  + did_you_mean(key, NUT_CONF_KEYS, upper=True)))
        if key == "MODE":
            try:
                words = shlex.split(value, comments=True)
            except ValueError:
                words = [value]
            mode = words[0] if words else ""
            if mode not in MODES:
                out.append(Problem.at(str(path), n, f"MODE={mode} is not one of "
                                      f"{', '.join(MODES)}" + did_you_mean(mode, MODES),
                                      "error"))
            found = mode if mode in MODES else None  # the shell keeps the last
    return out, found


# -- ups.conf ----------------------------------------------------------------------------

def _driver_options(driver: str, driverpath: str) -> tuple[set[str], set[str]] | None:
    """(values, flags) a driver accepts: pnut's vartab and NUT's ``driver -L``; None if unknown.

    Both, when both exist: a setting either implementation takes is not a typo.
    """
    from pnut.driver.base import BUILTIN_DRIVERS, load_driver

    values: set[str] = set()
    flags: set[str] = set()
    known = False
    if driver in BUILTIN_DRIVERS:
        vartab = load_driver(driver).vartab
        values |= {s.name for s in vartab if not s.flag}
        flags |= {s.name for s in vartab if s.flag}
        known = True
    binary = Path(driverpath) / driver
    if "/" not in driver and binary.is_file():
        import subprocess

        try:
            listing = subprocess.run([str(binary), "-L"], capture_output=True, text=True,
                                     timeout=5, stdin=subprocess.DEVNULL).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        if listing:
            values |= set(re.findall(r"^VALUE (\S+)", listing, re.M))
            flags |= set(re.findall(r"^FLAG (\S+)", listing, re.M))
            known = True
    return (values, flags) if known else None


def known_drivers(driverpath: str) -> list[str]:
    from pnut.driver.base import BUILTIN_DRIVERS

    try:
        nut = [p.name for p in Path(driverpath).iterdir() if p.is_file()]
    except OSError:
        nut = []
    return sorted(set(BUILTIN_DRIVERS) | set(nut))


def _section_problems(conf: UpsConf, sec: UpsSection, driverpath: str) -> list[Problem]:
    out: list[Problem] = []
    path = conf.path
    names = [*sec.settings, *sec.flags]
    if sec.driver is None:
        hint = next((f" ({k!r} on line {sec.linenos.get(k)}: did you mean 'driver'?)"
                     for k in names if did_you_mean(k, ["driver"])), "")
        out.append(Problem.at(path, sec.lineno, f"UPS [{sec.name}] has no 'driver' setting, so "
                              f"nothing will run it{hint}", "error"))
        return out
    elif sec.driver not in (drivers := known_drivers(driverpath)):
        out.append(Problem.at(path, sec.linenos.get("driver", sec.lineno),
                              f"UPS [{sec.name}]: no driver named {sec.driver!r} (pnut's or in "
                              f"{driverpath})" + did_you_mean(sec.driver, drivers), "error"))
    if sec.port is None:
        out.append(Problem.at(path, sec.lineno, f"UPS [{sec.name}] has no 'port' setting",
                              "error"))
    options = _driver_options(sec.driver, driverpath)
    if options is None:
        return out  # a driver we cannot ask: NUT passes the settings on, so do we
    values, flags = options
    for key in sec.settings:
        low = key.lower()
        if low in CORE_KEYS or low.startswith(("override.", "default.")) or key in values:
            continue
        line = sec.linenos.get(key, sec.lineno)
        out.append(Problem.at(path, line, f"UPS [{sec.name}]: {key!r} is not a setting of "
                              f"the {sec.driver} driver"
                              + did_you_mean(key, [*CORE_KEYS, *values]), "error"))
    for flag in sec.flags:
        if flag.lower() in CORE_FLAGS or flag in flags:
            continue
        line = sec.linenos.get(flag, sec.lineno)
        out.append(Problem.at(path, line, f"UPS [{sec.name}]: {flag!r} is not a flag of the "
                              f"{sec.driver} driver (a setting needs 'key = value')"
                              + did_you_mean(flag, [*CORE_FLAGS, *flags, *CORE_KEYS, *values]),
                              "error"))
    return out


def ups_conf_problems(conf: UpsConf) -> list[Problem]:
    driverpath = conf.globals.get("driverpath", DEFAULT_DRIVERPATH)
    out = _warnings(conf.warnings)
    for sec in conf.upses:
        out += _section_problems(conf, sec, driverpath)
    return out


# -- upsd.conf's TLS (the rest of upsd.conf and upsd.users: pnut.config.problems) --------

def tls_problems(conf: UpsdConf, user: str | None = None) -> list[Problem]:
    """TLS that upsd.conf asks for but upsd could not offer: a CERTFILE that does
    not load, or a certificate of its own that it cannot keep.  ``check-config``
    only: upsd logs the same line itself, once.  ``user``: upsd's ``-u`` (the
    run-as user; root checks the state directory as that user)."""
    from pnut.server.config import (
        TLSNotImportable,
        certfile_context,
        client_certificates,
        own_certificate_problem,
        tls_unavailable,
    )

    if conf.certfile is not None:
        try:
            context = certfile_context(conf, conf.certfile)
        except ValueError as exc:
            line, text = tls_unavailable(conf, str(exc), running=False,
                                         file_at_fault=not isinstance(exc, TLSNotImportable))
            return [Problem.at(conf.path, line, text, "error")]
        problem = client_certificates(conf, context)
        return [] if problem is None else [Problem(conf.path, problem[1], problem[0])]
    if not conf.wants_own_certificate:
        return []
    from pnut import process
    from pnut.tls import autocert

    why = autocert.problem()
    if why is not None:
        line, text = tls_unavailable(conf, own_certificate_problem(why), running=False)
        return [Problem.at(conf.path, line, text)]
    # Made as root at start; replaced on a reload, by the user upsd runs as.
    try:
        account = process.run_as(user)
    except process.ProcessError as exc:
        return [Problem(f"-u {user}", str(exc), "error")]
    later = autocert.renewal_problem(account)
    if later is None:
        return []
    assert account is not None
    remote = conf.remote_listen()
    line = conf.require_tls_line if remote is None else remote.lineno
    return [Problem.at(conf.path, line, (
        f"upsd keeps its own certificate in {autocert.state_dir()}, but once it runs as user "
        f"{account.name} it cannot replace it there on a reload ({later}), as it must 30 "
        f"days before its end or when the file is gone: make that directory writable by "
        f"{account.name} (Debian's /var/lib/nut is root:nut 0770), or set CERTFILE"))]


# -- upsmon.conf ---------------------------------------------------------------------------

def upsmon_problems(conf: UpsmonConf, users: Users | None = None) -> list[Problem]:
    """The file's warnings, plus what only makes sense next to upsd.users."""
    out = _warnings(conf.warnings)
    for mon in conf.monitors:
        local = is_loopback_host(mon.host)
        forced = conf.forcessl or any(c.host == mon.host and c.force_ssl for c in conf.certhosts)
        if not local and not forced:
            out.append(Problem.at(conf.path, mon.lineno,
                                  f"MONITOR {mon.system}: the password goes to {mon.host} in "
                                  "clear text unless its upsd offers STARTTLS; 'FORCESSL 1' "
                                  "(with CERTVERIFY 1 and CERTPATH) makes sure it never does"))
        if users is None or not local:
            continue
        user = users.users.get(mon.username)
        if user is None:
            out.append(Problem.at(conf.path, mon.lineno,
                                  f"MONITOR {mon.system}: user {mon.username!r} is not in "
                                  f"{users.path}" + did_you_mean(mon.username, users.users)))
        elif users.authenticate(mon.username, mon.password) is None:
            out.append(Problem.at(conf.path, mon.lineno,
                                  f"MONITOR {mon.system}: the password of {mon.username!r} "
                                  f"does not match {users.path}"))
        elif mon.primary and not user.may("master"):
            out.append(Problem.at(conf.path, mon.lineno,
                                  f"MONITOR {mon.system} is primary but {mon.username!r} has no "
                                  f"'upsmon primary' in {users.path}"))
    return out


def upsmon_startup(conf: UpsmonConf) -> list[Problem]:
    """What upsmon logs at start: its own checks, with upsd.users beside it if readable."""
    users: Users | None = None
    beside = Path(conf.path).parent
    if (beside / "upsd.users").exists():
        try:
            users = load_users(beside)
        except (ConfigError, OSError):
            users = None
    return upsmon_problems(conf, users)


# -- the whole directory -------------------------------------------------------------------

def _upsd_conf_all(conf: UpsdConf, user: str | None) -> list[Problem]:
    return upsd_conf_problems(conf) + tls_problems(conf, user)


def _upssched_warnings(base: Path) -> list[str]:
    from pnut.config.upssched_conf import load_upssched_conf

    return load_upssched_conf(confdir=str(base)).warnings


def check_confdir(confdir: str | os.PathLike[str], user: str | None = None) -> list[Problem]:
    """Every problem of every NUT file present in ``confdir``; ``user``: the
    user upsd runs as (its ``-u``; default ``nut``), for what it must write."""
    base = Path(confdir)
    present = [name for name in FILES if (base / name).exists()]
    if not present:
        return [Problem(str(base), f"no NUT configuration files here ({', '.join(FILES)})",
                        "error")]
    out: list[Problem] = []
    users: Users | None = None
    mode: str | None = None
    if "nut.conf" in present:
        nut_conf, mode = _read_nut_conf(base / "nut.conf")
        out += nut_conf
    unused = UNUSED_BY_MODE.get(mode or "", {})
    loaders = {
        "ups.conf": lambda: ups_conf_problems(load_ups_conf(base)),
        "upsd.conf": lambda: _upsd_conf_all(load_upsd_conf(base), user),
        "upssched.conf": lambda: _warnings(_upssched_warnings(base)),
    }
    for name in ("ups.conf", "upsd.conf", "upsd.users", "upsmon.conf", "upssched.conf"):
        if name not in present:
            continue
        found: list[Problem] = []
        try:
            if name == "upsd.users":
                users = load_users(base)
                found = users_problems(users)
            elif name == "upsmon.conf":
                from pnut.config.upsmon_conf import load_upsmon_conf

                found = upsmon_problems(load_upsmon_conf(base / name), users)
            else:
                found = loaders[name]()
        except ConfigError as exc:
            found = [Problem.from_error(exc)]
        if name in unused:
            found = [_not_started(p, mode or "", unused[name]) for p in found]
        out += found
    return out


def _not_started(problem: Problem, mode: str, programs: str) -> Problem:
    """An error in a file nut.conf's MODE leaves unread: a warning that says so."""
    if problem.severity != "error":
        return problem
    return Problem(problem.where, f"{problem.message} (with nut.conf MODE={mode}, "
                   f"{programs} not started, so this stops nothing until MODE changes)")
