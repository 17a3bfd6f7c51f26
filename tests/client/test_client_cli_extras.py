"""What pnut's client CLIs do beyond NUT: --json, passwords from the
environment, one clean line for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from client.client_stacks import Server
from pnut.client import Client
from support import free_port


def pnut(*argv: str, stdin: str = "", env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("PNUT_PASSWORD", "NUT_PASSWORD")}
    return subprocess.run([sys.executable, "-m", "pnut", *argv], input=stdin, text=True,
                          capture_output=True, timeout=30, env={**base, **(env or {})})


def one_error_line(proc: subprocess.CompletedProcess[str], text: str) -> None:
    assert proc.returncode == 1
    assert proc.stderr == f"{text}\n"
    assert "Traceback" not in proc.stdout + proc.stderr


# -- bad input: one clear line, NUT's status, no traceback -------------------------------


def test_bad_input_each_gets_one_line(server: Server) -> None:
    a = server.addr
    one_error_line(pnut("upsc", "apc@bad..host"), "Error: No such host")
    one_error_line(pnut("upsc", f"apc@127.0.0.1:{free_port()}"),
                   "Error: Connection failure: Connection refused")
    one_error_line(pnut("upsc", f"nosuch@{a}"), "Error: Unknown UPS")
    one_error_line(pnut("upsc", f"apc@{a}", "no.such.var"), "Error: Variable not supported by UPS")
    one_error_line(pnut("upscmd", "-u", "admin", "-p", "nope", f"apc@{a}", "load.off"),
                   "Unexpected response from upsd: ERR ACCESS-DENIED")
    one_error_line(pnut("upsrw", "-s", "ups.mfr=" + "x" * 40, "-u", "admin", "-p", "adminpw",
                        f"apc@{a}"), "Unexpected response from upsd: ERR TOO-LONG")
    one_error_line(pnut("upsrw", "-s", "no.such=1", "-u", "admin", "-p", "adminpw", f"apc@{a}"),
                   "Unexpected response from upsd: ERR VAR-NOT-SUPPORTED")


def test_value_that_cannot_be_sent_is_refused_cleanly(server: Server) -> None:
    proc = pnut("upsrw", "-s", "ups.mfr=caf\u00e9", "-u", "admin", "-p", "adminpw",
                f"apc@{server.addr}")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "printable ASCII" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- passwords ------------------------------------------------------------------------------


def test_unsendable_password_is_not_echoed(server: Server) -> None:
    proc = pnut("upscmd", "-u", "admin", "-p", "s\u00e9cret", f"apc@{server.addr}", "load.off")
    assert proc.returncode == 1
    assert "s\u00e9cret" not in proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "password contains" in proc.stderr


@pytest.mark.parametrize("var", ["PNUT_PASSWORD", "NUT_PASSWORD"])
def test_password_from_environment(server: Server, var: str) -> None:
    proc = pnut("upscmd", "-u", "admin", f"apc@{server.addr}", "load.off",
                env={var: "adminpw"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "OK\n")


def test_password_with_space_arrives_whole(server: Server) -> None:
    """NUT's upscmd sends it unquoted (upsd sees three words); pnut quotes it."""
    proc = pnut("upscmd", "-u", "spaced", "-p", "s3cret pw", f"apc@{server.addr}", "load.off")
    assert (proc.returncode, proc.stderr) == (0, "OK\n")


def test_instcmd_parameter_with_space(server: Server) -> None:
    """pnut's upscmd quotes the parameter; what the driver gets depends on upsd."""
    proc = pnut("upscmd", "-u", "admin", "-p", "adminpw", "-w", "-t", "3",
                f"apc@{server.addr}", "load.off", "a b")
    if server.impl == "nut":
        # NUT's upsd forwards it unquoted; the driver ignores the split line
        assert (proc.returncode, proc.stderr) == (
            1, "Can't receive status tracking information: timeout\n")
    else:
        # dummy-ups has no command handler: the driver answers UNKNOWN
        assert (proc.returncode, proc.stderr) == (0, "ERR UNKNOWN\n")


# -- --json ---------------------------------------------------------------------------------


def load(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_upsc_json(server: Server) -> None:
    a = server.addr
    with Client("127.0.0.1", server.port) as c:
        variables = c.list_var("dummy")
    assert load(pnut("upsc", "--json", f"dummy@{a}")) == {"ups": "dummy", "variables": variables}
    assert load(pnut("upsc", f"dummy@{a}", "ups.model", "--json")) == {
        "ups": "dummy", "variable": "ups.model", "value": 'Quote " back\\slash'}
    assert load(pnut("upsc", "--json", "-L", a)) == {"upses": [
        {"name": "apc", "description": "Main UPS"},
        {"name": "dummy", "description": "Description unavailable"},
        {"name": "fsdups", "description": "FSD target"},
        {"name": "sim", "description": "Simulated"},
    ]}
    assert load(pnut("upsc", "--json", "-c", f"dummy@{a}")) == {"ups": "dummy", "clients": []}
    one_error_line(pnut("upsc", "--json", f"nosuch@{a}"), "Error: Unknown UPS")


def test_upscmd_json(server: Server) -> None:
    assert load(pnut("upscmd", "--json", "-l", f"apc@{server.addr}")) == {
        "ups": "apc",
        "commands": [{"name": "load.off", "description": "Turn off the load immediately"}],
    }


def test_upsrw_json(server: Server) -> None:
    data = load(pnut("upsrw", "--json", f"apc@{server.addr}"))
    assert isinstance(data, dict) and data["ups"] == "apc"
    by_name = {v["name"]: v for v in data["variables"]}
    with Client("127.0.0.1", server.port) as c:
        assert list(by_name) == list(c.list_rw("apc"))
        value = c.get_var("apc", "battery.type")
    assert by_name["battery.type"] == {
        "name": "battery.type", "value": value, "description": "Battery chemistry",
        "type": "STRING", "flags": ["RW", "STRING:32"], "max_length": 32,
        "enum": None, "ranges": None,
    }
    assert by_name["battery.charge"]["type"] == "NUMBER"
    assert by_name["battery.charge"]["max_length"] is None
    sim = load(pnut("upsrw", "--json", f"sim@{server.addr}"))
    assert isinstance(sim, dict)
    by_name = {v["name"]: v for v in sim["variables"]}
    sens = by_name["input.sensitivity"]
    assert (sens["type"], sens["max_length"], sens["enum"], sens["ranges"]) == (
        "STRING", 6, ["high", "medium", "low"], None)
    assert by_name["input.transfer.high"]["ranges"] == [
        {"low": "253", "high": "265"}, {"low": "266", "high": "290"}]


@pytest.mark.parametrize("tool", ["upsc", "upscmd", "upsrw", "upslog"])
def test_long_help_is_nuts_usage_plus_pnuts_options(tool: str) -> None:
    """Issue 11: ``--help`` shows pnut's own options; ``-h`` stays NUT's, byte for byte
    (test_client_cli_compat.py compares it with Debian's)."""
    short = subprocess.run([sys.executable, "-m", "pnut", tool, "-h"], capture_output=True,
                           text=True, timeout=30)
    long = subprocess.run([sys.executable, "-m", "pnut", tool, "--help"], capture_output=True,
                          text=True, timeout=30)
    assert long.returncode == 0 and long.stderr == ""
    assert short.stdout and long.stdout.startswith(short.stdout)
    extra = long.stdout[len(short.stdout):]
    for option in ("--tls", "--cafile", "--pin", "--certfile"):
        assert f"  {option}" in extra, (tool, extra)
    assert ("  --json" in extra) is (tool != "upslog")
    assert "``" not in long.stdout
