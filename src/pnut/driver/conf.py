"""From ups.conf and the command line to one driver's settings — no I/O here.

NUT's drivers/main.c sorts every ``key = value`` and flag of the UPS's
section (then ``-x`` overrides) into one of four bins, and so does
:func:`build_config`:

* handled by the core, some published: ``port`` (``driver.parameter.port``),
  ``pollinterval``, ``synchronous``, the ``nolock`` and ``ignorelb`` flags
  (``driver.flag.*``); ``user``, ``group``, ``desc``, ``sdorder``,
  ``debug_min``, ``sddelay`` are taken silently, and so are upsdrvctl's
  ``maxstartdelay``/``maxretry``/``retrydelay``/``nowait`` and
  ``reconnect_max_tries`` (newer NUT; global or per UPS) (NUT 2.8.0's
  drivers refuse those in a UPS section — a bug; docs/compat.md);
* ``override.<var>`` and ``default.<var>``: values for the tree;
* the driver's own settings (its ``vartab``): ``driver.parameter.<key>``
  (``driver.flag.<flag>`` for flags) unless marked sensitive;
* anything else is fatal, naming ``file:line`` (NUT prints the name only
  and exits 0).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.parser import did_you_mean
from pnut.config.ups_conf import UpsConf, UpsSection
from pnut.driver.base import DriverConfig, DriverError, VarSpec
from pnut.protocol.cnum import strtol

log = logging.getLogger("pnut.driver")

#: Section keys the core takes without publishing them.
SILENT_KEYS = frozenset(
    {"user", "group", "desc", "sdorder", "debug_min", "sddelay", "chroot",
     "maxstartdelay", "maxretry", "retrydelay", "sdcommands", "reconnect_max_tries"}
)
SILENT_FLAGS = frozenset({"nowait"})
CORE_FLAGS = frozenset({"nolock", "ignorelb"})


@dataclass
class Setup:
    """Everything the runner needs besides the driver class."""

    config: DriverConfig
    #: ``driver.parameter.*`` / ``driver.flag.*`` values, in publishing order.
    published: list[tuple[str, str]] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    synchronous: str = "auto"
    user: str | None = None
    group: str | None = None
    debug_min: int = 0


def _sync_word(value: str) -> str:
    return value if value in ("yes", "auto") else "no"


def _interval(raw: str, where: str) -> float:
    """NUT reads a whole number with atoi (``5s`` is 5) and stops at 0 or less;
    pnut also takes fractions (tests, demos)."""
    try:
        value = float(raw)
    except ValueError:
        value = float(strtol(raw)[0])
        if value > 0:
            log.warning("%s: pollinterval %r is read as %d, as NUT reads it", where, raw, value)
    if not value > 0 or value > 86400:
        raise DriverError(f"{where}: invalid pollinterval: {raw!r} (must be a positive number)")
    return value


def split_xarg(arg: str) -> tuple[str, str | None]:
    """``-x key=value`` → (key, value); ``-x flag`` → (flag, None)."""
    key, sep, value = arg.partition("=")
    return key.strip(), (value if sep else None)


def build_config(
    *,
    progname: str,
    upsname: str,
    conf: UpsConf | None,
    vartab: tuple[VarSpec, ...],
    xargs: list[str],
    confdir: Path,
    statepath: Path,
    cli_interval: str | None = None,
    cli_user: str | None = None,
) -> Setup:
    """Merge ups.conf's global and UPS section with ``-x``; raise DriverError on a bad one."""
    known = {spec.name.lower(): spec for spec in vartab}
    config = DriverConfig(progname, upsname, "", confdir, statepath)
    setup = Setup(config)
    section: UpsSection | None = None
    conf_path = conf.path if conf is not None else "ups.conf"

    if conf is not None:
        for key, value in conf.globals.items():
            where = f"{conf_path} (global section)"
            if key == "pollinterval":
                config.pollinterval = _interval(value, where)
            elif key == "synchronous":
                setup.synchronous = _sync_word(value)
            elif key == "user":
                setup.user = value
            elif key == "group":
                setup.group = value
            elif key == "debug_min" and value.isdigit():
                setup.debug_min = int(value)
            elif key == "reconnect_max_tries":
                config.values[key] = value
                config.origins[key] = where
        section = conf.get(upsname)
        if section is None:
            raise DriverError(f"{conf_path}: section [{upsname}] not found")

    entries: list[tuple[str, str | None, str]] = []
    if section is not None:
        sec = section

        def at(name: str) -> str:
            return f"{conf_path}:{sec.linenos.get(name, sec.lineno)}"

        entries.extend((key, setting, at(key)) for key, setting in sec.settings.items())
        entries.extend((flag, None, at(flag)) for flag in sorted(sec.flags))
    for arg in xargs:
        xkey, xvalue = split_xarg(arg)
        if not xkey:
            raise DriverError(f"-x {arg}: expected -x key=value or -x flag")
        entries.append((xkey, xvalue, f"-x {arg}"))

    seen_driver = False
    for key, maybe, where in entries:
        low = key.lower()
        if maybe is None:
            if low in CORE_FLAGS or low in SILENT_FLAGS:
                if low in CORE_FLAGS:
                    setup.published.append((f"driver.flag.{key}", "enabled"))
                config.flags.add(low)
                continue
            spec = known.get(low)
            if spec is None or not spec.flag:
                raise DriverError(f"{where}: {key!r} is not a valid flag for the {progname} driver"
                                  + did_you_mean(key, [*CORE_FLAGS, *SILENT_FLAGS, *known]))
            config.flags.add(spec.name)
            config.origins[spec.name] = where
            setup.published.append((f"driver.flag.{key}", "enabled"))
            continue
        value = maybe
        if key == "driver":
            seen_driver = True
            if value != progname:
                raise DriverError(
                    f"{where}: UPS [{upsname}] is for driver {value}, but I am {progname}"
                )
        elif key == "port":
            config.port = value
            config.origins["port"] = where
            setup.published.append(("driver.parameter.port", value))
        elif key == "pollinterval":
            config.pollinterval = _interval(value, where)
        elif key == "synchronous":
            setup.synchronous = _sync_word(value)
        elif key == "user":
            setup.user = setup.user if cli_user else value
        elif key == "group":
            setup.group = value
        elif key == "debug_min":
            setup.debug_min = int(value) if value.isdigit() else setup.debug_min
        elif low in SILENT_KEYS:
            config.values[low] = value
            config.origins[low] = where
        elif low.startswith("override."):
            setup.overrides[key[9:]] = value
        elif low.startswith("default."):
            setup.defaults[key[8:]] = value
        else:
            spec = known.get(low)
            if spec is None or spec.flag:
                raise DriverError(
                    f"{where}: {key!r} is not a valid variable name for the {progname} driver"
                    + did_you_mean(key, ["driver", "port", "pollinterval", "synchronous",
                                         *SILENT_KEYS, *known])
                )
            config.values[spec.name] = value
            config.origins[spec.name] = where
            if not spec.sensitive:
                setup.published.append((f"driver.parameter.{key}", value))

    if conf is not None and section is not None and not seen_driver:
        raise DriverError(f"{conf_path}:{section.lineno}: UPS [{upsname}] has no 'driver' setting")
    if cli_interval is not None:
        config.pollinterval = _interval(cli_interval, "-i")
    if not config.port:
        raise DriverError(
            f"{conf_path}: UPS [{upsname}]: no port given (set 'port' in ups.conf or -x port=...)"
        )
    if cli_user:
        setup.user = cli_user
    return setup


def format_interval(value: float) -> str:
    """``2`` for whole seconds, as NUT prints it; ``0.5`` otherwise."""
    return str(int(value)) if value == int(value) else repr(value)
