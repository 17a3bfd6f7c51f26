"""pnut status and pnut watch: the summaries in words, against real servers."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_watch_once(server: Server) -> None:
    dead = free_port()
    proc = pnut("watch", "--once", server.addr, f"127.0.0.1:{dead}")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "127.0.0.1" in line]
    cells = [[c.strip() for c in row.strip()[1:-1].split("│")] for row in rows]
    assert [server.addr, "dummy", "on battery, low battery", "43%", "12 min", "", ""] in cells
    assert [f"127.0.0.1:{dead}", "-", "Connection failure: Connection refused",
            "", "", "", ""] in cells


def test_watch_refreshes_a_bounded_number_of_times(server: Server) -> None:
    proc = pnut("watch", "--count", "2", "-i", "0.5", server.addr)
    assert proc.returncode == 0, proc.stderr
    assert "on battery, low battery" in proc.stdout
