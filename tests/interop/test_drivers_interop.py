"""pnut's drivers next to NUT 2.8.0's C programs, seen through Debian's clients.

* pnut's dummy-ups under NUT's upsd gives the same ``upsc``/``upsrw``/``upscmd``
  output as NUT's dummy-ups on the same .dev file — all five DDL dumps, the
  ``driver.*`` lines included (the only line that differs is
  ``driver.parameter.port``, and only because each UPS here reads its own
  copy of the file);
* SET and INSTCMD round trips with TRACKING (``upsrw -w``, ``upscmd -w``)
  through NUT's upsd into pnut's drivers;
* repeater mode mirroring a UPS of another upsd, values and types;
* bad input: a socket client sending garbage, a driver killed and restarted
  under a connected client;
* pnut's upsd with NUT's dummy-ups, and with pnut's drivers.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest

from support import FIXTURES, NUT_BINDIR, Stack, Ups, requires_nut, run, wait_for

# Not ``from conftest import requires_nut``: another folder's conftest.py can
# shadow that module name when the whole suite runs.
pytestmark = requires_nut

USERS = """\
[admin]
  password = adminpw
  actions = SET
  instcmds = ALL
"""
AUTH = ["-u", "admin", "-p", "adminpw"]
FIXTURE_FILES = sorted(FIXTURES.glob("*.dev"))
SIM = "  pollinterval = 30\n  seed = 7\n  restore_after = -1\n"


def upsc(*args: str) -> str:
    result = run([str(NUT_BINDIR / "upsc"), *args])
    assert result.returncode == 0, result.stderr
    return result.stdout


def client(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(NUT_BINDIR / tool), *args])


def views(target: str) -> tuple[str, str, str]:
    """What upsc, upsrw and upscmd -l print for one UPS."""
    return (upsc(target), client("upsrw", target).stdout,
            client("upscmd", "-l", target).stdout)


def _same_port_line(text: str, name: str) -> str:
    return text.replace(f"driver.parameter.port: {name}.dev", "driver.parameter.port: X.dev")


@pytest.fixture(scope="module")
def mixed() -> Stack:
    """NUT's upsd with, per fixture, one NUT dummy-ups and one pnut dummy-ups."""
    upses: list[Ups] = []
    for i, path in enumerate(FIXTURE_FILES):
        dev = path.read_text()
        upses += [Ups(f"nut{i}", dev), Ups(f"pnut{i}", dev)]
    upses.append(Ups("sim", "", driver="sim", extra={"pollinterval": "30", "seed": "7"}))
    st = Stack(upses, users=USERS)
    try:
        for ups in upses:
            st.start_driver(ups, "pnut" if ups.name.startswith(("pnut", "sim")) else "nut")
        st.start_upsd("nut")
        yield st
    finally:
        st.close()


@pytest.mark.parametrize("index", range(len(FIXTURE_FILES)),
                         ids=[p.name[:24] for p in FIXTURE_FILES])
def test_clients_see_the_same_ups_as_with_nut_dummy_ups(mixed: Stack, index: int) -> None:
    nut = views(f"nut{index}@127.0.0.1:{mixed.port}")
    pnut = views(f"pnut{index}@127.0.0.1:{mixed.port}")
    assert _same_port_line(nut[0], f"nut{index}") == _same_port_line(pnut[0], f"pnut{index}")
    assert "driver.name: dummy-ups" in pnut[0] and "driver.version.internal: 0.15" in pnut[0]
    assert nut[1].replace(f"nut{index}", "U") == pnut[1].replace(f"pnut{index}", "U")
    assert nut[2].replace(f"nut{index}", "U") == pnut[2].replace(f"pnut{index}", "U")


def test_set_and_instcmd_with_tracking_like_nut_dummy_ups(mixed: Stack) -> None:
    outputs = {}
    for impl in ("nut0", "pnut0"):
        target = f"{impl}@127.0.0.1:{mixed.port}"
        got = [
            client("upsrw", "-s", "ups.mfr=Acme Power", *AUTH, "-w", target),
            client("upsrw", "-s", "battery.charge=42", *AUTH, "-w", target),
            client("upscmd", *AUTH, "-w", target, "load.off"),
            client("upsrw", "-s", "ups.model=" + "x" * 40, *AUTH, "-w", target),
        ]
        outputs[impl] = [(r.returncode, r.stdout, r.stderr) for r in got]
        assert upsc(target, "ups.mfr") == "Acme Power\n"
        assert upsc(target, "battery.charge") == "42\n"
    assert outputs["nut0"] == outputs["pnut0"]
    assert outputs["pnut0"][0][2] == "SUCCESS\n"
    assert outputs["pnut0"][2][2] == "ERR UNKNOWN\n"  # dummy-ups implements no command
    assert "TOO-LONG" in outputs["pnut0"][3][2]


def test_sim_under_nut_upsd(mixed: Stack) -> None:
    target = f"sim@127.0.0.1:{mixed.port}"
    rw = client("upsrw", target).stdout
    assert "[input.sensitivity]" in rw and 'Option: "medium" SELECTED' in rw
    assert "Type: RANGE NUMBER" in rw and 'Option: "266-290"' in rw
    assert "[ups.id]" in rw and "Maximum length: 8" in rw
    cmds = client("upscmd", "-l", target).stdout
    assert "test.failure.start - Start a simulated power failure" in cmds

    def setvar(assignment: str) -> tuple[int, str]:
        r = client("upsrw", "-s", assignment, *AUTH, "-w", target)
        return r.returncode, r.stderr.strip()

    # upsd checks enums, ranges and lengths itself; the driver checks the rest.
    assert setvar("input.sensitivity=max") == (1, "Unexpected response from upsd: "
                                                      "ERR INVALID-VALUE")
    assert setvar("ups.id=waytoolongid") == (1, "Unexpected response from upsd: ERR TOO-LONG")
    assert setvar("battery.charge.low=101") == (0, "ERR INVALID-ARGUMENT")
    assert setvar("input.sensitivity=high") == (0, "SUCCESS")
    assert setvar("input.transfer.low=175") == (0, "SUCCESS")
    assert upsc(target, "input.sensitivity") == "high\n"
    assert upsc(target, "input.transfer.low") == "175\n"
    r = client("upscmd", *AUTH, "-w", target, "test.failure.start")
    assert (r.returncode, r.stderr) == (0, "SUCCESS\n")
    assert upsc(target, "ups.status") == "OB DISCHRG\n"
    r = client("upscmd", *AUTH, "-w", target, "test.battery.start")
    assert r.stderr == "ERR FAILED\n"  # no self-test while on battery
    r = client("upscmd", *AUTH, "-w", target, "test.failure.stop")
    assert r.stderr == "SUCCESS\n"
    assert upsc(target, "ups.status").startswith("OL")


def test_garbage_on_the_driver_socket_does_not_disturb_upsd(mixed: Stack) -> None:
    target = f"pnut1@127.0.0.1:{mixed.port}"
    with socket.socket(socket.AF_UNIX) as bad:
        bad.connect(str(mixed.state / "dummy-ups-pnut1"))
        bad.sendall(b'\xff\x00 DUMPALL "#\nSET\nINSTCMD a b c d e f\n' + b"Z" * 100_000 + b"\n")
        r = client("upsrw", "-s", "ups.model=Still Fine", *AUTH, "-w", target)
        assert r.stderr == "SUCCESS\n"
    assert upsc(target, "ups.model") == "Still Fine\n"


def _get(conn: socket.socket, request: str) -> str:
    conn.sendall(request.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        assert chunk, "upsd closed the connection"
        data += chunk
    return data.decode().strip()


def _restart_recovers(st: Stack, ups: Ups) -> None:
    """SIGKILL a pnut driver (its socket file stays), start it again."""
    with socket.create_connection(("127.0.0.1", st.port), timeout=10) as conn:
        request = f"GET VAR {ups.name} ups.status"
        assert _get(conn, request) == f'VAR {ups.name} ups.status "OL"'
        pid = int((st.state / f"dummy-ups-{ups.name}.pid").read_text())
        proc = next(p for p in st.procs if p.pid == pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert (st.state / f"dummy-ups-{ups.name}").exists()  # stale socket left behind
        wait_for(lambda: _get(conn, request).startswith("ERR "), timeout=20)
        st.start_driver(ups, "pnut")
        want = f'VAR {ups.name} ups.status "OL"'
        wait_for(lambda: _get(conn, request) == want, timeout=20)


def test_killed_driver_restarts_under_nut_upsd_with_a_client_connected() -> None:
    ups = Ups("k", "ups.status: OL\nbattery.charge: 77\n")
    with Stack([ups], users=USERS) as st:
        st.start(upsd="nut", driver="pnut")
        _restart_recovers(st, ups)
        assert upsc(f"k@127.0.0.1:{st.port}", "battery.charge") == "77\n"


# -- repeater mode ----------------------------------------------------------------------


def _repeater_stack(upstream: Stack, name: str, *extra: str) -> Stack:
    down = Stack([Ups(name, "")], users=USERS)
    down.write("ups.conf", f"[{name}]\n  driver = dummy-ups\n  port = {name}@127.0.0.1:"
                           f"{upstream.port}\n  pollinterval = 0.5\n" + "".join(extra))
    down.start(upsd="nut", driver="pnut")
    return down


def test_repeater_mirrors_values_types_and_commands_and_forwards() -> None:
    up = Stack([Ups("sim", "", driver="sim")], users=USERS)
    up.write("ups.conf", "[sim]\n  driver = sim\n  port = x\n" + SIM)
    up.start(upsd="nut", driver="pnut")
    down = _repeater_stack(up, "sim", "  username = admin\n  password = adminpw\n")
    try:
        src, dst = f"sim@127.0.0.1:{up.port}", f"sim@127.0.0.1:{down.port}"

        def no_driver(text: str) -> list[str]:
            return [line for line in text.splitlines() if not line.startswith("driver.")]

        assert no_driver(upsc(src)) == no_driver(upsc(dst))
        assert client("upsrw", src).stdout == client("upsrw", dst).stdout
        assert client("upscmd", "-l", src).stdout == client("upscmd", "-l", dst).stdout
        assert "driver.parameter.mode: repeater" in upsc(dst)
        assert "driver.parameter.password" not in upsc(dst)
        # SET and INSTCMD go through to the repeated UPS, with its real result.
        r = client("upsrw", "-s", "input.sensitivity=low", *AUTH, "-w", dst)
        assert r.stderr == "SUCCESS\n"
        assert upsc(src, "input.sensitivity") == "low\n"
        assert upsc(dst, "input.sensitivity") == "low\n"
        r = client("upsrw", "-s", "battery.charge.low=555", *AUTH, "-w", dst)
        assert r.stderr == "ERR INVALID-ARGUMENT\n"
        r = client("upscmd", *AUTH, "-w", dst, "test.failure.start")
        assert r.stderr == "SUCCESS\n"
        assert upsc(src, "ups.status") == "OB DISCHRG\n"
        wait_for(lambda: upsc(dst, "ups.status") == "OB DISCHRG\n", timeout=10)
        # The remote upsd goes away: the mirror turns stale, then recovers.
        upsd = next(p for p in up.procs if "upsd" in " ".join(map(str, p.args)))
        up.stop(upsd)
        wait_for(lambda: "Data stale" in client("upsc", dst, "ups.status").stderr, timeout=15)
        up.start_upsd("nut")
        wait_for(lambda: client("upsc", dst, "ups.status").stdout == "OB DISCHRG\n", timeout=20)
    finally:
        down.close()
        up.close()


def test_repeater_without_credentials_and_deleted_variables() -> None:
    up = Stack([Ups("d", "ups.status: OL\nbattery.charge: 90\nups.id: x\n")], users=USERS)
    up.start(upsd="nut", driver="nut")
    down = _repeater_stack(up, "d")
    try:
        src, dst = f"d@127.0.0.1:{up.port}", f"d@127.0.0.1:{down.port}"
        assert upsc(dst, "ups.id") == "x\n"
        r = client("upsrw", "-s", "ups.id=y", *AUTH, "-w", dst)
        assert r.stderr == "ERR UNKNOWN\n"  # nothing forwarded without username/password
        assert upsc(src, "ups.id") == "x\n"
        r = client("upsrw", "-s", "ups.id=", *AUTH, "-w", src)  # dummy-ups deletes it
        assert r.stderr == "SUCCESS\n"
        wait_for(lambda: "ups.id" not in upsc(dst), timeout=10)
        assert "battery.charge: 90" in upsc(dst)
    finally:
        down.close()
        up.close()


def test_repeater_strict_start_fails_when_the_remote_is_down() -> None:
    st = Stack([Ups("r", "")], users=USERS)
    try:
        st.write("ups.conf", "[r]\n  driver = dummy-ups\n  port = r@127.0.0.1:9\n")
        with pytest.raises(RuntimeError, match=r"repeater: cannot read r@127\.0\.0\.1:9"):
            st.start_driver(st.upses[0], "pnut")
        st.write("ups.conf", "[r]\n  driver = dummy-ups\n  port = r@127.0.0.1:9\n"
                             "  repeater_disable_strict_start\n")
        st.start_driver(st.upses[0], "pnut")
        st.start_upsd("nut", wait_ups=False)
        time.sleep(1)
        r = client("upsc", f"r@127.0.0.1:{st.port}", "ups.status")
        assert "Data stale" in r.stderr or "Driver not connected" in r.stderr
    finally:
        st.close()


# -- pnut's upsd ------------------------------------------------------------------------


def test_pnut_upsd_with_nut_and_pnut_drivers() -> None:
    dev = FIXTURE_FILES[3].read_text()  # the richest dump (Eaton 5PX)
    baseline = Stack([Ups("e", dev)], users=USERS)
    with baseline:
        baseline.start(upsd="nut", driver="nut")
        expected = views(f"e@127.0.0.1:{baseline.port}")
    for driver in ("nut", "pnut"):
        with Stack([Ups("e", dev)], users=USERS) as st:
            st.start(upsd="pnut", driver=driver)
            target = f"e@127.0.0.1:{st.port}"
            assert views(target) == expected, driver
            r = client("upsrw", "-s", "ups.model=Rack 1", *AUTH, "-w", target)
            assert r.stderr == "SUCCESS\n"
            assert upsc(target, "ups.model") == "Rack 1\n"
            r = client("upscmd", *AUTH, "-w", target, "load.off")
            assert r.stderr == "ERR UNKNOWN\n"


def test_pnut_sim_and_restart_under_pnut_upsd() -> None:
    sim = Ups("sim", "", driver="sim", extra={"pollinterval": "0.5", "seed": "1"})
    dummy = Ups("k", "ups.status: OL\n")
    with Stack([sim, dummy], users=USERS) as st:
        st.start(upsd="pnut", driver="pnut")
        target = f"sim@127.0.0.1:{st.port}"
        r = client("upscmd", *AUTH, "-w", target, "test.failure.start")
        assert r.stderr == "SUCCESS\n"
        wait_for(lambda: upsc(target, "ups.status") == "OB DISCHRG\n", timeout=10)
        r = client("upsrw", "-s", "battery.charge.low=101", *AUTH, "-w", target)
        assert r.stderr == "ERR INVALID-ARGUMENT\n"
        _restart_recovers(st, dummy)
