"""upssched.conf: CMDSCRIPT, PIPEFN, LOCKFN and the AT rules.

NUT reads this file once per event and acts on each matching AT line as it
parses it, so a broken line late in the file may be noticed only after
earlier rules already fired.  pnut parses and checks the whole file first
and refuses it with ``file:line: problem`` before doing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pnut.config.notify import LATER_EVENTS, NotifyType
from pnut.config.parser import (
    ConfLine,
    confpath,
    did_you_mean,
    parse_int,
    read_conf,
    warnings_of,
)

FILENAME = "upssched.conf"

#: AT command -> allowed numbers of arguments after it.
AT_COMMANDS: dict[str, tuple[int, ...]] = {
    "START-TIMER": (2,),
    "CANCEL-TIMER": (1, 2),
    "EXECUTE": (1,),
}
_LATER_COMMANDS = frozenset({"START-TIMER-SHARED", "CANCEL-TIMER-MATCHED"})
_DIRECTIVES = ("CMDSCRIPT", "PIPEFN", "LOCKFN")
_EVENTS = frozenset(t.value for t in NotifyType) | LATER_EVENTS


@dataclass(frozen=True, slots=True)
class AtRule:
    """``AT <notifytype> <ups|*> <command> <args...>``."""

    notifytype: str  # upper-case
    ups: str
    command: str
    args: tuple[str, ...]
    lineno: int

    def matches(self, notifytype: str, ups: str) -> bool:
        return self.notifytype == notifytype.upper() and self.ups in ("*", ups)


@dataclass
class UpsschedConf:
    path: str = FILENAME
    cmdscript: str | None = None
    pipefn: str | None = None
    lockfn: str | None = None
    debug_min: int | None = None
    rules: list[AtRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def matching(self, notifytype: str, ups: str) -> list[AtRule]:
        """Every rule for this event, in file order (each one fires)."""
        return [r for r in self.rules if r.matches(notifytype, ups)]


def _at(conf: UpsschedConf, line: ConfLine) -> AtRule:
    for key in ("cmdscript", "pipefn", "lockfn"):
        if getattr(conf, key) is None:
            raise line.error(f"{key.upper()} must be set before any AT line")
    if len(line.words) < 5:
        raise line.error("AT needs: AT <notifytype> <upsname|*> <command> <argument...>")
    _, event, ups, command, *args = line.words
    if event.upper() not in _EVENTS:
        raise line.error(f"unknown notify type {event!r}" + did_you_mean(event, _EVENTS))
    if command in _LATER_COMMANDS:
        raise line.error(f"{command} is from NUT 2.8.5 and not supported")
    counts = AT_COMMANDS.get(command)
    if counts is None:
        raise line.error(f"unknown AT command {command!r}"
                         + (did_you_mean(command, AT_COMMANDS)
                            or " (START-TIMER, CANCEL-TIMER or EXECUTE)"))
    if len(args) not in counts:
        want = " or ".join(map(str, counts))
        raise line.error(f"{command} takes {want} argument(s), got {len(args)}")
    if command == "START-TIMER":
        parse_int(line, args[1], minimum=0)
    if command == "EXECUTE" and not args[0]:
        raise line.error("EXECUTE needs a non-empty argument")
    return AtRule(event.upper(), ups, command, tuple(args), line.lineno)


def parse_lines(lines: list[ConfLine], path: str) -> UpsschedConf:
    conf = UpsschedConf(path=path, warnings=warnings_of(lines))
    for line in lines:
        key, args = line.words[0], line.words[1:]
        if key == "AT":
            conf.rules.append(_at(conf, line))
            continue
        if key.upper() == "DEBUG_MIN" and len(args) == 1:
            conf.debug_min = parse_int(line, args[0], minimum=0)
            continue
        if key not in _DIRECTIVES:  # NUT: "Unrecognized directive", and carries on
            conf.warnings.append(f"{path}:{line.lineno}: unknown directive {key!r} is ignored"
                                 + did_you_mean(key, (*_DIRECTIVES, "AT", "DEBUG_MIN"),
                                                upper=True))
            continue
        if len(args) != 1 or not args[0]:
            raise line.error(f"{key} takes one non-empty argument")
        setattr(conf, key.lower(), args[0])
    return conf


def load_upssched_conf(path: str | Path | None = None, *,
                       confdir: str | None = None) -> UpsschedConf:
    file = Path(path) if path else confpath(confdir) / FILENAME
    return parse_lines(read_conf(file), str(file))
