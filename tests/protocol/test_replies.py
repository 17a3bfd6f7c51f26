"""Server-side reply formatting read back by the client-side parser."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pnut.protocol import replies as rp
from pnut.protocol.errors import ErrorName, NutError
from pnut.protocol.tokens import split_line

values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
names = st.from_regex(r"[a-z][a-z0-9.]{0,20}", fullmatch=True)


def read(line: str) -> rp.Reply:
    return rp.parse_reply(split_line(line), line)


@given(names, names, values)
def test_var_lines_round_trip(ups: str, var: str, value: str) -> None:
    for kind in ("VAR", "RW", "ENUM"):
        assert read(rp.format_var(ups, var, value, kind)) == rp.VarReply(kind, ups, var, value)


@given(names, names, values, values)
def test_range_and_desc_round_trip(ups: str, var: str, low: str, high: str) -> None:
    assert read(rp.format_range(ups, var, low, high)) == rp.RangeReply(ups, var, low, high)
    assert read(rp.format_desc("DESC", ups, var, low)) == rp.DescReply("DESC", ups, var, low)
    assert read(rp.format_upsdesc(ups, high)) == rp.DescReply("UPSDESC", ups, "", high)


def test_fixed_replies() -> None:
    assert read("OK") == rp.Ok("")
    assert read("OK TRACKING 1-2") == rp.Ok("TRACKING 1-2")
    assert read(rp.format_err(NutError(ErrorName.DATA_STALE))) == rp.ErrReply("DATA-STALE")
    assert read("TYPE u v RW ENUM STRING:32") == rp.TypeReply("u", "v", ("RW", "ENUM", "STRING:32"))
    assert read(rp.format_count("NUMATTACH", "u", 3)) == rp.CountReply("NUMATTACH", "u", 3)
    assert read('UPS u "desc"') == rp.UpsReply("u", "desc")
    assert read("CMD u load.off") == rp.CmdReply("u", "load.off")
    assert read("CLIENT u ::1") == rp.ClientReply("u", "::1")
    body = rp.format_list("VAR u", [rp.format_var("u", "a", "1")]).splitlines()
    assert [read(x) for x in body] == [
        rp.BeginList(("VAR", "u")), rp.VarReply("VAR", "u", "a", "1"), rp.EndList(("VAR", "u"))]
    assert read("1.3") == rp.TextReply("1.3")
    ver = "Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/"
    assert read(ver) == rp.TextReply(ver)
