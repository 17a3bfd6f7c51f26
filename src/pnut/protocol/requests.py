"""Requests: one frozen dataclass per command, parsed from and written to words.

How this works
--------------
``COMMANDS`` is the single table of command words: canonical name, legacy or
RFC alias, and whether USERNAME and PASSWORD must be given first.  NUT checks
that flag *before* it looks at the arguments, so the server asks
:func:`lookup` first, checks the session, then calls :func:`parse_request`.

Argument rules follow NUT 2.8.0's handlers exactly (server/net*.c): too few
words is ``INVALID-ARGUMENT``, surplus words are ignored, sub-command words
are case-insensitive.  Names keep the spelling the client typed, because
NUT echoes them back that way.

``to_words``/``to_line`` is the inverse, used by the clients; it quotes like
NUT's upsclient so that a round trip is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pnut.protocol.errors import ErrorName, NutError
from pnut.protocol.tokens import quote, quote_word


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command word of the protocol."""

    word: str
    needs_auth: bool
    #: The word this one is an alias of (``NETVER`` → ``PROTVER`` ...).
    alias_of: str | None = None


COMMANDS: Final[dict[str, CommandSpec]] = {
    spec.word: spec
    for spec in (
        CommandSpec("VER", False),
        CommandSpec("NETVER", False, "PROTVER"),
        CommandSpec("PROTVER", False),
        CommandSpec("HELP", False),
        CommandSpec("STARTTLS", False),
        CommandSpec("GET", False),
        CommandSpec("LIST", False),
        CommandSpec("USERNAME", False),
        CommandSpec("PASSWORD", False),
        CommandSpec("LOGIN", True),
        CommandSpec("ATTACH", True, "LOGIN"),
        CommandSpec("LOGOUT", False),
        CommandSpec("DETACH", False, "LOGOUT"),
        CommandSpec("PRIMARY", True),
        CommandSpec("MASTER", True, "PRIMARY"),
        CommandSpec("FSD", True),
        CommandSpec("SET", True),
        CommandSpec("INSTCMD", True),
    )
}


def lookup(word: str) -> CommandSpec | None:
    """The command a first word names (case-insensitive), or None."""
    return COMMANDS.get(word.upper())


# -- request types --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ver:
    pass


@dataclass(frozen=True, slots=True)
class ProtVer:
    word: str = "PROTVER"  # or NETVER


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class StartTLS:
    pass


@dataclass(frozen=True, slots=True)
class Username:
    name: str


@dataclass(frozen=True, slots=True)
class Password:
    password: str

    def __repr__(self) -> str:  # never show a secret in a log or traceback
        return "Password(password=<hidden>)"


@dataclass(frozen=True, slots=True)
class Login:
    ups: str
    word: str = "LOGIN"  # or ATTACH


@dataclass(frozen=True, slots=True)
class Logout:
    word: str = "LOGOUT"  # or DETACH


@dataclass(frozen=True, slots=True)
class Primary:
    ups: str
    word: str = "PRIMARY"  # or MASTER


@dataclass(frozen=True, slots=True)
class Fsd:
    ups: str


@dataclass(frozen=True, slots=True)
class GetVar:
    ups: str
    var: str


@dataclass(frozen=True, slots=True)
class GetType:
    ups: str
    var: str


@dataclass(frozen=True, slots=True)
class GetDesc:
    ups: str
    var: str


@dataclass(frozen=True, slots=True)
class GetCmdDesc:
    ups: str
    cmd: str


@dataclass(frozen=True, slots=True)
class GetUpsDesc:
    ups: str


@dataclass(frozen=True, slots=True)
class GetNumLogins:
    ups: str
    word: str = "NUMLOGINS"  # or NUMATTACH


@dataclass(frozen=True, slots=True)
class GetTracking:
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ListUps:
    pass


@dataclass(frozen=True, slots=True)
class ListVar:
    ups: str


@dataclass(frozen=True, slots=True)
class ListRw:
    ups: str


@dataclass(frozen=True, slots=True)
class ListCmd:
    ups: str


@dataclass(frozen=True, slots=True)
class ListClient:
    ups: str


@dataclass(frozen=True, slots=True)
class ListEnum:
    ups: str
    var: str


@dataclass(frozen=True, slots=True)
class ListRange:
    ups: str
    var: str


@dataclass(frozen=True, slots=True)
class SetVar:
    ups: str
    var: str
    value: str


@dataclass(frozen=True, slots=True)
class SetTracking:
    on: bool


@dataclass(frozen=True, slots=True)
class InstCmd:
    ups: str
    cmd: str
    param: str | None = None


Request = (
    Ver | ProtVer | Help | StartTLS | Username | Password | Login | Logout | Primary | Fsd
    | GetVar | GetType | GetDesc | GetCmdDesc | GetUpsDesc | GetNumLogins | GetTracking
    | ListUps | ListVar | ListRw | ListCmd | ListClient | ListEnum | ListRange
    | SetVar | SetTracking | InstCmd
)

_BAD = ErrorName.INVALID_ARGUMENT


def _no_args(args: list[str]) -> None:
    if args:
        raise NutError(_BAD)


def _one(args: list[str]) -> str:
    if len(args) != 1:
        raise NutError(_BAD)
    return args[0]


def _parse_get(args: list[str]) -> Request:
    if not args:
        raise NutError(_BAD)
    sub = args[0].upper()
    if sub == "TRACKING":
        return GetTracking(args[1] if len(args) > 1 else None)
    if len(args) < 2:
        raise NutError(_BAD)
    if sub in ("NUMLOGINS", "NUMATTACH"):
        return GetNumLogins(args[1], sub)
    if sub == "UPSDESC":
        return GetUpsDesc(args[1])
    if len(args) < 3:
        raise NutError(_BAD)
    three: dict[str, type[GetVar | GetType | GetDesc]] = {
        "VAR": GetVar, "TYPE": GetType, "DESC": GetDesc,
    }
    if sub in three:
        return three[sub](args[1], args[2])
    if sub == "CMDDESC":
        return GetCmdDesc(args[1], args[2])
    raise NutError(_BAD)


def _parse_list(args: list[str]) -> Request:
    if not args:
        raise NutError(_BAD)
    sub = args[0].upper()
    if sub == "UPS":
        return ListUps()
    if len(args) < 2:
        raise NutError(_BAD)
    two: dict[str, type[ListVar | ListRw | ListCmd | ListClient]] = {
        "VAR": ListVar, "RW": ListRw, "CMD": ListCmd, "CLIENT": ListClient,
    }
    if sub in two:
        return two[sub](args[1])
    if len(args) < 3:
        raise NutError(_BAD)
    if sub == "ENUM":
        return ListEnum(args[1], args[2])
    if sub == "RANGE":
        return ListRange(args[1], args[2])
    raise NutError(_BAD)


def _parse_set(args: list[str]) -> Request:
    if len(args) < 2:
        raise NutError(_BAD)
    sub = args[0].upper()
    if sub == "VAR":
        if len(args) < 4:
            raise NutError(_BAD)
        return SetVar(args[1], args[2], args[3])
    if sub == "TRACKING":
        flag = args[1].upper()
        if flag not in ("ON", "OFF"):
            raise NutError(_BAD)
        return SetTracking(flag == "ON")
    raise NutError(_BAD)


def _parse_instcmd(args: list[str]) -> Request:
    if len(args) < 2:
        raise NutError(_BAD)
    # NUT takes a parameter only when exactly three words follow INSTCMD.
    return InstCmd(args[0], args[1], args[2] if len(args) == 3 else None)


def parse_request(words: list[str] | tuple[str, ...]) -> Request:
    """Turn a tokenized line into a request, or raise :class:`NutError`."""
    if not words:
        raise NutError(ErrorName.UNKNOWN_COMMAND)
    spec = lookup(words[0])
    if spec is None:
        raise NutError(ErrorName.UNKNOWN_COMMAND)
    args = list(words[1:])
    word = spec.word
    if word == "VER":
        _no_args(args)
        return Ver()
    if word in ("PROTVER", "NETVER"):
        _no_args(args)
        return ProtVer(word)
    if word == "HELP":
        _no_args(args)
        return Help()
    if word == "STARTTLS":
        return StartTLS()  # NUT ignores any arguments here
    if word == "GET":
        return _parse_get(args)
    if word == "LIST":
        return _parse_list(args)
    if word == "USERNAME":
        return Username(_one(args))
    if word == "PASSWORD":
        return Password(_one(args))
    if word in ("LOGIN", "ATTACH"):
        return Login(_one(args), word)
    if word in ("LOGOUT", "DETACH"):
        _no_args(args)
        return Logout(word)
    if word in ("PRIMARY", "MASTER"):
        return Primary(_one(args), word)
    if word == "FSD":
        return Fsd(_one(args))
    if word == "SET":
        return _parse_set(args)
    return _parse_instcmd(args)


# -- serialization (client side) -------------------------------------------


def to_words(req: Request) -> list[str]:
    """The words of a request, unquoted (inverse of :func:`parse_request`)."""
    match req:
        case Ver():
            return ["VER"]
        case ProtVer(word):
            return [word]
        case Help():
            return ["HELP"]
        case StartTLS():
            return ["STARTTLS"]
        case Username(name):
            return ["USERNAME", name]
        case Password(password):
            return ["PASSWORD", password]
        case Login(ups, word):
            return [word, ups]
        case Logout(word):
            return [word]
        case Primary(ups, word):
            return [word, ups]
        case Fsd(ups):
            return ["FSD", ups]
        case GetVar(ups, var):
            return ["GET", "VAR", ups, var]
        case GetType(ups, var):
            return ["GET", "TYPE", ups, var]
        case GetDesc(ups, var):
            return ["GET", "DESC", ups, var]
        case GetCmdDesc(ups, cmd):
            return ["GET", "CMDDESC", ups, cmd]
        case GetUpsDesc(ups):
            return ["GET", "UPSDESC", ups]
        case GetNumLogins(ups, word):
            return ["GET", word, ups]
        case GetTracking(id_):
            return ["GET", "TRACKING"] if id_ is None else ["GET", "TRACKING", id_]
        case ListUps():
            return ["LIST", "UPS"]
        case ListVar(ups):
            return ["LIST", "VAR", ups]
        case ListRw(ups):
            return ["LIST", "RW", ups]
        case ListCmd(ups):
            return ["LIST", "CMD", ups]
        case ListClient(ups):
            return ["LIST", "CLIENT", ups]
        case ListEnum(ups, var):
            return ["LIST", "ENUM", ups, var]
        case ListRange(ups, var):
            return ["LIST", "RANGE", ups, var]
        case SetVar(ups, var, value):
            return ["SET", "VAR", ups, var, value]
        case SetTracking(on):
            return ["SET", "TRACKING", "ON" if on else "OFF"]
        case InstCmd(ups, cmd, param):
            return ["INSTCMD", ups, cmd] + ([] if param is None else [param])
    raise TypeError(f"not a request: {req!r}")


def to_line(req: Request) -> str:
    """The request as one wire line, newline included.

    SET VAR values are always quoted, as RFC 9271's grammar writes them;
    every other word is quoted only when it must be.
    """
    words = to_words(req)
    if isinstance(req, SetVar):
        return " ".join([*map(quote_word, words[:4]), quote(words[4])]) + "\n"
    return " ".join(map(quote_word, words)) + "\n"
