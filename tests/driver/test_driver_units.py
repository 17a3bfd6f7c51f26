"""Sans-IO parts of the driver side: socket requests, DriverState, .dev files, ups.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnut.config.parser import ConfigError, parse_text
from pnut.config.ups_conf import parse_ups_conf
from pnut.driver.base import DriverError, VarSpec
from pnut.driver.conf import Setup, build_config
from pnut.driver.drivers.devfile import Alarm, Assign, Sequence, Timer, check_dev, parse_dev
from pnut.driver.dstate import DriverState
from pnut.driver.sockproto import (
    Broadcast,
    DumpAll,
    DumpValue,
    GetPid,
    InstCmd,
    Logout,
    NoBroadcast,
    Ping,
    SetVar,
    parse_command,
)
from support import FIXTURES

# -- socket requests ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["DUMPALL"], DumpAll()),
        (["dumpall"], DumpAll()),
        (["PING"], Ping()),
        (["INSTCMD", "load.off"], InstCmd("load.off")),
        (["INSTCMD", "load.off.delay", "10"], InstCmd("load.off.delay", "10")),
        (["INSTCMD", "load.off", "TRACKING", "id1"], InstCmd("load.off", None, "id1")),
        (["INSTCMD", "load.off", "tracking", "id1"], InstCmd("load.off", None, "id1")),
        (["INSTCMD", "x", "5", "TRACKING", "id2"], InstCmd("x", "5", "id2")),
        (["INSTCMD"], None),
        (["INSTCMD", "x", "5", "NOTTRACKING", "id2"], None),
        (["INSTCMD", "x", "a", "b"], None),
        (["INSTCMD", "a", "b", "c", "d", "e"], None),
        (["SET", "ups.id", "v"], SetVar("ups.id", "v")),
        (["SET", "ups.id", "", "TRACKING", "t"], SetVar("ups.id", "", "t")),
        (["SET", "ups.id"], None),
        (["SET", "ups.id", "v", "extra"], None),
        (["SET", "ups.id", "v", "OTHER", "t"], None),
        (["NOBROADCAST"], NoBroadcast()),
        (["BROADCAST"], Broadcast(True)),
        (["BROADCAST", "0"], Broadcast(False)),
        (["BROADCAST", "2"], Broadcast(True)),
        (["DUMPVALUE", "ups.status"], DumpValue("ups.status")),
        (["DUMPVALUE"], None),
        (["DUMPSTATUS"], DumpValue("ups.status")),
        (["GETPID"], GetPid()),
        (["LOGOUT"], Logout()),
        (["HELLO"], None),
        ([], None),
    ],
)
def test_socket_request_arg_counts(words: list[str], expected: object) -> None:
    assert parse_command(words) == expected


# -- DriverState ----------------------------------------------------------------------


def test_every_change_is_broadcast_once() -> None:
    sent: list[str] = []
    ds = DriverState(sent.append)
    ds.set_info("ups.status", "OL")
    ds.set_info("ups.status", "OL")
    ds.declare_range("input.transfer.low", "170", [(160, 180)])
    ds.declare_enum("input.sensitivity", "low", ["low", "high"], 6)
    ds.add_cmd("load.off")
    ds.add_cmd("load.off")
    ds.del_info("nothing")
    assert sent == [
        'SETINFO ups.status "OL"\n',
        'SETINFO input.transfer.low "170"\n',
        "SETFLAGS input.transfer.low RW NUMBER\n",
        "ADDRANGE input.transfer.low 160 180\n",
        'SETINFO input.sensitivity "low"\n',
        "SETFLAGS input.sensitivity RW STRING\n",
        "SETAUX input.sensitivity 6\n",
        'ADDENUM input.sensitivity "low"\n',
        'ADDENUM input.sensitivity "high"\n',
        "ADDCMD load.off\n",
    ]


def test_range_adds_number_flag_like_nut() -> None:
    ds = DriverState()
    ds.set_info("x", "1")
    ds.add_range("x", 0, 5)
    var = ds.get("x")
    assert var is not None and var.flags == {"NUMBER"}


def test_data_starts_stale_and_transitions_are_sent_once() -> None:
    sent: list[str] = []
    ds = DriverState(sent.append)
    assert ds.stale and ds.dump_lines()[0] == "DATASTALE\n"
    ds.data_ok()
    ds.data_ok()
    ds.data_stale()
    assert sent == ["DATAOK\n", "DATASTALE\n"]


def test_status_builder_alarm_and_ignorelb() -> None:
    ds = DriverState()
    ds.alarm_init()
    ds.alarm_set("[Replace battery]")
    ds.alarm_commit()
    ds.status_init()
    for word in ("OB", "DISCHRG"):
        ds.status_set(word)
    ds.status_commit()
    assert ds.value("ups.status") == "ALARM OB DISCHRG"
    assert ds.value("ups.alarm") == "[Replace battery]"
    ds.alarm_init()
    ds.alarm_commit()
    ds.status_init()
    ds.status_set("OB")
    ds.status_commit()
    assert ds.value("ups.alarm") is None and ds.value("ups.status") == "OB"

    ds.ignore_lb = True
    ds.set_info("battery.charge", "50")
    ds.set_info("battery.charge.low", "20")
    ds.status_init()
    ds.status_set("OB")
    ds.status_set("LB")  # the device's LB is ignored...
    ds.status_commit()
    assert ds.value("ups.status") == "OB"
    ds.set_info("battery.charge", "19")  # ...and derived from the charge instead
    ds.status_init()
    ds.status_set("OB")
    ds.status_commit()
    assert ds.value("ups.status") == "OB LB"


def test_override_is_immutable() -> None:
    ds = DriverState()
    ds.set_immutable("battery.charge.low", "30")
    assert not ds.set_info("battery.charge.low", "10")
    assert not ds.del_info("battery.charge.low")
    assert ds.value("battery.charge.low") == "30"


# -- .dev / .seq files ------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.dev")), ids=lambda p: p.name[:20])
def test_every_fixture_parses(path: Path) -> None:
    steps = check_dev(path.read_bytes(), str(path))
    assigns = [s for s in steps if isinstance(s, Assign)]
    assert len(assigns) == len(steps) >= 30
    assert any(s.name == "ups.status" for s in assigns)


def test_dev_values_join_like_dummy_ups() -> None:
    steps = parse_dev(b'ups.firmware: UPS 09.8 / ID=18\nups.mfr: "A  B"\nx.y:\n', "f.dev")
    assert steps == [
        Assign("ups.firmware", ("UPS", "09.8", "/", "ID", "=", "18"), 1),
        Assign("ups.mfr", ("A  B",), 2),
        Assign("x.y", (), 3),
    ]
    assert isinstance(steps[0], Assign) and steps[0].value == "UPS 09.8 / ID = 18"


@pytest.mark.parametrize(
    ("text", "lineno", "problem"),
    [
        (b"ups.status: OL\nTIMER\n", 2, "TIMER needs exactly one argument"),
        (b"ups.status: OL\n\nTIMER soon\n", 3, "not a number of seconds"),
        (b"ups.status OL\n", 1, "expected '<variable>: <value>'"),
        (b"ups.load:50\n", 1, "missing space after ':'"),
        (b": 5\n", 1, "is not a variable name"),
    ],
)
def test_bad_dev_line_names_file_and_line(text: bytes, lineno: int, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_dev(text, "/x/bad.seq")
    assert info.value.path == "/x/bad.seq"
    assert info.value.lineno == lineno
    assert problem in info.value.problem
    assert str(info.value).startswith(f"/x/bad.seq:{lineno}: ")


def test_hash_inside_quotes_is_part_of_the_value() -> None:
    """Read as written (the config reader's rule, docs/compat.md); NUT's
    dummy-ups logs a parse error and skips the line."""
    (step,) = parse_dev(b'ups.mfr: "bad # quote"\n', "x.dev")
    assert isinstance(step, Assign) and step.words == ("bad # quote",)


def test_sequence_walks_timers_and_loops() -> None:
    steps = parse_dev(b"a: 1\nTIMER 5\nb: 2\nALARM fire\nTIMER 0\nc: 3\n", "s.seq")
    seq = Sequence(steps)
    now = 100.0
    got, done = seq.advance(now)
    assert [s.name for s in got if isinstance(s, Assign)] == ["a"] and not done
    assert seq.pause_until == 105.0
    assert seq.advance(104.9) == ([], False)
    got, done = seq.advance(105.0)
    assert got == [Assign("b", ("2",), 3), Alarm("fire", 4)] and not done
    got, done = seq.advance(105.0)
    assert got == [Assign("c", ("3",), 6)] and done and seq.at_top and seq.passes == 1
    got, _ = seq.advance(106.0)
    assert got[0] == Assign("a", ("1",), 1)
    assert isinstance(steps[1], Timer)


# -- ups.conf -> driver settings --------------------------------------------------------

VARTAB = (VarSpec("mode", "m"), VarSpec("secret", "s", sensitive=True), VarSpec("fast", "f", True))


def _build(text: str, xargs: list[str] | None = None) -> Setup:
    conf = parse_ups_conf(parse_text(text.encode(), "/c/ups.conf"), "/c/ups.conf")
    return build_config(progname="dummy-ups", upsname="u", conf=conf, vartab=VARTAB,
                        xargs=xargs or [], confdir=Path("/c"), statepath=Path("/s"))


def test_published_parameters_follow_nut() -> None:
    setup = _build(
        "pollinterval = 3\n[u]\n driver = dummy-ups\n port = a.dev\n desc = \"D\"\n"
        " mode = dummy-loop\n secret = pw\n fast\n nolock\n sdorder = 2\n maxretry = 3\n"
        " override.battery.charge = 50\n default.ups.load = 7\n synchronous = yes\n"
    )
    published = dict(setup.published)
    assert published == {
        "driver.parameter.port": "a.dev",
        "driver.parameter.mode": "dummy-loop",
        "driver.flag.fast": "enabled",
        "driver.flag.nolock": "enabled",
    }
    assert setup.config.pollinterval == 3
    assert setup.config.values["secret"] == "pw"
    assert setup.overrides == {"battery.charge": "50"} and setup.defaults == {"ups.load": "7"}
    assert setup.synchronous == "yes"


def test_x_overrides_ups_conf() -> None:
    setup = _build("[u]\n driver = dummy-ups\n port = a.dev\n mode = dummy-loop\n",
                   ["mode=dummy-once", "port=b.dev"])
    assert setup.config.values["mode"] == "dummy-once" and setup.config.port == "b.dev"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[u]\n driver = dummy-ups\n port = a\n bogus = 1\n",
         "/c/ups.conf:4: 'bogus' is not a valid variable name for the dummy-ups driver"),
        ("[u]\n driver = dummy-ups\n port = a\n\n someflag\n",
         "/c/ups.conf:5: 'someflag' is not a valid flag for the dummy-ups driver"),
        ("[u]\n driver = usbhid-ups\n port = a\n",
         "/c/ups.conf:2: UPS [u] is for driver usbhid-ups, but I am dummy-ups"),
        ("[u]\n driver = dummy-ups\n", "/c/ups.conf: UPS [u]: no port given"),
        ("[v]\n driver = dummy-ups\n port = a\n", "/c/ups.conf: section [u] not found"),
        ("[u]\n driver = dummy-ups\n port = a\n pollinterval = 0\n",
         "/c/ups.conf:4: invalid pollinterval: '0'"),
    ],
)
def test_bad_settings_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(DriverError) as info:
        _build(text)
    assert str(info.value).startswith(message)


def test_numbers_nut_reads_with_atoi_start_the_driver(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 11: NUT's drivers read pollinterval and their numbers with atoi
    (5s is 5): pnut's start too, with a warning naming the line."""
    setup = _build("[u]\n driver = dummy-ups\n port = a\n pollinterval = 5s\n")
    assert setup.config.pollinterval == 5
    assert "/c/ups.conf:4: pollinterval '5s' is read as 5, as NUT reads it" in caplog.text
    config = setup.config
    config.values["seed"], config.origins["seed"] = "42x", "/c/ups.conf:9"
    assert config.get_int("seed", 0) == 42
    config.values["seed"] = "soon"
    assert config.get_int("seed", 7) == 7
    assert "/c/ups.conf:9: seed: '42x' is read as 42, as NUT reads it" in caplog.text
    assert "/c/ups.conf:9: seed: 'soon' is not a number: using the default 7" in caplog.text
