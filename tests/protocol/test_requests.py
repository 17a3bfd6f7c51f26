"""Every command of RFC 9271 and NUT 2.8.0: parsed, refused, written back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnut.protocol import requests as rq
from pnut.protocol.commands import BY_NAME, TABLE, VERBS, lookup, parse_request
from pnut.protocol.errors import ErrorName, NutError
from pnut.protocol.requests import to_line
from pnut.protocol.tokens import split_line

GOOD = [
    ("VER", rq.Ver()),
    ("NETVER", rq.ProtVer("NETVER")),
    ("protver", rq.ProtVer("PROTVER")),
    ("HELP", rq.Help()),
    ("STARTTLS", rq.StartTLS()),
    ("USERNAME bob", rq.Username("bob")),
    ('PASSWORD "two words"', rq.Password("two words")),
    ("LOGIN ups1", rq.Login("ups1", "LOGIN")),
    ("attach ups1", rq.Login("ups1", "ATTACH")),
    ("LOGOUT", rq.Logout("LOGOUT")),
    ("DETACH", rq.Logout("DETACH")),
    ("PRIMARY ups1", rq.Primary("ups1", "PRIMARY")),
    ("MASTER ups1", rq.Primary("ups1", "MASTER")),
    ("FSD ups1", rq.Fsd("ups1")),
    ("GET VAR ups1 ups.status", rq.GetVar("ups1", "ups.status")),
    ("get var UPS1 Ups.Status", rq.GetVar("UPS1", "Ups.Status")),
    ("GET VAR ups1 x extra ignored", rq.GetVar("ups1", "x")),
    ("GET TYPE ups1 x", rq.GetType("ups1", "x")),
    ("GET DESC ups1 x", rq.GetDesc("ups1", "x")),
    ("GET CMDDESC ups1 load.off", rq.GetCmdDesc("ups1", "load.off")),
    ("GET UPSDESC ups1", rq.GetUpsDesc("ups1")),
    ("GET NUMLOGINS ups1", rq.GetNumLogins("ups1", "NUMLOGINS")),
    ("GET NUMATTACH ups1", rq.GetNumLogins("ups1", "NUMATTACH")),
    ("GET TRACKING", rq.GetTracking(None)),
    ("GET TRACKING 1234", rq.GetTracking("1234")),
    ("LIST UPS", rq.ListUps()),
    ("LIST VAR ups1", rq.ListVar("ups1")),
    ("LIST RW ups1", rq.ListRw("ups1")),
    ("LIST CMD ups1", rq.ListCmd("ups1")),
    ("LIST CLIENT ups1", rq.ListClient("ups1")),
    ("LIST ENUM ups1 x", rq.ListEnum("ups1", "x")),
    ("LIST RANGE ups1 x", rq.ListRange("ups1", "x")),
    ('SET VAR ups1 ups.id "My UPS"', rq.SetVar("ups1", "ups.id", "My UPS")),
    ("SET TRACKING on", rq.SetTracking(True)),
    ("SET TRACKING OFF", rq.SetTracking(False)),
    ("INSTCMD ups1 load.off", rq.InstCmd("ups1", "load.off", None)),
    ("INSTCMD ups1 load.off.delay 30", rq.InstCmd("ups1", "load.off.delay", "30")),
    # NUT takes a parameter only with exactly three arguments.
    ("INSTCMD ups1 load.off 30 extra", rq.InstCmd("ups1", "load.off", None)),
]


@pytest.mark.parametrize(("line", "expected"), GOOD)
def test_parse_every_command(line: str, expected: rq.Request) -> None:
    req = parse_request(split_line(line))
    assert req == expected
    assert parse_request(split_line(to_line(req))) == req


BAD = [
    ("", ErrorName.UNKNOWN_COMMAND),
    ("FROB", ErrorName.UNKNOWN_COMMAND),
    ("VER x", ErrorName.INVALID_ARGUMENT),
    ("HELP x", ErrorName.INVALID_ARGUMENT),
    ("NETVER x", ErrorName.INVALID_ARGUMENT),
    ("USERNAME", ErrorName.INVALID_ARGUMENT),
    ("USERNAME a b", ErrorName.INVALID_ARGUMENT),
    ("PASSWORD", ErrorName.INVALID_ARGUMENT),
    ("LOGIN", ErrorName.INVALID_ARGUMENT),
    ("LOGOUT now", ErrorName.INVALID_ARGUMENT),
    ("PRIMARY", ErrorName.INVALID_ARGUMENT),
    ("FSD a b", ErrorName.INVALID_ARGUMENT),
    ("GET", ErrorName.INVALID_ARGUMENT),
    ("GET VAR", ErrorName.INVALID_ARGUMENT),
    ("GET VAR ups1", ErrorName.INVALID_ARGUMENT),
    ("GET UPSDESC", ErrorName.INVALID_ARGUMENT),
    ("GET FROB ups1 x", ErrorName.INVALID_ARGUMENT),
    ("LIST", ErrorName.INVALID_ARGUMENT),
    ("LIST VAR", ErrorName.INVALID_ARGUMENT),
    ("LIST ENUM ups1", ErrorName.INVALID_ARGUMENT),
    ("LIST FROB ups1 x", ErrorName.INVALID_ARGUMENT),
    ("SET", ErrorName.INVALID_ARGUMENT),
    ("SET VAR ups1 x", ErrorName.INVALID_ARGUMENT),
    ("SET TRACKING maybe", ErrorName.INVALID_ARGUMENT),
    ("SET FROB x", ErrorName.INVALID_ARGUMENT),
    ("INSTCMD ups1", ErrorName.INVALID_ARGUMENT),
]


@pytest.mark.parametrize(("line", "error"), BAD)
def test_refusals_carry_nut_error_names(line: str, error: ErrorName) -> None:
    with pytest.raises(NutError) as info:
        parse_request(split_line(line))
    assert info.value.name == error
    assert info.value.wire() == f"ERR {error}"


def test_command_table_is_case_insensitive_and_marks_auth() -> None:
    assert lookup("get") is VERBS["GET"]
    needs = {w for w, verb in VERBS.items() if verb.needs_login}
    assert needs == {"LOGIN", "ATTACH", "PRIMARY", "MASTER", "FSD", "SET", "INSTCMD"}
    assert lookup("attach").row is BY_NAME["LOGIN"]  # type: ignore[union-attr]
    assert lookup("DETACH").row is BY_NAME["LOGOUT"]  # type: ignore[union-attr]
    before_tls = {w for w, verb in VERBS.items() if verb.before_tls}
    assert before_tls == {"STARTTLS", "VER", "PROTVER", "NETVER", "HELP"}


def test_every_row_parses_its_own_words_and_only_get_var_is_cacheable() -> None:
    for row in TABLE:
        least, most = row.arity
        args = [f"a{i}" for i in range(least)]
        if row.name == "SET TRACKING":
            args = ["ON"]
        words = row.name.split() + args
        assert type(parse_request(words)).__name__  # builds a request
        if most is not None:
            with pytest.raises(NutError):
                parse_request([*words, "surplus"])
        if least:
            with pytest.raises(NutError):
                parse_request(words[:-1])
        for alias in row.aliases:
            assert parse_request([*row.name.split()[:-1], alias.lower(), *args])
    assert [r.name for r in TABLE if r.cacheable] == ["GET VAR"]


def test_every_error_name_is_rfc_shaped() -> None:
    for name in ErrorName:
        assert set(name.value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ-")


def test_password_never_in_repr() -> None:
    assert "hunter2" not in repr(rq.Password("hunter2"))


names = st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,20}", fullmatch=True)
values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@given(names, names, values)
def test_set_var_round_trips_any_printable_value(ups: str, var: str, value: str) -> None:
    req = rq.SetVar(ups, var, value)
    assert parse_request(split_line(to_line(req))) == req


@given(names, names, st.one_of(st.none(), values))
def test_instcmd_round_trips(ups: str, cmd: str, param: str | None) -> None:
    req = rq.InstCmd(ups, cmd, param)
    assert parse_request(split_line(to_line(req))) == req
