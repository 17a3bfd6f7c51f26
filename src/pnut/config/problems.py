"""The problems of upsd.conf and upsd.users that upsd logs at start and
``pnut check-config`` reports, and the :class:`Problem` row both print.

It sits below :mod:`pnut.server` (upsd logs these when it loads its files)
and below :mod:`pnut.checks`, which adds what needs the drivers or other
files; so upsd loads only these, never the checks of the whole directory.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from pnut.config.parser import ConfigError, did_you_mean
from pnut.config.upsd_conf import UpsdConf
from pnut.config.users import Users

_WHERE = re.compile(r"^(.*?):(\d+): (.*)$", re.S)


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: where (``file`` or ``file:line``), how bad, and what."""

    where: str
    message: str
    severity: str = "warning"  # or "error"

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"

    @classmethod
    def at(cls, path: str, lineno: int | None, message: str,
           severity: str = "warning") -> Problem:
        return cls(f"{path}:{lineno}" if lineno else path, message, severity)

    @classmethod
    def from_warning(cls, text: str) -> Problem:
        """A loader's ``file:line: text`` warning as a Problem."""
        m = _WHERE.match(text)
        if m is not None:
            return cls(f"{m[1]}:{m[2]}", m[3])
        path, _, rest = text.partition(": ")
        return cls(path, rest) if rest else cls("", text)

    @classmethod
    def from_error(cls, exc: ConfigError) -> Problem:
        return cls.at(exc.path, exc.lineno, exc.problem, "error")


def warning_problems(texts: Iterable[str]) -> list[Problem]:
    """A loader's warnings as Problems."""
    return [Problem.from_warning(t) for t in texts]


def upsd_conf_problems(conf: UpsdConf) -> list[Problem]:
    out = warning_problems(conf.warnings)
    remote = conf.remote_listen()
    if remote is not None and conf.require_tls is None:  # 'REQUIRE_TLS no' means: I know
        out.append(Problem.at(conf.path, remote.lineno,
                              f"LISTEN {remote.host}: clients on other hosts that do not use "
                              "STARTTLS send their passwords in clear text"
                              + ("" if conf.certfile else "; pnut offers STARTTLS with its own "
                                 "certificate") + " - add 'REQUIRE_TLS yes' to refuse clear "
                              "text, or 'REQUIRE_TLS no' to accept it knowingly "
                              "(docs/security.md)"))
    return out


def _others_can_read(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False


def users_problems(users: Users) -> list[Problem]:
    from pnut.config.cmdvartab import Descriptions

    out = warning_problems(users.warnings)
    if _others_can_read(users.path):  # NUT's check_perms
        out.append(Problem(users.path, "is readable by every user of this machine and holds "
                           "passwords: chmod 0640 (group nut)"))
    table = Descriptions.load(None)
    for user in users.users.values():
        for cmd in sorted(user.instcmds - {"all"}):
            if table.source and table.cmd(cmd) is None:
                out.append(Problem.at(users.path, user.lineno,
                                      f"user [{user.name}]: instcmds: {cmd!r} is not an instant "
                                      f"command NUT knows ({table.source})"
                                      + did_you_mean(cmd, table.commands())))
    return out
