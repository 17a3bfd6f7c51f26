"""Real clients against pnut upsd: Debian's upsc, upscmd, upsrw, and PyPI's
PyNUTClient.  Each client runs against NUT's C upsd and against pnut's
(both fed by the same C dummy-ups) and must see the same thing."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from conftest import requires_nut
from support import FIXTURES, NUT_BINDIR, Stack, Ups, run, wait_for
from upsd_support import USERS, ready

pytestmark = requires_nut

EATON = (FIXTURES / "Eaton__5PX_2000__usbhid-ups__2.7.4__01.dev").read_text()


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, Stack]]:
    out: dict[str, Stack] = {}
    try:
        started = []
        for impl in ("nut", "pnut"):
            st = Stack([Ups("eaton", EATON, desc="Eaton 5PX"),
                        Ups("spare", "ups.status: OL\nups.mfr: Spare\n")], users=USERS)
            out[impl] = st
            started += [(st, ups, st.start_driver(ups, "nut", wait=False)) for ups in st.upses]
        for st, ups, proc in started:
            st.wait_driver(ups, proc)
        for impl, st in out.items():
            st.start_upsd(impl, wait_ups=False)
        for st, ups, _ in started:
            ready(st, ups.name)
        yield out
    finally:
        for st in out.values():
            st.close()


def client(st: Stack, tool: str, *args: str) -> tuple[int, str]:
    done = run([str(NUT_BINDIR / tool), *args], env=st.env)
    return done.returncode, done.stdout


def both(stacks: dict[str, Stack], tool: str, *args: str) -> tuple[tuple[int, str], ...]:
    results = []
    for impl in ("nut", "pnut"):
        st = stacks[impl]
        argv = [a.replace("@HOST", f"@127.0.0.1:{st.port}").replace("HOST", f"127.0.0.1:{st.port}")
                for a in args]
        results.append(client(st, tool, *argv))
    return tuple(results)


@pytest.mark.parametrize("args", [
    ("eaton@HOST",),
    ("eaton@HOST", "ups.status"),
    ("eaton@HOST", "battery.charge"),
    ("eaton@HOST", "nosuch.var"),
    ("nosuch@HOST",),
    ("-l", "HOST"),
    ("-L", "HOST"),
    ("-c", "eaton@HOST"),
])
def test_upsc(stacks: dict[str, Stack], args: tuple[str, ...]) -> None:
    nut, pnut = both(stacks, "upsc", *args)
    assert pnut == nut
    if args == ("eaton@HOST",):
        assert "battery.charge: 100" in pnut[1]


@pytest.mark.parametrize("args", [
    ("-l", "eaton@HOST"),
    ("-l", "spare@HOST"),
    ("-l", "nosuch@HOST"),
    ("-u", "admin", "-p", "s3cret pw", "eaton@HOST", "load.off"),
    ("-u", "admin", "-p", "wrong", "eaton@HOST", "load.off"),
    ("-u", "cmduser", "-p", "cmdpw", "eaton@HOST", "load.on"),
    ("-u", "admin", "-p", "s3cret pw", "eaton@HOST", "nosuch.cmd"),
])
def test_upscmd(stacks: dict[str, Stack], args: tuple[str, ...]) -> None:
    nut, pnut = both(stacks, "upscmd", *args)
    assert pnut == nut
    if args[0] == "-l" and "eaton" in args[1]:
        assert "load.off" in pnut[1]


@pytest.mark.parametrize("args", [
    ("spare@HOST",),
    ("eaton@HOST",),
    ("nosuch@HOST",),
    ("-s", "ups.mfr=Changed", "-u", "setonly", "-p", "setpw", "spare@HOST"),
    ("-s", "ups.mfr=x", "-u", "monuser", "-p", "mon", "spare@HOST"),
    ("-s", "nosuch=x", "-u", "setonly", "-p", "setpw", "spare@HOST"),
    ("-s", "ups.mfr=" + "y" * 40, "-u", "setonly", "-p", "setpw", "spare@HOST"),
])
def test_upsrw(stacks: dict[str, Stack], args: tuple[str, ...]) -> None:
    nut, pnut = both(stacks, "upsrw", *args)
    assert pnut == nut
    if args == ("spare@HOST",):
        assert "[ups.mfr]" in pnut[1]
    if args[:2] == ("-s", "ups.mfr=Changed"):
        # The driver applies a SET a moment later (NUT's upsd sometimes
        # shows it only after a second): wait until both servers show it.
        for st in stacks.values():
            wait_for(partial(_shows, st, "spare", "ups.mfr", "Changed"), timeout=10)


def _shows(st: Stack, ups: str, var: str, value: str) -> bool:
    return client(st, "upsc", f"{ups}@127.0.0.1:{st.port}", var)[1] == value + "\n"


def pynut(stacks: dict[str, Stack], impl: str, call: str, *args: Any, **login: str) -> Any:
    from PyNUTClient import PyNUT  # type: ignore[import-untyped]

    try:
        c = PyNUT.PyNUTClient(host="127.0.0.1", port=stacks[impl].port, timeout=5, **login)
        return getattr(c, call)(*args)
    except PyNUT.PyNUTError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize(("call", "args", "login"), [
    ("GetUPSList", (), {}),
    ("GetUPSNames", (), {}),
    ("GetUPSVars", ("eaton",), {}),
    ("GetUPSVars", ("nosuch",), {}),
    ("GetRWVars", ("spare",), {}),
    ("GetUPSCommands", ("eaton",), {}),
    ("CheckUPSAvailable", ("eaton",), {}),
    ("ver", (), {}),
    ("help", (), {}),
    ("RunUPSCommand", ("eaton", "load.off"), {"login": "admin", "password": "s3cret pw"}),
    ("RunUPSCommand", ("eaton", "load.off"), {"login": "monuser", "password": "mon"}),
    ("SetRWVar", ("spare", "ups.id", "x"), {"login": "setonly", "password": "setpw"}),
    ("DeviceLogin", ("eaton",), {"login": "monuser", "password": "mon"}),
    ("DeviceLogin", ("eaton",), {"login": "setonly", "password": "setpw"}),
    ("ListClients", ("eaton",), {}),
    ("ListClients", ("nosuch",), {}),
])
def test_pynutclient(stacks: dict[str, Stack], call: str, args: tuple[str, ...],
                     login: dict[str, str]) -> None:
    nut = pynut(stacks, "nut", call, *args, **login)
    pnut = pynut(stacks, "pnut", call, *args, **login)
    assert pnut == nut
    if call == "GetUPSVars" and args == ("eaton",):
        assert pnut[b"battery.charge"] == b"100"
