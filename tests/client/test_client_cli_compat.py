"""pnut's upsc/upscmd/upsrw/upslog against Debian's, on the same upsd.

Each case runs NUT's binary and ``python -m pnut <tool>`` with the same
arguments and stdin, against the same server (NUT's upsd and pnut's), and
requires identical stdout, stderr and exit status.  The only difference
allowed is NUT's "Init SSL without certificate database" line on stderr
(its NSS build announcing it has no certificates).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from client.client_stacks import Server
from support import NUT_BINDIR, free_port, requires_nut

pytestmark = requires_nut

NOISE = "Init SSL without certificate database\n"

# (tool, arguments; {a} is the server's 127.0.0.1:port, {dead} a closed port)
CASES: list[tuple[str, str]] = [
    ("upsc", "-l {a}"),
    ("upsc", "-L {a}"),
    ("upsc", "apc@{a}"),
    ("upsc", "dummy@{a}"),
    ("upsc", "apc@{a} ups.status"),
    ("upsc", "dummy@{a} ups.model"),
    ("upsc", "apc@{a} no.such.var"),
    ("upsc", "apc@{a} nodot"),
    ("upsc", "nosuch@{a}"),
    ("upsc", "nosuch@{a} ups.status"),
    ("upsc", "-c apc@{a}"),
    ("upsc", "-c nosuch@{a}"),
    ("upsc", "apc@{dead}"),
    ("upsc", "apc@bad..host"),  # refused by the resolver itself: no DNS traffic
    ("upsc", "-l {dead}"),
    ("upsc", "apc@127.0.0.1:"),
    ("upsc", "apc@[::1"),
    ("upsc", "-l [::1"),
    ("upsc", ""),
    ("upsc", "-h"),
    ("upsc", "-x"),
    ("upsc", "-V"),
    ("upsc", "-V -x"),  # NUT acts on -h/-V before reading further options
    # "--help" is pnut's own (NUT's usage plus pnut's options; test_client_cli_extras.py)
    ("upscmd", "-l apc@{a}"),
    ("upscmd", "-l nosuch@{a}"),
    ("upscmd", "-l apc@{dead}"),
    ("upscmd", "-u admin -p adminpw apc@{a} load.off"),
    ("upscmd", "-u admin -p adminpw apc@{a} load.off 5"),
    ("upscmd", "-u admin -p adminpw -w apc@{a} load.off"),
    ("upscmd", "-u admin -p wrong apc@{a} load.off"),
    ("upscmd", "-u monuser -p mon apc@{a} load.off"),
    ("upscmd", "-u admin -p adminpw apc@{a} no.such"),
    ("upscmd", "-u admin -p adminpw nosuch@{a} load.off"),
    ("upscmd", "-u admin -p adminpw apc@{a} nodot"),
    ("upscmd", "-u admin -p adminpw apc@{a}"),
    ("upscmd", "-u admin apc@{a} load.off"),
    ("upscmd", "-u admin -p adminpw -w -t 0 apc@{a} load.off"),
    ("upscmd", "-t abc -l apc"),
    ("upscmd", ""),
    ("upscmd", "-u"),
    ("upscmd", "-V"),
    ("upsrw", "apc@{a}"),
    ("upsrw", "dummy@{a}"),
    ("upsrw", "nosuch@{a}"),
    ("upsrw", "apc@{dead}"),
    ("upsrw", "-s ups.delay.shutdown=30 -u admin -p adminpw apc@{a}"),
    ("upsrw", "-s ups.delay.shutdown=35 -u admin -p adminpw -w apc@{a}"),
    ("upsrw", "-s no.such=1 -u admin -p adminpw apc@{a}"),
    ("upsrw", "-s ups.delay.shutdown=30 -u admin -p bad apc@{a}"),
    ("upsrw", "-s ups.delay.shutdown=30 -u setonly -p setpw nosuch@{a}"),
    ("upsrw", "-s nodot=1 -u admin -p adminpw apc@{a}"),
    ("upsrw", "-s ups.mfr=0123456789012345678901234567890123456789 -u admin -p adminpw apc@{a}"),
    # empty stdin: an empty value, which dummy-ups takes as "delete the variable"
    ("upsrw", "-s battery.charge -u admin -p adminpw fsdups@{a}"),
    ("upsrw", "-s x.y=1 -l apc@{a}"),
    ("upsrw", "sim@{a}"),  # ENUM and RANGE variables (pnut's sim driver)
    ("upsrw", "-s input.sensitivity=extreme -u admin -p adminpw sim@{a}"),
    ("upsrw", "-s input.transfer.low=100 -u admin -p adminpw sim@{a}"),
    ("upsrw", "-s ups.id=waytoolongid -u admin -p adminpw sim@{a}"),
    ("upsrw", "-s input.sensitivity=low -u admin -p adminpw -w sim@{a}"),
    ("upsrw", "sim@{a}"),  # now with "low" selected
    ("upsrw", "-s input.sensitivity=medium -u admin -p adminpw sim@{a}"),
    ("upscmd", "-l sim@{a}"),
    ("upsc", "sim@{a} input.sensitivity"),
    ("upsrw", ""),
    ("upsrw", "-x"),
    ("upsrw", "-V"),
    ("upslog", ""),
    ("upslog", "-h"),
    ("upslog", "-V"),
    ("upslog", "-x -V"),
    ("upslog", "-s apc@{a}"),
    ("upslog", "-l -"),
    ("upslog", "a b"),
    ("upslog", "-s apc@127.0.0.1: -l -"),
    ("upslog", "-s apc@{a} -l /nonexistent/dir/x.log"),
]

# Cases that read answers from stdin: (tool, arguments, stdin).
PROMPTS: list[tuple[str, str, str]] = [
    ("upscmd", "apc@{a} load.off", "admin\nadminpw\n"),
    ("upscmd", "-u admin apc@{a} load.off", "adminpw\n"),
    ("upsrw", "-s ups.delay.shutdown -u admin -p adminpw apc@{a}", "25\n"),
    ("upsrw", "-s ups.delay.shutdown=25 apc@{a}", "admin\nadminpw\n"),
]


def run_both(tool: str, argv: list[str], stdin: str = "") -> tuple[tuple[str, str, int], ...]:
    env = {k: v for k, v in os.environ.items() if k not in ("PNUT_PASSWORD", "NUT_PASSWORD")}
    nut = subprocess.run(
        [tool, *argv], executable=str(NUT_BINDIR / tool), input=stdin, capture_output=True,
        text=True, timeout=30, env=env,
    )
    ours = subprocess.run(
        [sys.executable, "-m", "pnut", tool, *argv], input=stdin, capture_output=True,
        text=True, timeout=30, env=env,
    )
    return (
        (nut.stdout, nut.stderr.replace(NOISE, ""), nut.returncode),
        (ours.stdout, ours.stderr, ours.returncode),
    )


def expand(args: str, server: Server, dead: int) -> list[str]:
    return args.format(a=server.addr, dead=f"127.0.0.1:{dead}").split()


@pytest.fixture(scope="module")
def dead_port() -> int:
    return free_port()


@pytest.mark.parametrize(("tool", "args"), CASES, ids=[f"{t} {a}" for t, a in CASES])
def test_same_output(server: Server, dead_port: int, tool: str, args: str) -> None:
    nut, ours = run_both(tool, expand(args, server, dead_port))
    assert ours == nut


@pytest.mark.parametrize(
    ("tool", "args", "stdin"), PROMPTS, ids=[f"{t} {a}" for t, a, _ in PROMPTS])
def test_same_prompts(server: Server, dead_port: int, tool: str, args: str, stdin: str) -> None:
    nut, ours = run_both(tool, expand(args, server, dead_port), stdin)
    assert ours == nut


def test_same_upslog_lines(server: Server, tmp_path: Path) -> None:
    """Two rounds of NUT's and pnut's upslog write the same lines."""
    fmt = ("%% %UPSHOST% [%VAR ups.status%] %VAR battery.charge% %VAR nodot% "
           "%VAR no.such.var% %FOO% %VARx ups.model% %broken")
    argv = ["-s", f"dummy@{server.addr}", "-l", "-", "-i", "1", "-f", fmt,
            "-p", str(tmp_path / "upslog")]  # keep the PID file out of /run/nut
    ours = subprocess.run([sys.executable, "-m", "pnut", "upslog", *argv, "-N", "2"],
                          capture_output=True, text=True, timeout=30)
    nut = subprocess.Popen(["upslog", *argv], executable=str(NUT_BINDIR / "upslog"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert nut.stdout is not None
        nut_lines = [nut.stdout.readline() for _ in range(4)]
    finally:
        nut.terminate()
        nut.wait(10)
    assert ours.returncode == 0
    assert ours.stdout.splitlines(keepends=True) == nut_lines
    assert nut_lines[2] == (f"% dummy@{server.addr} [OB LB] 43 INVALID NA INVALID "
                            "Quote \" back\\slash INVALIDbroken\n")
