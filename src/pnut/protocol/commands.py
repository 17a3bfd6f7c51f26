"""The command table: one row per command drives parsing, dispatch and the TLS gate.

How this works
--------------
:data:`TABLE` has one :class:`Command` per request of RFC 9271 / NUT
2.8.0: its words, the spellings it also answers to, its argument count,
the function that builds the :mod:`~pnut.protocol.requests` dataclass, and
the facts the server acts on: whether USERNAME and PASSWORD must come
first, whether it is allowed before STARTTLS under REQUIRE_TLS, whether it
is *public* (carries no secret, needs no login: still answered in clear text
when REQUIRE_TLS is on but upsd has no certificate to offer STARTTLS with),
and the name of the session method that answers it.  Nothing else in pnut keeps a
list of commands: :func:`lookup`, :func:`parse_request`, the session's
dispatch table and the TLS gate are all derived from these rows, and the
tests enumerate them.

The order of checks is NUT's (server/upsd.c, net*.c), because clients see
it: an unknown first word is ``UNKNOWN-COMMAND``; the login requirement is
checked on the first word, *before* the arguments are looked at; then a
missing or unknown sub-command, too few words, or (where NUT insists on an
exact count) too many are ``INVALID-ARGUMENT``; otherwise surplus words are
ignored.  Words are matched case-insensitively; names keep the spelling
the client typed, because NUT echoes them back that way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from pnut.protocol import requests as rq
from pnut.protocol.errors import ErrorName, NutError

Args = Sequence[str]
#: Builds the request from the spelling used (upper case) and the arguments.
Parser = Callable[[str, Args], rq.Request]


@dataclass(frozen=True, slots=True)
class Command:
    """One row of the table."""

    #: Canonical words: ``"VER"``, ``"GET VAR"`` ...
    name: str
    #: Other spellings of the last word (``ATTACH`` for LOGIN ...).
    aliases: tuple[str, ...]
    #: Least and most argument words after the command words (None: surplus ignored).
    arity: tuple[int, int | None]
    parse: Parser
    #: USERNAME and PASSWORD must have been given (checked before the arguments).
    needs_login: bool
    #: Answered before STARTTLS when REQUIRE_TLS is set.
    before_tls: bool
    #: Name of the server session method that answers it.
    handler: str
    #: The reply depends only on this line and the UPS it names (reply cache).
    cacheable: bool = False
    #: Carries no secret, needs no login, changes nothing upsd keeps: answered
    #: in clear text when REQUIRE_TLS is on but STARTTLS cannot be offered (no
    #: certificate).  Everything else is refused then, so a new row is refused
    #: unless it says otherwise.
    public: bool = False

    @property
    def verb(self) -> str:
        return self.name.split(" ", 1)[0]


def _bad() -> NutError:
    return NutError(ErrorName.INVALID_ARGUMENT)


def _set_tracking(word: str, a: Args) -> rq.Request:
    flag = a[0].upper()
    if flag not in ("ON", "OFF"):
        raise _bad()
    return rq.SetTracking(flag == "ON")


TABLE: Final[tuple[Command, ...]] = (
    Command("VER", (), (0, 0), lambda w, a: rq.Ver(), False, True, "ver", public=True),
    Command("PROTVER", ("NETVER",), (0, 0), lambda w, a: rq.ProtVer(w), False, True, "protver",
            public=True),
    Command("HELP", (), (0, 0), lambda w, a: rq.Help(), False, True, "help", public=True),
    # NUT ignores any words after STARTTLS.
    Command("STARTTLS", (), (0, None), lambda w, a: rq.StartTLS(), False, True, "starttls",
            public=True),
    Command("USERNAME", (), (1, 1), lambda w, a: rq.Username(a[0]), False, False, "username"),
    Command("PASSWORD", (), (1, 1), lambda w, a: rq.Password(a[0]), False, False, "password"),
    Command("LOGIN", ("ATTACH",), (1, 1), lambda w, a: rq.Login(a[0], w), True, False, "login"),
    Command("LOGOUT", ("DETACH",), (0, 0), lambda w, a: rq.Logout(w), False, False, "logout",
            public=True),
    Command("PRIMARY", ("MASTER",), (1, 1), lambda w, a: rq.Primary(a[0], w), True, False,
            "primary"),
    Command("FSD", (), (1, 1), lambda w, a: rq.Fsd(a[0]), True, False, "fsd"),
    Command("GET VAR", (), (2, None), lambda w, a: rq.GetVar(a[0], a[1]), False, False,
            "get_var", cacheable=True, public=True),
    Command("GET TYPE", (), (2, None), lambda w, a: rq.GetType(a[0], a[1]), False, False,
            "get_type", public=True),
    Command("GET DESC", (), (2, None), lambda w, a: rq.GetDesc(a[0], a[1]), False, False,
            "get_desc", public=True),
    Command("GET CMDDESC", (), (2, None), lambda w, a: rq.GetCmdDesc(a[0], a[1]), False, False,
            "get_cmddesc", public=True),
    Command("GET UPSDESC", (), (1, None), lambda w, a: rq.GetUpsDesc(a[0]), False, False,
            "get_upsdesc", public=True),
    Command("GET NUMLOGINS", ("NUMATTACH",), (1, None), lambda w, a: rq.GetNumLogins(a[0], w),
            False, False, "get_numlogins", public=True),
    Command("GET TRACKING", (), (0, None), lambda w, a: rq.GetTracking(a[0] if a else None),
            False, False, "get_tracking", public=True),
    Command("LIST UPS", (), (0, None), lambda w, a: rq.ListUps(), False, False, "list_ups",
            public=True),
    Command("LIST VAR", (), (1, None), lambda w, a: rq.ListVar(a[0]), False, False, "list_var",
            public=True),
    Command("LIST RW", (), (1, None), lambda w, a: rq.ListRw(a[0]), False, False, "list_rw",
            public=True),
    Command("LIST CMD", (), (1, None), lambda w, a: rq.ListCmd(a[0]), False, False, "list_cmd",
            public=True),
    Command("LIST CLIENT", (), (1, None), lambda w, a: rq.ListClient(a[0]), False, False,
            "list_client", public=True),
    Command("LIST ENUM", (), (2, None), lambda w, a: rq.ListEnum(a[0], a[1]), False, False,
            "list_enum", public=True),
    Command("LIST RANGE", (), (2, None), lambda w, a: rq.ListRange(a[0], a[1]), False, False,
            "list_range", public=True),
    Command("SET VAR", (), (3, None), lambda w, a: rq.SetVar(a[0], a[1], a[2]), True, False,
            "set_var"),
    Command("SET TRACKING", (), (1, None), _set_tracking, True, False, "set_tracking"),
    # NUT takes a parameter only when exactly three words follow INSTCMD.
    Command("INSTCMD", (), (2, None),
            lambda w, a: rq.InstCmd(a[0], a[1], a[2] if len(a) == 3 else None),
            True, False, "instcmd"),
)


@dataclass(slots=True)
class Verb:
    """What the first word of a line decides: the login and TLS checks, then the row."""

    word: str
    needs_login: bool
    before_tls: bool
    public: bool
    #: The row of a command without sub-commands.
    row: Command | None = None
    #: Sub-command word (every spelling, upper case) -> row.
    subs: dict[str, Command] = field(default_factory=dict)

    def resolve(self, words: Sequence[str]) -> tuple[Command, str, Args]:
        """The row, the spelling of its last word, and its arguments (``words`` begins
        with a spelling of this verb)."""
        if self.row is not None:  # word: how words[0] reads in upper case (VERBS' key)
            return self.row, self.word, words[1:]
        if len(words) < 2:
            raise _bad()
        sub = words[1].upper()
        row = self.subs.get(sub)
        if row is None:
            raise _bad()
        return row, sub, words[2:]


def _verbs() -> dict[str, Verb]:
    verbs: dict[str, Verb] = {}
    for row in TABLE:
        head, _, sub = row.name.partition(" ")
        spellings = [head] if sub else [head, *row.aliases]
        for word in spellings:
            verb = verbs.setdefault(word, Verb(word, row.needs_login, row.before_tls,
                                               row.public))
            # Checked before the sub-command is read, so it must hold for every row.
            assert (verb.needs_login, verb.before_tls, verb.public) \
                == (row.needs_login, row.before_tls, row.public)
            assert not row.public or not row.needs_login  # a login is a secret's use
            if sub:
                for spelling in (sub, *row.aliases):
                    verb.subs[spelling] = row
            else:
                verb.row = row
    return verbs


#: First word (every spelling, upper case) -> :class:`Verb`.
VERBS: Final[dict[str, Verb]] = _verbs()
#: Canonical name -> row.
BY_NAME: Final[dict[str, Command]] = {row.name: row for row in TABLE}


def lookup(word: str) -> Verb | None:
    """The command a first word names (case-insensitive), or None."""
    return VERBS.get(word.upper())


def parse(words: Sequence[str]) -> tuple[Command, rq.Request]:
    """The row and the request of one line, without the login check.

    Raises :class:`NutError` (UNKNOWN-COMMAND, INVALID-ARGUMENT).
    """
    if not words:
        raise NutError(ErrorName.UNKNOWN_COMMAND)
    verb = VERBS.get(words[0].upper())
    if verb is None:
        raise NutError(ErrorName.UNKNOWN_COMMAND)
    return parse_args(verb, words)


def parse_args(verb: Verb, words: Sequence[str]) -> tuple[Command, rq.Request]:
    """Second half of :func:`parse`, once the first word is known (and checked)."""
    row, spelling, args = verb.resolve(words)
    least, most = row.arity
    if len(args) < least or (most is not None and len(args) > most):
        raise _bad()
    return row, row.parse(spelling, args)


def parse_request(words: Sequence[str]) -> rq.Request:
    """Turn a tokenized line into a request, or raise :class:`NutError`."""
    return parse(words)[1]
