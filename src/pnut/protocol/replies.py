"""Replies: how the server writes them and how a client reads them back.

The server writes every reply and ERR line with the ``format_*`` functions
(values are escaped and quoted here and nowhere else); a client tokenizes a reply line
with the same tokenizer as requests and hands the words to
:func:`parse_reply`, which returns one small frozen dataclass per kind.

Names (UPS, variable, command) are echoed exactly as the client typed them,
as NUT does; only values are escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pnut.protocol.errors import NutError
from pnut.protocol.tokens import escape, quote

# -- server side -------------------------------------------------------------


def format_ok(text: str = "") -> str:
    return f"OK {text}\n" if text else "OK\n"


def format_err(err: NutError | str) -> str:
    """``ERR <NAME> [extra]`` for a refusal (or a bare error name)."""
    if isinstance(err, str):
        return f"ERR {err}\n"
    return err.wire() + "\n"


def format_text(text: str) -> str:
    """A bare line: VER, PROTVER, HELP, ``ON``/``OFF``, GET TRACKING answers."""
    return text + "\n"


def format_var(ups: str, var: str, value: str, kind: str = "VAR") -> str:
    """``VAR ups var "value"`` (also ``RW``, ``ENUM`` lines)."""
    if '"' in value or "\\" in value or "#" in value:
        value = escape(value)
    return f'{kind} {ups} {var} "{value}"\n'


def format_type(ups: str, var: str, words: list[str]) -> str:
    return f"TYPE {ups} {var} {' '.join(words)}\n"


def format_desc(kind: str, ups: str, name: str, text: str) -> str:
    """``DESC``/``CMDDESC`` replies."""
    return f"{kind} {ups} {name} {quote(text)}\n"


def format_upsdesc(ups: str, text: str) -> str:
    return f"UPSDESC {ups} {quote(text)}\n"


def format_count(kind: str, ups: str, count: int) -> str:
    """``NUMLOGINS``/``NUMATTACH`` replies."""
    return f"{kind} {ups} {count}\n"


def format_range(ups: str, var: str, low: str, high: str) -> str:
    return f"RANGE {ups} {var} {quote(low)} {quote(high)}\n"


def format_ups(name: str, desc: str) -> str:
    """A ``LIST UPS`` line."""
    return f"UPS {name} {quote(desc)}\n"


def format_cmd(ups: str, cmd: str) -> str:
    """A ``LIST CMD`` line."""
    return f"CMD {ups} {cmd}\n"


def format_client(ups: str, address: str) -> str:
    """A ``LIST CLIENT`` line."""
    return f"CLIENT {ups} {address}\n"


def format_list(header: str, body: list[str]) -> str:
    """Frame list lines: ``BEGIN LIST <header>`` ... ``END LIST <header>``."""
    return f"BEGIN LIST {header}\n{''.join(body)}END LIST {header}\n"


#: Fixed replies, built once.
OK: Final = format_ok()
OK_GOODBYE: Final = format_ok("Goodbye")
OK_STARTTLS: Final = format_ok("STARTTLS")
OK_FSD_SET: Final = format_ok("FSD-SET")


# -- client side ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ok:
    text: str = ""


@dataclass(frozen=True, slots=True)
class ErrReply:
    name: str
    extra: str = ""

    def exception(self) -> NutError:
        return NutError(self.name, self.extra)


@dataclass(frozen=True, slots=True)
class VarReply:
    """``VAR``, ``RW`` and ``ENUM`` lines: kind, ups, name, value."""

    kind: str
    ups: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class TypeReply:
    ups: str
    name: str
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DescReply:
    """``DESC``, ``CMDDESC`` and ``UPSDESC`` (name empty) lines."""

    kind: str
    ups: str
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class CountReply:
    """``NUMLOGINS`` / ``NUMATTACH``."""

    kind: str
    ups: str
    count: int


@dataclass(frozen=True, slots=True)
class RangeReply:
    ups: str
    name: str
    low: str
    high: str


@dataclass(frozen=True, slots=True)
class UpsReply:
    """A ``LIST UPS`` line."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class CmdReply:
    ups: str
    cmd: str


@dataclass(frozen=True, slots=True)
class ClientReply:
    ups: str
    address: str


@dataclass(frozen=True, slots=True)
class BeginList:
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EndList:
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TextReply:
    """Any other line: VER, PROTVER, HELP, GET TRACKING answers."""

    text: str


Reply = (
    Ok | ErrReply | VarReply | TypeReply | DescReply | CountReply | RangeReply | UpsReply
    | CmdReply | ClientReply | BeginList | EndList | TextReply
)

_VALUE_KINDS: Final = frozenset({"VAR", "RW", "ENUM"})


def parse_reply(words: tuple[str, ...] | list[str], raw: str = "") -> Reply:
    """Classify one reply line from its words (``raw`` is the line as sent)."""
    w = tuple(words)
    n = len(w)
    head = w[0] if w else ""
    if head == "OK":
        return Ok(" ".join(w[1:]))
    if head == "ERR" and n >= 2:
        return ErrReply(w[1], " ".join(w[2:]))
    if head in _VALUE_KINDS and n == 4:
        return VarReply(head, w[1], w[2], w[3])
    if head == "TYPE" and n >= 3:
        return TypeReply(w[1], w[2], w[3:])
    if head in ("DESC", "CMDDESC") and n == 4:
        return DescReply(head, w[1], w[2], w[3])
    if head == "UPSDESC" and n == 3:
        return DescReply(head, w[1], "", w[2])
    if head in ("NUMLOGINS", "NUMATTACH") and n == 3 and w[2].isdigit():
        return CountReply(head, w[1], int(w[2]))
    if head == "RANGE" and n == 5:
        return RangeReply(w[1], w[2], w[3], w[4])
    if head == "UPS" and n == 3:
        return UpsReply(w[1], w[2])
    if head == "CMD" and n == 3:
        return CmdReply(w[1], w[2])
    if head == "CLIENT" and n == 3:
        return ClientReply(w[1], w[2])
    if head == "BEGIN" and n >= 2 and w[1] == "LIST":
        return BeginList(w[2:])
    if head == "END" and n >= 2 and w[1] == "LIST":
        return EndList(w[2:])
    return TextReply(raw.rstrip("\n") if raw else " ".join(w))
