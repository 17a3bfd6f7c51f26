"""upssched.conf: CMDSCRIPT, PIPEFN, LOCKFN and the AT rules.

NUT reads this file once per event and acts on each matching AT line as it
parses it, so a broken line late in the file may be noticed only after
earlier rules already fired.  pnut parses and checks the whole file first;
each rule keeps the CMDSCRIPT, PIPEFN and LOCKFN set above it, as NUT uses
the values read so far.
What NUT's upssched reads past (an unknown event or command, a line short of
arguments, words after the last one it reads, a timer given as ``5m`` or
``soon``, read with strtol as 5 and 0 seconds) pnut reads the same way with
a ``file:line:`` warning; only an AT line before CMDSCRIPT, PIPEFN and
LOCKFN are all set stops it, as it stops NUT.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pnut.config.notify import LATER_EVENTS, NotifyType
from pnut.config.parser import (
    ConfLine,
    LineIgnored,
    confpath,
    did_you_mean,
    parse_int,
    read_conf,
    warnings_of,
)
from pnut.protocol.cnum import strtol

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
    """``AT <notifytype> <ups|*> <command> <args...>``.

    It keeps the CMDSCRIPT, PIPEFN and LOCKFN set above it: NUT acts on each AT
    line as it reads the file, with the values read so far, so a file that sets
    CMDSCRIPT again between AT lines runs each line with its own.
    """

    notifytype: str  # upper-case
    ups: str
    command: str
    args: tuple[str, ...]
    lineno: int
    cmdscript: str = ""
    pipefn: str = ""
    lockfn: str = ""

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

    def for_rule(self, rule: AtRule) -> UpsschedConf:
        """This config with the CMDSCRIPT, PIPEFN and LOCKFN in force at ``rule``."""
        return replace(self, cmdscript=rule.cmdscript, pipefn=rule.pipefn, lockfn=rule.lockfn)


def _at(conf: UpsschedConf, line: ConfLine) -> AtRule:
    if len(line.words) < 5:  # NUT: "invalid directive"
        raise line.ignored("AT needs: AT <notifytype> <upsname|*> <command> <argument...>")
    for key in ("cmdscript", "pipefn", "lockfn"):
        if getattr(conf, key) is None:  # fatal in NUT too
            raise line.error(f"{key.upper()} must be set before any AT line")
    _, event, ups, command, *args = line.words
    where = f"{line.path}:{line.lineno}: AT {event} {ups} {command}"
    if event.upper() not in _EVENTS:  # NUT: never matches, silently
        raise line.ignored(f"unknown notify type {event!r}" + did_you_mean(event, _EVENTS))
    if command in _LATER_COMMANDS:
        raise line.ignored(f"{command} is from NUT 2.8.5 and not supported")
    counts = AT_COMMANDS.get(command)
    if counts is None:  # NUT: "Invalid command", when the event comes
        raise line.ignored(f"unknown AT command {command!r}"
                           + (did_you_mean(command, AT_COMMANDS)
                              or " (START-TIMER, CANCEL-TIMER or EXECUTE)"))
    if len(args) < counts[0]:  # NUT's upssched daemon drops a START without a time
        raise line.ignored(f"{command} takes {' or '.join(map(str, counts))} argument(s), "
                           f"got {len(args)}")
    if len(args) > counts[-1]:
        conf.warnings.append(f"{where}: takes {' or '.join(map(str, counts))} argument(s): the "
                             "words after them are ignored, as NUT ignores them")
        args = args[:counts[-1]]
    if command == "START-TIMER":
        seconds, used = strtol(args[1])
        if seconds < 0:  # NUT: "bogus offset for timer, ignoring"
            raise line.ignored(f"START-TIMER {args[0]}: negative time {args[1]!r}")
        if used != len(args[1]) or not args[1][:1].isdigit():
            conf.warnings.append(f"{where}: time {args[1]!r} is read as {seconds} seconds, as "
                                 "NUT reads it")
        args[1] = str(seconds)
    if command == "EXECUTE" and not args[0]:  # NUT: "Empty EXECUTE command argument"
        raise line.ignored("EXECUTE needs a non-empty argument")
    assert conf.cmdscript is not None and conf.pipefn is not None and conf.lockfn is not None
    return AtRule(event.upper(), ups, command, tuple(args), line.lineno,
                  conf.cmdscript, conf.pipefn, conf.lockfn)


def parse_lines(lines: list[ConfLine], path: str) -> UpsschedConf:
    conf = UpsschedConf(path=path, warnings=warnings_of(lines))
    for line in lines:
        try:
            _directive(conf, line)
        except LineIgnored as exc:
            conf.warnings.append(str(exc))
    return conf


def _directive(conf: UpsschedConf, line: ConfLine) -> None:
    key, args = line.words[0], line.words[1:]
    if key == "AT":
        conf.rules.append(_at(conf, line))
        return
    if key.upper() == "DEBUG_MIN" and len(args) == 1:
        conf.debug_min = parse_int(line, args[0], minimum=0)
        return
    where = f"{line.path}:{line.lineno}"
    if key not in _DIRECTIVES:  # NUT: "Unrecognized directive", and carries on
        conf.warnings.append(f"{where}: unknown directive {key!r} is ignored"
                             + did_you_mean(key, (*_DIRECTIVES, "AT", "DEBUG_MIN"), upper=True))
        return
    if not args:  # NUT: "invalid directive"
        raise line.ignored(f"{key} needs one argument")
    if len(args) > 1:
        conf.warnings.append(f"{where}: {key} takes one argument: the words after it are "
                             "ignored, as NUT ignores them")
    if not args[0]:
        conf.warnings.append(f"{where}: {key} is empty (NUT takes it, and fails when it "
                             "uses it)")
    setattr(conf, key.lower(), args[0])


def load_upssched_conf(path: str | Path | None = None, *,
                       confdir: str | None = None) -> UpsschedConf:
    file = Path(path) if path else confpath(confdir) / FILENAME
    return parse_lines(read_conf(file), str(file))
