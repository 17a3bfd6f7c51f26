"""Requests: one frozen dataclass per command, written to words and lines.

The command table (:mod:`pnut.protocol.commands`) parses a line into one
of these; ``to_words``/``to_line`` is the inverse, used by the clients; it
quotes like NUT's upsclient so that a round trip is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from pnut.protocol.tokens import quote, quote_word

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
