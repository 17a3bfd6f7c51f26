"""The driver-socket codec: every message written and read back, one result enum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnut.protocol import driversock as ds
from pnut.protocol.state import UpsState
from pnut.protocol.tokens import split_line

names = st.from_regex(r"[a-z][a-z0-9.]{0,20}", fullmatch=True)
values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
ints = st.integers(-(10**6), 10**6)
ids = st.from_regex(r"[0-9A-F]{8}-[0-9A-F]{4}", fullmatch=True)

updates = st.one_of(
    st.builds(ds.SetInfo, names, values), st.builds(ds.DelInfo, names),
    st.builds(ds.AddEnum, names, values), st.builds(ds.DelEnum, names, values),
    st.builds(ds.AddRange, names, ints, ints), st.builds(ds.DelRange, names, ints, ints),
    st.builds(ds.SetAux, names, ints),
    st.builds(ds.SetFlags, names, st.sampled_from([(), ("RW",), ("RW", "STRING"), ("NUMBER",)])),
    st.builds(ds.AddCmd, names), st.builds(ds.DelCmd, names),
    st.just(ds.DataOk()), st.just(ds.DataStale()), st.just(ds.DumpDone()), st.just(ds.Pong()),
    st.builds(ds.Tracking, ids, st.integers(0, 4)), st.builds(ds.Pid, st.just("42")),
    st.just(ds.Goodbye()),
)
commands = st.one_of(
    st.just(ds.DumpAll()), st.just(ds.Ping()), st.just(ds.NoBroadcast()),
    st.builds(ds.Broadcast, st.booleans()), st.builds(ds.DumpValue, names),
    st.just(ds.GetPid()), st.just(ds.Logout()),
    st.builds(ds.InstCmd, names, st.none() | values, st.none() | ids),
    st.builds(ds.SetVar, names, values, st.none() | ids),
)


@given(updates)
def test_updates_round_trip(msg: ds.SockUpdate) -> None:
    assert ds.parse_update(split_line(ds.serialize(msg))) == msg


@given(commands)
def test_commands_round_trip(msg: ds.SockCommand) -> None:
    assert ds.parse_command(split_line(ds.serialize(msg))) == msg


@pytest.mark.parametrize("line", ["", "BOGUS x", "SETINFO onlyname", "ADDRANGE v 1 x",
                                  "SETAUX v ten", "TRACKING id"])
def test_lines_that_are_not_protocol_raise_one_error_type(line: str) -> None:
    with pytest.raises(ds.DriverSockError):
        ds.parse_update(split_line(line))


def test_one_tracking_enum_for_drivers_and_upsd() -> None:
    R = ds.TrackingResult
    assert R.HANDLED is R.SUCCESS and R.INVALID is R.INVALID_ARGUMENT
    assert [R.answer_for(c) for c in range(6)] == [
        "SUCCESS", "ERR UNKNOWN", "ERR INVALID-ARGUMENT", "ERR FAILED",
        "ERR INVALID-ARGUMENT", "ERR UNKNOWN"]
    assert ds.parse_update(["TRACKING", "x", " 3junk"]) == ds.Tracking("x", 3)  # C atoi
    assert ds.atoi("  -12abc") == -12 and ds.atoi("x") == 0 and ds.atoi("+7") == 7


def test_state_tree_applies_updates_and_writes_the_same_lines() -> None:
    driver, server = UpsState(), UpsState()
    lines = [driver.set_info("ups.status", 'O"L'), driver.add_cmd("load.off"),
             driver.set_flags("ups.status", {"STRING", "RW"}), driver.set_aux("ups.status", 9),
             driver.add_range("ups.status", 1, 5)]
    for line in lines:
        assert line is not None
        server.apply(split_line(line))
    assert server.dump_lines() == driver.dump_lines()
    assert lines[2] == "SETFLAGS ups.status RW STRING\n"
    with pytest.raises(ds.DriverSockError):
        server.apply(["NOPE"])


def test_server_package_does_not_import_the_driver_package() -> None:
    import pathlib

    import pnut.server

    root = pathlib.Path(pnut.server.__file__).parent
    for path in root.glob("*.py"):
        assert "pnut.driver" not in path.read_text(), path
