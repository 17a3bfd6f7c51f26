"""pnut status and pnut watch: the summaries in words, against real servers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios

from client.client_stacks import Server
from pnut.cli._summary import format_runtime, severity, spell_status, summarize
from support import free_port


def pnut(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "pnut", *argv], capture_output=True,
                          text=True, timeout=60, env=env)


def test_words() -> None:
    assert spell_status("OB LB") == ["on battery", "low battery"]
    assert spell_status("LB OB FSD") == ["forced shutdown", "on battery", "low battery"]
    assert spell_status("OL CHRG XYZ") == ["on line power", "charging", "XYZ"]
    assert [format_runtime(s) for s in (42, 720, 5400)] == ["42 s", "12 min", "1 h 30 min"]
    assert [severity(s) for s in ("OL", "OB", "OB LB", "WAIT", "")] == [
        "ok", "warning", "critical", "unknown", "unknown"]
    summary = summarize({"ups.status": "OB", "battery.charge": "43", "battery.runtime": "720",
                         "ups.load": "20", "input.voltage": "0.0"})
    assert summary.sentence() == "on battery, 43% charge, 12 min left, load 20%, input 0 V"
    assert summarize({}).sentence() == "status unknown"


def test_status_report(server: Server) -> None:
    proc = pnut("status", server.addr)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{server.addr}: 4 UPS"
    dummy = lines.index("dummy")
    assert lines[dummy + 1] == "  on battery, low battery, 43% charge, 12 min left"
    apc = lines.index("apc - Main UPS")
    assert lines[apc + 1] == "  on line power, 100% charge, 1 h 12 min left"


def test_status_unreachable() -> None:
    port = free_port()
    proc = pnut("status", f"127.0.0.1:{port}")
    assert proc.returncode == 1
    assert proc.stderr == (
        f"pnut status: 127.0.0.1:{port}: connection failure: Connection refused\n")


def _on_a_terminal(*argv: str) -> str:
    """Run ``pnut ARGV`` with its output on a pseudo-terminal; what it wrote."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "pnut", *argv], stdout=follower,
                            stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    with contextlib.suppress(OSError):  # EIO once the child is gone
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    os.close(leader)
    assert proc.wait(60) == 0
    text = b"".join(chunks).decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # bold and cursor codes


def test_watch_once_on_a_terminal_draws_a_table(server: Server) -> None:
    dead = free_port()
    out = _on_a_terminal("watch", "--once", server.addr, f"127.0.0.1:{dead}")
    rows = [line for line in out.splitlines() if "127.0.0.1" in line]
    cells = [[c.strip() for c in row.strip()[1:-1].split("│")] for row in rows]
    assert [server.addr, "dummy", "on battery, low battery", "43%", "12 min", "", ""] in cells
    assert [f"127.0.0.1:{dead}", "-", "Connection failure: Connection refused",
            "", "", "", ""] in cells


def test_watch_writes_plain_lines_when_not_on_a_terminal(server: Server) -> None:
    """Issue 11: piped or logged, watch writes one plain line per UPS and refresh."""
    dead = free_port()
    proc = pnut("watch", "--once", server.addr, f"127.0.0.1:{dead}")
    assert proc.returncode == 0, proc.stderr
    assert "│" not in proc.stdout and "\x1b" not in proc.stdout
    lines = [line.split(" ", 1)[1] for line in proc.stdout.splitlines()]  # without the time
    assert f"{server.addr} dummy: on battery, low battery, 43% charge, 12 min left" in lines
    assert (f"127.0.0.1:{dead} -: error: Connection failure: Connection refused") in lines
    assert all(len(line.split(" ", 1)[0]) == 8 for line in proc.stdout.splitlines())


def test_status_json(server: Server) -> None:
    proc = pnut("status", "--json", server.addr)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["server"] == server.addr
    dummy = next(u for u in report["ups"] if u["name"] == "dummy")
    assert dummy["sentence"] == "on battery, low battery, 43% charge, 12 min left"
    assert (dummy["severity"], dummy["charge"], dummy["variables"]["ups.status"]) == (
        "critical", "43%", "OB LB")


def test_watch_refreshes_a_bounded_number_of_times(server: Server) -> None:
    proc = pnut("watch", "--count", "2", "-i", "0.5", server.addr)
    assert proc.returncode == 0, proc.stderr
    assert "on battery, low battery" in proc.stdout


def test_status_and_watch_take_the_tls_options_of_the_other_clients(server: Server) -> None:
    """Issue 11: every client's --help lists --tls/--cafile/--pin, and they work."""
    for tool in ("status", "watch"):
        helptext = pnut(tool, "--help").stdout
        assert all(f"  {opt}" in helptext for opt in ("--tls", "--cafile", "--pin"))
    assert "--json" in pnut("status", "--help").stdout
    assert pnut("status", "--no-tls", server.addr).returncode == 0
    required = pnut("status", "--tls", server.addr)  # this server has no certificate
    assert required.returncode == 1 and len(required.stderr.splitlines()) == 1
    assert "STARTTLS" in required.stderr
    out = pnut("watch", "--once", "--tls", server.addr).stdout
    assert "error:" in out and "dummy" not in out
