"""upsd.users: who may change what, checked on every privileged command.

Each ``[name]`` section is one user (name case-sensitive) with a plain-text
password, a set of actions (``SET``, ``FSD``; ``upsmon primary`` adds
``login``, ``master`` and ``fsd``; ``upsmon secondary`` adds ``login``) and
the instant commands it may run (``ALL`` for every one).  Values may be
given as ``key = a b c`` (several per line), repeated lines, the compressed
``key=value`` form, and ``upsmon primary`` without ``=``, as NUT accepts.

A password is NUT's plain text or an argon2id hash from ``pnut passwd``
(see :mod:`pnut.config.passwords`).  Nothing here stops upsd: what NUT
reads past (an unknown setting or role, a second password, a line of
another shape, a broken ``[header]``) is a ``file:line:`` warning.

NUT has no separate "logged-in" state: every privileged command checks the
name and password the connection sent against this table, so a reload
takes effect on the next command.  A user without a password can do
nothing, and a wrong password fails even when the name is right.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.parser import (
    ConfLine,
    did_you_mean,
    read_conf,
    section_name,
    sections,
    warnings_of,
)
from pnut.config.passwords import check_hash_syntax, verify

#: upsmon roles and the actions they grant.
UPSMON_ROLES: dict[str, frozenset[str]] = {
    "primary": frozenset({"login", "master", "fsd"}),
    "master": frozenset({"login", "master", "fsd"}),
    "secondary": frozenset({"login"}),
    "slave": frozenset({"login"}),
}


#: What ``actions =`` may grant.
ACTIONS = ("SET", "FSD")
#: The settings of a user section, for "did you mean".
SETTINGS = ("password", "actions", "instcmds", "upsmon", "allowfrom")


@dataclass
class User:
    name: str
    password: str | None = None
    #: Line of the ``[name]`` header, for check-config.
    lineno: int = 0
    #: Lower-cased action names.
    actions: set[str] = field(default_factory=set)
    #: Lower-cased instant command names; ``all`` grants every one.
    instcmds: set[str] = field(default_factory=set)

    def __repr__(self) -> str:  # never show the password in a log
        return (f"User({self.name!r}, actions={sorted(self.actions)}, "
                f"instcmds={sorted(self.instcmds)})")

    def may(self, action: str) -> bool:
        return action.lower() in self.actions

    def may_instcmd(self, cmd: str) -> bool:
        return "all" in self.instcmds or cmd.lower() in self.instcmds


@dataclass
class Users:
    path: str = "upsd.users"
    users: dict[str, User] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def authenticate(self, name: str | None, password: str | None) -> User | None:
        """The user if ``name`` exists and ``password`` is its password, else None."""
        if name is None or password is None:
            return None
        user = self.users.get(name)
        if user is None or user.password is None:
            return None
        if not verify(user.password, password):
            return None
        return user

    def check_action(self, name: str | None, password: str | None, action: str) -> bool:
        """True when ``name``/``password`` match and the user has ``action``."""
        user = self.authenticate(name, password)
        return user is not None and user.may(action)

    def check_instcmd(self, name: str | None, password: str | None, cmd: str) -> bool:
        user = self.authenticate(name, password)
        return user is not None and user.may_instcmd(cmd)


def _split(line: ConfLine) -> tuple[str, list[str]] | None:
    """The key and values of a user line, in every form NUT accepts."""
    words = list(line.words)
    if len(words) >= 3 and words[1] == "=":
        return words[0], words[2:]
    if len(words) == 2 and words[0].lower() == "upsmon":
        return "upsmon", words[1:]
    return None


def _apply(user: User, line: ConfLine, key: str, values: list[str], warnings: list[str]) -> None:
    where = f"{line.path}:{line.lineno}"
    low = key.lower()
    if low == "password":
        if len(values) > 1:  # NUT takes each as a password: the later ones are duplicates
            warnings.append(f"{where}: user [{user.name}]: password has {len(values)} words: "
                            f"the first one is the password, as in NUT (quote a password with "
                            "spaces)")
        if user.password is not None:  # NUT: "Ignoring duplicate password"
            warnings.append(f"{where}: user [{user.name}] has a second password, ignored "
                            "(the first one counts, as in NUT)")
            return
        problem = check_hash_syntax(values[0])
        if problem is not None:  # NUT would compare it as plain text
            warnings.append(f"{where}: user [{user.name}]: {problem}: this user cannot log "
                            "in (NUT would take it as a plain-text password)")
        user.password = values[0]
    elif low == "actions":
        user.actions.update(v.lower() for v in values)
        for value in values:  # NUT stores any word; only SET and FSD ever match
            if value.upper() not in ACTIONS:
                warnings.append(f"{where}: user [{user.name}]: unknown action {value!r} "
                                "grants nothing" + (did_you_mean(value, ACTIONS)
                                                    or " (actions are SET and FSD)"))
    elif low == "instcmds":
        user.instcmds.update(v.lower() for v in values)
    elif low == "upsmon":
        for value in values:
            role = UPSMON_ROLES.get(value.lower())
            if role is None:  # NUT: "Unknown upsmon type", and carries on
                warnings.append(f"{where}: user [{user.name}]: unknown upsmon role {value!r} "
                                "grants nothing"
                                + (did_you_mean(value, ("primary", "secondary"))
                                   or " (primary or secondary)"))
                continue
            user.actions.update(role)
    elif low == "allowfrom":
        warnings.append(f"{where}: allowfrom is no longer used and is ignored")
    else:  # NUT: "Unrecognized user setting", and carries on
        warnings.append(f"{where}: unknown user setting {key!r} is ignored"
                        + did_you_mean(key, SETTINGS))


def parse_users(lines: list[ConfLine], path: str = "upsd.users") -> Users:
    out = Users(path, warnings=warnings_of(lines))
    head, body = sections(lines, out.warnings)
    for line in head:
        if line.words[0].lower() == "user":  # NUT's ancient format: ignored
            continue
        out.warnings.append(f"{path}:{line.lineno}: setting outside a [user] section, "
                            "ignored (as NUT does)")
    for header, items in body:
        name = section_name(header)
        if name in out.users:
            # NUT ignores the header and (a bug) gives the section's settings to the
            # previous user; pnut ignores the whole section.
            out.warnings.append(f"{path}:{header.lineno}: user [{name}] is defined twice: "
                                "this section is ignored")
            continue
        user = User(name, lineno=header.lineno)
        for line in items:
            split = _split(line)
            if split is None:
                got = " ".join(line.words)
                out.warnings.append(f"{line.path}:{line.lineno}: expected 'key = value' or "
                                    f"'upsmon <role>', got {got!r}: line ignored (as NUT does)")
                continue
            _apply(user, line, split[0], split[1], out.warnings)
        if user.password is None:
            out.warnings.append(
                f"{path}:{header.lineno}: user [{name}] has no password and can do nothing")
        out.users[name] = user
    return out


def load_users(confdir: str | os.PathLike[str]) -> Users:
    path = Path(confdir) / "upsd.users"
    return parse_users(read_conf(path), str(path))
