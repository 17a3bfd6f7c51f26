"""`pnut demo` end to end: the README's first command, as a user runs it."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pnut.client import Client, TlsMode, TlsNotEnabled, TlsSettings
from support import free_port, wait_for


def start_demo(tmp_path: Path, port: int, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "demo.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pnut", "demo", "--port", str(port), *extra],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    return proc, log


def test_demo_plays_the_whole_shutdown_story(tmp_path: Path) -> None:
    port = free_port()
    proc, log = start_demo(tmp_path, port, "--drain-rate", "25", "--restore-after", "2")
    try:
        text = lambda: log.read_text(errors="replace")  # noqa: E731
        wait_for(lambda: "pnut demo is running" in text(), timeout=30)
        assert f"upsc sim@127.0.0.1:{port}" in text()
        password = re.search(r"-p (\S+) sim@", text()).group(1)  # type: ignore[union-attr]
        confdir = Path(re.search(r"config in (\S+) ", text()).group(1))  # type: ignore[union-attr]

        with Client("127.0.0.1", port) as c:
            assert c.get_var("sim", "ups.status").split()[0] == "OL"
            types = [c.get_type("sim", v) for v in c.list_rw("sim")]
            assert any(t.kind == "STRING" and t.max_length for t in types)
            assert any(t.enum for t in types) and any(t.range for t in types)
            assert any(t.kind == "NUMBER" and not t.enum and not t.range for t in types)
            c.authenticate("admin", password)
            c.instcmd("sim", "test.failure.start")

        # Lines from one process keep their order; across processes only
        # causally ordered steps are compared (NOTIFYCMD runs asynchronously,
        # so upsd's "set FSD" may be logged before upsmon's LOWBATT echo).
        story = [
            "[demo] notify: ONBATT",
            "[demo] notify: LOWBATT",
            "SHUTDOWNCMD: this is where the machine would power off",
            "the protected machine is now halted",
            "Mains power is back",
        ]
        wait_for(lambda: story[-1] in text(), timeout=60)
        positions = [text().index(step) for step in story]
        assert positions == sorted(positions), text()
        fsd = text().index("set FSD on UPS [sim]")
        assert text().index("[demo] notify: ONBATT") < fsd < positions[2], text()

        def back_on_line() -> bool:
            with Client("127.0.0.1", port) as c:
                words = c.get_var("sim", "ups.status").split()
            return "OL" in words and "FSD" not in words and "OB" not in words

        wait_for(back_on_line, timeout=30)
        wait_for(lambda: text().count("logged into UPS [sim]") >= 2, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not confdir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_port_taken_gives_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "pnut", "demo", "--port", str(port)],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--port {port + 1}" in lines[0] and "in use" in lines[0]
    assert "Traceback" not in out.stderr and time.monotonic() - started < 20


def test_demo_tls_requires_starttls_and_upsmon_verifies(tmp_path: Path) -> None:
    port = free_port()
    proc, log = start_demo(tmp_path, port, "--tls")
    try:
        text = lambda: log.read_text(errors="replace")  # noqa: E731
        wait_for(lambda: "pnut demo is running" in text(), timeout=30)
        ca = Path(re.search(r"upsc --cafile (\S+) sim@", text()).group(1))  # type: ignore[union-attr]
        pin = re.search(r"upsc --pin (\S+) sim@", text()).group(1)  # type: ignore[union-attr]
        assert ca.name == "ca.pem" and ca.exists()

        with Client("127.0.0.1", port) as c:  # clear text: refused, except VER & co.
            assert c.ver().startswith("Network UPS Tools upsd")
            with pytest.raises(TlsNotEnabled):
                c.get_var("sim", "ups.status")
        with Client("127.0.0.1", port) as c:
            assert c.secure(TlsSettings(mode=TlsMode.REQUIRE, verify=True, cafile=str(ca)))
            assert c.get_var("sim", "ups.status").split()[0] == "OL"
        # upsmon verified the certificate (CERTVERIFY 1, FORCESSL 1) and logged in over TLS.
        wait_for(lambda: "logged into UPS [sim] (SSL)" in text(), timeout=30)
        upsc = subprocess.run(
            [sys.executable, "-m", "pnut", "upsc", "--pin", pin, f"sim@127.0.0.1:{port}",
             "ups.status"], capture_output=True, text=True, timeout=30)
        assert upsc.returncode == 0 and upsc.stdout.split()[0] == "OL", upsc.stderr
        assert "Traceback" not in text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("tls", [False, True])
def test_printed_commands_work_as_printed_without_the_venv_on_path(tmp_path: Path,
                                                                   tls: bool) -> None:
    """Issue 11: a new user copies the demo's lines into a shell where the
    virtualenv is not activated (a bare ``upsc`` there is NUT's, or nothing)."""
    port = free_port()
    proc, log = start_demo(tmp_path, port, *(["--tls"] if tls else []))
    try:
        text = lambda: log.read_text(errors="replace")  # noqa: E731
        wait_for(lambda: "pnut demo is running" in text(), timeout=30)
        labels = ("read it:", "its commands:", "settable vars:", "with the CA:", "with the pin:")
        lines = [line.split(":", 1)[1].strip() for line in text().splitlines()
                 if line.strip().startswith(labels)]
        assert len(lines) == (5 if tls else 3), text()
        for line in lines:
            assert line.split()[0].startswith("/"), line  # a full path, not NUT's upsc
            done = subprocess.run(["sh", "-c", line], capture_output=True, text=True,
                                  timeout=30, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            assert done.stdout.strip(), line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
