"""ups.conf: the UPS sections that drivers, upsdrvctl and upsd share.

NUT's parser takes ``key = value`` (three words or more: the rest is
ignored) and bare flags (one word); anything else it skips silently.  pnut
reads the same lines the same way and names each one it skips or cuts
short with a ``file:line:`` warning, because a typo in ups.conf should not
leave a UPS unmonitored without a word, nor stop upsd for every other UPS.
A section whose lines cannot be used (a broken ``[header]``, a name with a
space or ``/``) is ignored with a warning; a section repeated under the same
name adds to the first, as in NUT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.parser import (
    DEFAULT_STATEPATH,
    ConfigError,
    ConfLine,
    LineIgnored,
    read_conf,
    section_name,
    sections,
    warnings_of,
)


@dataclass
class UpsSection:
    """One ``[name]`` section: driver, port, desc and everything else."""

    name: str
    lineno: int
    path: str = "ups.conf"
    settings: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    #: Line of each setting and flag, for ``file:line`` errors.
    linenos: dict[str, int] = field(default_factory=dict)

    @property
    def driver(self) -> str | None:
        return self.settings.get("driver")

    @property
    def port(self) -> str | None:
        return self.settings.get("port")

    @property
    def desc(self) -> str | None:
        return self.settings.get("desc")

    def get_int(self, key: str, default: int) -> int:
        raw = self.settings.get(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            problem = f"[{self.name}] {key}: not a number: {raw!r}"
            raise ConfigError(self.path, self.lineno, problem) from None


@dataclass
class UpsConf:
    path: str
    globals: dict[str, str] = field(default_factory=dict)
    global_flags: set[str] = field(default_factory=set)
    upses: list[UpsSection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str) -> UpsSection | None:
        """Look a UPS up case-insensitively, as upsd does."""
        low = name.lower()
        return next((u for u in self.upses if u.name.lower() == low), None)

    def statepath(self, explicit: str | os.PathLike[str] | None = None) -> Path:
        """Where driver sockets live: flag, NUT_STATEPATH, ups.conf, default."""
        if explicit:
            return Path(explicit)
        env = os.environ.get("NUT_STATEPATH")
        if env:
            return Path(env)
        for key, value in self.globals.items():
            if key.lower() == "statepath":
                return Path(value)
        return Path(DEFAULT_STATEPATH)


def _kv(line: ConfLine, warnings: list[str]) -> tuple[str, str] | None:
    """(key, value), or None for a flag; :class:`LineIgnored` for what NUT skips."""
    words = line.words
    if len(words) == 1:
        return None
    if len(words) >= 3 and words[1] == "=":
        if len(words) > 3:  # NUT reads the first word after '=' only
            warnings.append(f"{line.path}:{line.lineno}: {words[0]} = {words[2]}: the words "
                            "after the value are ignored, as NUT ignores them (quote a value "
                            "with spaces)")
        return words[0], words[2]
    raise line.ignored(f"expected 'key = value' or a single flag word, got "
                       f"{' '.join(words)!r} (NUT skips it silently)")


def parse_ups_conf(lines: list[ConfLine], path: str = "ups.conf") -> UpsConf:
    conf = UpsConf(path, warnings=warnings_of(lines))
    head, body = sections(lines, conf.warnings)
    for line in head:
        try:
            kv = _kv(line, conf.warnings)
        except LineIgnored as exc:
            conf.warnings.append(str(exc))
            continue
        if kv is None:
            conf.global_flags.add(line.words[0])
        else:
            conf.globals[kv[0]] = kv[1]
    named: dict[str, UpsSection] = {}
    for header, items in body:
        name = section_name(header)
        where = f"{path}:{header.lineno}"
        if any(c.isspace() or c == "/" for c in name):
            conf.warnings.append(f"{where}: UPS name {name!r} has a space or '/', which no "
                                 "driver socket can carry: this section is ignored")
            continue
        if name.lower() == "default":
            conf.warnings.append(f"{where}: NUT's documentation reserves the UPS name "
                                 "'default' (NUT 2.8.0 takes it, and so does pnut): rename it")
        sec = named.get(name.lower())
        if sec is not None and sec.name != name:  # NUT's upsd: "already in use"
            conf.warnings.append(f"{where}: UPS [{name}] differs from [{sec.name}] only in "
                                 "case: this section is ignored, as NUT's upsd ignores it")
            continue
        if sec is not None:  # NUT adds the settings to the first section
            conf.warnings.append(f"{where}: UPS [{name}] is defined twice: its settings are "
                                 "added to the first one, as NUT does")
        else:
            sec = named[name.lower()] = UpsSection(name, header.lineno, path)
            conf.upses.append(sec)
        for line in items:
            try:
                kv = _kv(line, conf.warnings)
            except LineIgnored as exc:
                conf.warnings.append(str(exc))
                continue
            if kv is None:
                sec.flags.add(line.words[0])
                sec.linenos[line.words[0]] = line.lineno
            else:
                sec.settings[kv[0]] = kv[1]
                sec.linenos[kv[0]] = line.lineno
    return conf


def load_ups_conf(confdir: str | os.PathLike[str]) -> UpsConf:
    path = Path(confdir) / "ups.conf"
    return parse_ups_conf(read_conf(path), str(path))
