"""apcsmart's tables: variables, commands, and command sets of old firmware.

Transcribed from NUT 2.8.0's apcsmart_tabs.c (facts, not code): which
Smart-protocol character reads which NUT variable and how its value is
converted, which character runs which instant command, and — for firmware
that cannot list its commands (``a``) — the command characters known per
firmware answer to ``V``.  Rows whose NUT name repeats (``ups.firmware`` from
``b`` or ``V``; ``T`` as device.uptime or ambient.0.temperature) are MULTI:
the first one whose value matches its pattern wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pnut.protocol.cnum import atoi

# -- row flags (apcsmart_tabs.h) ---------------------------------------------
PRESENT = 0x1
NASTY = 0x2
REPEAT = 0x4
POLL = 0x100
RW = 0x200
ENUM = 0x400
STRING = 0x800
MULTI = 0x1000
PACK = 0x2000
PACK_MAX = 4


class Fmt:
    """How a reply is converted (APC_F_*)."""

    LEAVE = "leave"
    HOURS = "hours"
    MINUTES = "minutes"
    REASON = "reason"


@dataclass(slots=True)
class Var:
    name: str
    cmd: str
    flags: int = 0
    fmt: str = Fmt.LEAVE
    regex: str | None = None
    #: Sub-fields published last time (packed variables).
    cnt: int = 0

    def copy(self) -> Var:
        return Var(self.name, self.cmd, self.flags, self.fmt, self.regex)

    def matches(self, value: str | None) -> bool:
        if not self.regex:
            return True
        return re.search(self.regex, value or "") is not None


@dataclass(slots=True)
class Cmd:
    name: str
    ext: str | None
    cmd: str
    flags: int = 0

    def copy(self) -> Cmd:
        return Cmd(self.name, self.ext, self.cmd, self.flags)


_P, _L = POLL, Fmt.LEAVE
VARS: tuple[Var, ...] = (
    Var("ups.temperature", "C", _P),
    Var("ups.load", "P", _P),
    Var("ups.test.interval", "E", 0, Fmt.HOURS),
    Var("ups.test.result", "X", _P),
    Var("ups.delay.start", "r"),
    Var("ups.delay.shutdown", "p"),
    Var("ups.id", "c", STRING),
    Var("ups.contacts", "i", _P),
    Var("ups.display.language", "\x0c"),
    Var("input.voltage", "L", _P),
    Var("input.frequency", "F", _P),
    Var("input.sensitivity", "s"),
    Var("input.quality", "9", _P),
    Var("input.transfer.low", "l"),
    Var("input.transfer.high", "u"),
    Var("input.transfer.reason", "G", _P, Fmt.REASON),
    Var("input.voltage.maximum", "M", _P),
    Var("input.voltage.minimum", "N", _P),
    Var("output.current", "/", _P),
    Var("output.voltage", "O", _P),
    Var("output.voltage.nominal", "o"),
    Var("ambient.humidity", "h", _P),
    Var("ambient.0.humidity", "H", _P | PACK),
    Var("ambient.0.humidity.high", "{", _P | PACK),
    Var("ambient.0.humidity.low", "}", _P | PACK),
    Var("ambient.temperature", "t", _P),
    Var("ambient.0.temperature", "T", MULTI | _P | PACK, _L, r"^[0-9]{2}\.[0-9]{2}\Z"),
    Var("ambient.0.temperature.high", "[", _P | PACK),
    Var("ambient.0.temperature.low", "]", _P | PACK),
    Var("battery.date", "x", STRING),
    Var("battery.charge", "f", _P),
    Var("battery.charge.restart", "e"),
    Var("battery.voltage", "B", _P),
    Var("battery.voltage.nominal", "g"),
    Var("battery.runtime", "j", _P, Fmt.MINUTES),
    Var("battery.runtime.low", "q", 0, Fmt.MINUTES),
    Var("battery.packs", ">"),
    Var("battery.packs.bad", "<"),
    Var("battery.alarm.threshold", "k"),
    Var("device.uptime", "T", MULTI | _P, Fmt.HOURS, r"^[0-9]{3}\.[0-9]{1}\Z"),
    Var("ups.serial", "n"),
    Var("ups.mfr.date", "m"),
    Var("ups.model", "\x01"),
    Var("ups.firmware.aux", "v"),
    Var("ups.firmware", "b", MULTI, _L, r"^[A-Za-z0-9]+\.[A-Za-z0-9]+\.[A-Za-z0-9]+\Z"),
    Var("ups.firmware", "V", MULTI),
)

CMDS: tuple[Cmd, ...] = (
    Cmd("shutdown.return", r"^[Aa][Tt]:[0-9]{1,3}\Z", "@", NASTY),
    Cmd("shutdown.return", r"^([Cc][Ss]|)\Z", "S", NASTY),
    Cmd("shutdown.stayoff", None, "K", NASTY | REPEAT),
    Cmd("load.off", None, "Z", NASTY | REPEAT),
    Cmd("load.on", None, "\x0e", REPEAT),
    Cmd("calibrate.start", None, "D"),
    Cmd("calibrate.stop", None, "D"),
    Cmd("test.panel.start", None, "A"),
    Cmd("test.failure.start", None, "U"),
    Cmd("test.battery.start", None, "W"),
    Cmd("test.battery.stop", None, "W"),
    Cmd("bypass.start", None, "^"),
    Cmd("bypass.stop", None, "^"),
)

_MATRIX = "@789ABCDEFGKLMNOPQRSTUVWXYZcefgjklmnopqrsuwxz/<>\\^\x0c\x16"
_MATRIX_Z = "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz/<>"
_SU = "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz"
_SUI = "@79ABCEFGKLMNOPQRSUVWXYZcfg"
#: Firmware answer to ``V`` (or ``b``) -> the command characters that model knows.
COMPAT: dict[str, str] = {
    "0XI": _MATRIX, "0XM": _MATRIX,
    "0ZI": _MATRIX_Z, "5UI": _MATRIX_Z, "5ZM": _MATRIX_Z,
    "6QD": _SU, "6QI": _SU, "6TD": _SU, "6TI": _SU,
    "7QD": _SU, "7QI": _SU, "7TD": _SU, "7TI": _SU,
    "6JI": "@789ABCFGKLMNOPQSTUVWXYZfg",
    "7II": _SUI, "9II": _SUI, "9GI": _SUI, "8II": _SUI,
    "8GI": "@79ABCEFGKLMNOPQRSUVWXYZfg",
    "8QD": _SU, "8QI": _SU, "8TD": _SU, "8TI": _SU,
    "5.4.D": "@\x01ABPQRSUYbdfgjmnx9",
    "set\x01": "@789ABCFGKLMNOPQRSUVWXYZ",
}

#: Characters the driver never verifies (they change state or are unknown).
UNREAD = "\x1a\x7f~')-+8QRYayz"
#: ``a`` reply: protocol.alerts.commands[.more]
CMDSET_FMT = r"^[0-9]\.[^.]*\.[^.]+(\.[^.]+)?\Z"
REASONS = {
    "R": "unacceptable utility voltage rate of change",
    "H": "high utility voltage",
    "L": "low utility voltage",
    "T": "line voltage notch or spike",
    "O": "no transfers yet since turnon",
    "S": "simulated power failure or UPS test",
}


def convert(var: Var, raw: str) -> str:
    """NUT's convert_data: hours/minutes to seconds, transfer reasons spelled out."""
    if var.fmt == Fmt.HOURS:
        return str(3600 * atoi(raw))
    if var.fmt == Fmt.MINUTES:
        return str(60 * atoi(raw))
    if var.fmt == Fmt.REASON:
        return REASONS.get(raw[:1], raw)
    return raw
