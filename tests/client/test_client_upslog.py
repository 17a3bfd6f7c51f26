"""pnut's upslog as a process: log file, signals, background mode, reconnects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from client.client_stacks import Server
from pnut.cli.upslog import DEFAULT_FORMAT, Piece, compile_format
from support import free_port, wait_for

USER = ["-u", "root"] if os.geteuid() == 0 else []  # stay able to reopen the log


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_compile_format_follows_nut() -> None:
    assert compile_format("a%%b") == [Piece("a%b")]
    assert compile_format("%VAR x.y%") == [Piece(escape="VAR", arg="x.y")]
    assert compile_format("%upshost%%ETIME%") == [Piece(escape="UPSHOST"), Piece(escape="ETIME")]
    assert compile_format("%hostname%") == [Piece(escape="HOST", arg=None)]  # prefix match
    assert compile_format("%NOPE%x%") == [Piece("INVALIDxINVALID")]  # literals merge
    assert compile_format("%TIME @H:@M%") == [Piece(escape="TIME", arg="@H:@M")]
    assert [p.arg for p in compile_format(DEFAULT_FORMAT) if p.escape == "VAR"] == [
        "battery.charge", "input.voltage", "ups.load", "ups.status", "ups.temperature",
        "input.frequency"]


def test_signals_rotate_wake_and_stop(server: Server, tmp_path: Path) -> None:
    log = tmp_path / "ups.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pnut", "upslog", "-s", f"dummy@{server.addr}", "-l", str(log),
         "-i", "60", "-F", "-p", str(tmp_path / "upslog"), "-f", "%VAR ups.status%", *USER],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: lines(log) == ["OB LB"], timeout=15)
        pidfile = tmp_path / "upslog"  # an absolute -p is the file name itself, as in NUT
        assert pidfile.read_text() == f"{proc.pid}\n"
        proc.send_signal(signal.SIGUSR1)  # log now, not in 60 s
        wait_for(lambda: len(lines(log)) == 2, timeout=15)
        log.rename(tmp_path / "ups.log.1")
        proc.send_signal(signal.SIGHUP)  # reopens, and logs at once like any wake-up (NUT too)
        wait_for(lambda: lines(log) == ["OB LB"], timeout=15)
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: lines(log) == ["OB LB", "OB LB"], timeout=15)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0
    assert out == (f"Network UPS Tools upslog 2.8.0\n"
                   f"logging status of dummy@{server.addr} to {log} (60s intervals)\n")
    assert err == "Signal 1: reopening log file\nSignal 15: exiting\n"
    assert lines(tmp_path / "ups.log.1") == ["OB LB", "OB LB"]
    assert not (tmp_path / "upslog").exists()


def test_background_and_lost_server(tmp_path: Path) -> None:
    """Logging to a file detaches; an unreachable server gives NA, not an exit."""
    log = tmp_path / "ups.log"
    pidfile = tmp_path / "bg"
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "pnut", "upslog", "-s", f"ups@127.0.0.1:{port}", "-l", str(log),
         "-i", "1", "-p", str(tmp_path / "bg"), "-f", "%VAR ups.status% %UPSHOST%", *USER],
        capture_output=True, text=True, timeout=30)
    # The detached upslog is ended whatever the assertions say.
    pid = int(wait_for(lambda: pidfile.read_text().strip(), timeout=15))
    try:
        assert done.returncode == 0
        assert done.stderr == (
            "Warning: initial connect failed: Connection failure: Connection refused\n")
        wait_for(lambda: len(lines(log)) >= 2, timeout=15)
        assert lines(log)[:2] == [f"NA ups@127.0.0.1:{port}"] * 2
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pidfile.exists(), timeout=15)
