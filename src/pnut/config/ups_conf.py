"""ups.conf: the UPS sections that drivers, upsdrvctl and upsd share.

NUT's parser takes ``key = value`` (three words) and bare flags (one word);
anything else it skips silently.  pnut reports such a line as an error with
file and line, because a typo in ups.conf should not leave a UPS
unmonitored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.parser import (
    DEFAULT_STATEPATH,
    ConfigError,
    ConfLine,
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


def _kv(line: ConfLine) -> tuple[str, str] | None:
    words = line.words
    if len(words) == 1:
        return None
    if len(words) == 3 and words[1] == "=":
        return words[0], words[2]
    raise line.error(f"expected 'key = value' or a single flag word, got {' '.join(words)!r}")


def parse_ups_conf(lines: list[ConfLine], path: str = "ups.conf") -> UpsConf:
    head, body = sections(lines)
    conf = UpsConf(path, warnings=warnings_of(lines))
    for line in head:
        kv = _kv(line)
        if kv is None:
            conf.global_flags.add(line.words[0])
        else:
            conf.globals[kv[0]] = kv[1]
    seen: set[str] = set()
    for header, items in body:
        name = section_name(header)
        if name.lower() == "default":
            raise header.error("the UPS name 'default' is reserved")
        if any(c.isspace() or c == "/" for c in name):
            raise header.error(f"UPS name {name!r} must not contain spaces or '/'")
        if name.lower() in seen:
            raise header.error(f"UPS [{name}] is defined twice")
        seen.add(name.lower())
        sec = UpsSection(name, header.lineno, path)
        for line in items:
            kv = _kv(line)
            if kv is None:
                sec.flags.add(line.words[0])
                sec.linenos[line.words[0]] = line.lineno
            else:
                sec.settings[kv[0]] = kv[1]
                sec.linenos[kv[0]] = line.lineno
        conf.upses.append(sec)
    return conf


def load_ups_conf(confdir: str | os.PathLike[str]) -> UpsConf:
    path = Path(confdir) / "ups.conf"
    return parse_ups_conf(read_conf(path), str(path))
