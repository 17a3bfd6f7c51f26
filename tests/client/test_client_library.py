"""Client and AsyncClient round trips for every command, against real upsd.

Each test runs against NUT's C upsd and against pnut's (fixture
``server``); expected values are read from the server's raw transcript
(support.talk) so the library is checked against the wire, not against
itself.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import traceback

import pytest

from client.client_stacks import Server
from pnut.client import (
    AccessDenied,
    AsyncClient,
    AuthRequired,
    Client,
    ClientEntry,
    CmdNotSupported,
    InvalidArgument,
    InvalidValue,
    NutConnectionError,
    NutTimeoutError,
    ProtocolError,
    Range,
    ServerError,
    TrackingStatus,
    UnknownCommand,
    UnknownUps,
    UpsEntry,
    VarNotSupported,
)
from pnut.protocol.tokens import split_line
from support import talk, wait_for

UUID_RE = re.compile(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\Z")


def wire_vars(port: int, ups: str) -> dict[str, str]:
    """LIST VAR straight from the socket, parsed with the protocol tokenizer."""
    lines = talk(port, [f"LIST VAR {ups}"])
    out = {}
    for line in lines[1:-1]:
        words = split_line(line)
        out[words[2]] = words[3]
    return out


# -- read-only commands ---------------------------------------------------------------


def test_banner_commands(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        assert c.ver() == talk(server.port, ["VER"])[0]
        assert c.ver().startswith("Network UPS Tools upsd 2.8.0")
        assert c.protver() == "1.3"
        assert c.netver() == "1.3"
        assert c.help() == talk(server.port, ["HELP"])[0]
        assert c.help().startswith("Commands: HELP VER")


def test_list_ups_and_descriptions(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        assert c.list_ups() == [
            UpsEntry("apc", "Main UPS"),
            UpsEntry("dummy", "Description unavailable"),
            UpsEntry("fsdups", "FSD target"),
            UpsEntry("sim", "Simulated"),
        ]
        assert c.get_upsdesc("apc") == "Main UPS"
        assert c.get_upsdesc("dummy") == "Unavailable"


def test_list_var_matches_the_wire_and_get_var(server: Server) -> None:
    expected = wire_vars(server.port, "apc")
    assert len(expected) > 20
    with Client("127.0.0.1", server.port) as c:
        got = c.list_var("apc")
        assert got == expected
        assert list(got) == list(expected)  # the server's order is kept
        for name in ("battery.charge", "ups.status", "device.model"):
            assert c.get_var("apc", name) == expected[name]


def test_values_with_quote_and_backslash_survive(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        assert c.get_var("dummy", "ups.model") == 'Quote " back\\slash'
        assert c.list_var("dummy")["ups.model"] == 'Quote " back\\slash'


def test_types_descriptions_and_commands(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        vtype = c.get_type("apc", "ups.status")
        assert talk(server.port, ["GET TYPE apc ups.status"]) == [
            "TYPE apc ups.status " + " ".join(vtype.words)]
        assert vtype.kind == "STRING" and vtype.rw and vtype.max_length == 32
        number = c.get_type("apc", "battery.charge")
        assert number.kind == "NUMBER" and number.max_length is None
        assert c.get_desc("apc", "battery.charge") == "Battery charge (percent of full)"
        assert c.get_desc("apc", "no.such.var") == "Description unavailable"
        assert c.list_cmd("apc") == ["load.off"]
        assert c.get_cmddesc("apc", "load.off") == "Turn off the load immediately"
        [cmd] = c.commands("apc")
        assert (cmd.name, cmd.description) == ("load.off", "Turn off the load immediately")
        rw = c.list_rw("apc")
        assert rw["battery.charge"] == c.get_var("apc", "battery.charge")
        info = c.describe_var("apc", "battery.type")
        assert (info.value, info.description, info.type.kind) == (
            "PbAc", "Battery chemistry", "STRING")
        assert info.enum == () and info.ranges == ()
        # dummy-ups declares no enums or ranges: the lists are empty, not errors
        assert c.list_enum("apc", "battery.type") == []
        assert c.list_range("apc", "battery.charge") == []


def test_enums_and_ranges(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        wire = talk(server.port, ["LIST ENUM sim input.sensitivity"])
        enum = c.list_enum("sim", "input.sensitivity")
        assert [split_line(line)[3] for line in wire[1:-1]] == enum == ["high", "medium", "low"]
        ranges = c.list_range("sim", "input.transfer.high")
        assert ranges == [Range("253", "265"), Range("266", "290")]
        info = c.describe_var("sim", "input.sensitivity")
        assert info.type.enum and info.type.kind == "STRING" and info.type.max_length == 6
        assert info.enum == ("high", "medium", "low") and info.value in info.enum
        info = c.describe_var("sim", "input.transfer.low")
        assert info.type.range and info.type.kind == "NUMBER"
        assert info.ranges == (Range("160", "180"),)
        assert any(r.contains(info.value) for r in info.ranges)
        c.authenticate("admin", "adminpw")
        with pytest.raises(InvalidValue):
            c.set_var("sim", "input.sensitivity", "normal")
        with pytest.raises(InvalidValue):
            c.set_var("sim", "input.transfer.low", "100")


def test_read_errors_are_typed(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        with pytest.raises(UnknownUps) as exc:
            c.get_var("nosuch", "ups.status")
        assert exc.value.name == "UNKNOWN-UPS" and exc.value.nut_text == "Unknown UPS"
        with pytest.raises(VarNotSupported):
            c.get_var("apc", "no.such.var")
        with pytest.raises(UnknownUps):
            c.list_var("nosuch")
        # an ERR leaves the connection usable
        assert c.get_var("apc", "ups.status") == wire_vars(server.port, "apc")["ups.status"]


# -- sessions: login, primary, clients ------------------------------------------------


def test_login_counts_and_lists_clients(server: Server) -> None:
    with Client("127.0.0.1", server.port) as watcher, Client("127.0.0.1", server.port) as c:
        before = watcher.num_logins("dummy")
        c.authenticate("monuser", "mon")
        c.login("dummy")
        assert watcher.num_logins("dummy") == before + 1
        assert ClientEntry("dummy", "127.0.0.1") in watcher.list_client("dummy")
        with pytest.raises(ServerError) as exc:
            c.login("dummy")
        assert exc.value.name == "ALREADY-LOGGED-IN"
        assert c.logout() == "Goodbye"
        wait_for(lambda: watcher.num_logins("dummy") == before, timeout=10)


def test_privileged_commands_need_credentials(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        with pytest.raises(AuthRequired) as exc:
            c.login("apc")
        assert exc.value.name == "USERNAME-REQUIRED"
        c.username("admin")
        with pytest.raises(AuthRequired) as exc:
            c.primary("apc")
        assert exc.value.name == "PASSWORD-REQUIRED"
        c.password("wrong")
        with pytest.raises(AccessDenied):
            c.primary("apc")


def test_primary_master_and_password_with_space(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("admin", "adminpw")
        assert c.primary("apc") == "PRIMARY-GRANTED"
        assert c.master("apc") == "MASTER-GRANTED"
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("spaced", "s3cret pw")  # quoted on the wire, so it arrives whole
        assert c.set_var("apc", "ups.delay.shutdown", "20") is None


def test_fsd_sets_the_flag(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("admin", "adminpw")
        c.login("fsdups")
        assert c.fsd("fsdups") == "FSD-SET"
        assert c.get_var("fsdups", "ups.status").startswith("FSD ")


def test_rfc_names_attach_detach_numattach(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("monuser", "mon")
        if server.impl == "nut":  # NUT 2.8.0 predates the RFC's names
            with pytest.raises(UnknownCommand):
                c.attach("dummy")
            with pytest.raises(InvalidArgument):
                c.num_attach("dummy")
        else:
            before = c.num_attach("dummy")
            c.attach("dummy")
            assert c.num_attach("dummy") == before + 1
            assert c.detach() == "Goodbye"


# -- SET, INSTCMD, TRACKING ----------------------------------------------------------


def test_set_var_with_tracking(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("admin", "adminpw")
        assert c.get_tracking() is False
        assert c.set_var("apc", "ups.delay.shutdown", "40") is None
        c.set_tracking(True)
        assert c.get_tracking() is True
        ident = c.set_var("apc", "ups.delay.shutdown", "45")
        assert ident is not None and UUID_RE.match(ident)
        assert c.wait_tracking(ident, timeout=15) is TrackingStatus.SUCCESS
        assert c.get_var("apc", "ups.delay.shutdown") == "45"
        # an id the server never gave out (NUT answers ERR UNKNOWN)
        assert c.get_tracking("00000000-0000-4000-8000-000000000000") is (
            TrackingStatus.UNKNOWN)
        c.set_tracking(False)
        assert c.get_tracking() is False


def test_set_var_value_with_every_special_character(server: Server) -> None:
    """The value reaches the driver intact (pnut's driver stores it as sent).

    NUT 2.8.0's dummy-ups cannot be the witness: it drops what follows a
    ``"``, eats backslashes, and never answers a value containing ``#``.
    """
    if server.impl == "nut":
        pytest.skip("NUT 2.8.0's dummy-ups mangles values with quotes, backslashes or #")
    value = 'a "q" #h \\b'
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("admin", "adminpw")
        c.set_tracking(True)
        ident = c.set_var("dummy", "ups.model", value)
        assert ident is not None
        assert c.wait_tracking(ident, timeout=15) is TrackingStatus.SUCCESS
        assert c.get_var("dummy", "ups.model") == value
        ident = c.set_var("dummy", "ups.model", 'Quote " back\\slash')
        assert ident is not None
        c.wait_tracking(ident, timeout=15)


def test_set_errors(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("admin", "adminpw")
        with pytest.raises(VarNotSupported):
            c.set_var("apc", "no.such.var", "1")
        with pytest.raises(ServerError) as exc:
            c.set_var("apc", "ups.mfr", "x" * 40)
        assert exc.value.name == "TOO-LONG"
        with pytest.raises(UnknownUps):
            c.set_var("nosuch", "ups.mfr", "x")
        with pytest.raises(ValueError, match="printable ASCII"):
            c.set_var("apc", "ups.mfr", "two\nlines")  # never sent: would inject a command
        assert c.get_var("apc", "ups.status")  # still in step


def test_instcmd_with_and_without_parameter(server: Server) -> None:
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("admin", "adminpw")
        assert c.instcmd("apc", "load.off") is None
        with pytest.raises(CmdNotSupported):
            c.instcmd("apc", "no.such.cmd")
        c.set_tracking(True)
        ident = c.instcmd("apc", "load.off", "5")
        assert ident is not None
        # dummy-ups has no instant command handler: the driver says UNKNOWN
        assert c.wait_tracking(ident, timeout=15) is TrackingStatus.UNKNOWN
    with Client("127.0.0.1", server.port) as c:
        c.authenticate("setonly", "setpw")
        with pytest.raises(AccessDenied):
            c.instcmd("apc", "load.off")


# -- connections -----------------------------------------------------------------------


def test_refused_connection_is_one_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(NutConnectionError) as exc:
            Client("127.0.0.1", port, timeout=5)
    assert isinstance(exc.value, ConnectionError)
    assert exc.value.nut_text == "Connection failure: Connection refused"
    assert str(exc.value) == f"127.0.0.1:{port}: connection failure: Connection refused"


def test_silent_server_times_out_and_closes() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        c = Client("127.0.0.1", listener.getsockname()[1], timeout=0.5)
        with pytest.raises(NutTimeoutError):
            c.ver()
        assert not c.connected
        with pytest.raises(NutConnectionError):
            c.ver()


def _serve_once(listener: socket.socket, reply: bytes) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.recv(100)
        conn.sendall(reply)
        conn.recv(100)


def test_an_answer_to_another_question_is_a_protocol_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        peer = threading.Thread(
            target=_serve_once, args=(listener, b'VAR ups other.var "1"\n'), daemon=True)
        peer.start()
        c = Client("127.0.0.1", listener.getsockname()[1], timeout=5)
        with pytest.raises(ProtocolError):
            c.get_var("ups", "battery.charge")
        assert not c.connected  # out of step: closed
        peer.join(5)


def test_reconnect_replays_authentication_and_login(server: Server) -> None:
    with Client("127.0.0.1", server.port) as watcher, Client("127.0.0.1", server.port) as c:
        before = watcher.num_logins("apc")
        c.authenticate("monuser", "mon")
        c.login("apc")
        c.close()
        wait_for(lambda: watcher.num_logins("apc") == before, timeout=10)
        c.reconnect(attempts=3, delay=0.2)
        assert watcher.num_logins("apc") == before + 1
        assert c.get_var("apc", "ups.status")


def test_password_never_shows(server: Server) -> None:
    secret = "adminpw"
    c = Client("127.0.0.1", server.port)
    c.authenticate("admin", secret)
    c.close()
    assert secret not in repr(c) and secret not in repr(vars(c))
    c.connect()
    c.username("admin")
    c.password("wrong-" + secret)
    try:
        c.set_var("apc", "ups.mfr", "x")
    except AccessDenied:
        text = traceback.format_exc()
    assert "wrong-" + secret not in text
    c.close()


# -- asyncio -------------------------------------------------------------------------------


def test_async_client_round_trips(server: Server) -> None:
    expected = wire_vars(server.port, "apc")

    async def scenario() -> None:
        async with AsyncClient("127.0.0.1", server.port, timeout=10) as c:
            assert await c.protver() == "1.3"
            assert await c.list_var("apc") == expected
            # tasks may share one client: calls are serialized
            values = await asyncio.gather(*(c.get_var("apc", n) for n in expected))
            assert dict(zip(expected, values, strict=True)) == expected
            with pytest.raises(UnknownUps):
                await c.get_var("nosuch", "ups.status")
            await c.authenticate("admin", "adminpw")
            await c.login("apc")
            assert await c.num_logins("apc") >= 1
            assert ClientEntry("apc", "127.0.0.1") in await c.list_client("apc")
            assert await c.primary("apc") == "PRIMARY-GRANTED"
            await c.set_tracking(True)
            ident = await c.set_var("apc", "ups.delay.shutdown", "35")
            assert ident is not None
            assert await c.wait_tracking(ident, timeout=15) is TrackingStatus.SUCCESS
            assert [r.name for r in await c.commands("apc")] == ["load.off"]
            assert (await c.describe_var("apc", "ups.delay.shutdown")).value == "35"
            assert await c.list_range("apc", "battery.charge") == []
        c2 = await AsyncClient.connect("127.0.0.1", server.port)
        assert (await c2.list_ups())[0] == UpsEntry("apc", "Main UPS")
        await c2.close()

    asyncio.run(scenario())


def test_async_timeout_closes() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        async def scenario() -> None:
            c = await AsyncClient.connect("127.0.0.1", listener.getsockname()[1], timeout=0.5)
            with pytest.raises(NutTimeoutError):
                await c.ver()
            assert not c.connected

        asyncio.run(scenario())


def test_range_contains_uses_c_atoi() -> None:
    assert Range("10", "20").contains("15")
    assert Range("10", "20").contains("15.9")
    assert not Range("10", "20").contains("abc")
