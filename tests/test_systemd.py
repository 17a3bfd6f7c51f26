"""systemd units and ``upsdrvctl -F`` (issue 11, item 4); systemd does not run here.

The units are checked by ``systemd-analyze verify`` (it loads them offline);
what the daemons tell systemd is received on a datagram socket standing in
for ``$NOTIFY_SOCKET``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from support import NUT_LIBDIR, PNUT, Stack, Ups, requires_nut, run

UNITS = ("pnut-driver@.service", "pnut-driver.target", "pnut-server.service",
         "pnut-monitor.service", "pnut.target")


def test_units_are_written_and_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    done = run([*PNUT, "systemd", "install", "--dir", str(tmp_path), "--confdir", "/etc/nut"])
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(UNITS)
    server = (tmp_path / "pnut-server.service").read_text()
    pnut = done.stdout.split("(ExecStart: ")[1].split(")")[0]
    assert Path(pnut).is_absolute() and os.access(pnut, os.X_OK)
    assert f"ExecStart={pnut} upsd -F\n" in server and "Type=notify\n" in server
    assert "Conflicts=nut-server.service\n" in server
    # upsd, once it runs as nut, replaces its own certificate there on a reload
    assert "StateDirectoryMode=0770\n" in server
    assert "ExecStartPre=-/usr/bin/install -d -o root -g nut -m 0770 %S/nut\n" in server
    driver = (tmp_path / "pnut-driver@.service").read_text()
    assert f"ExecStart={pnut} upsdrvctl -F start %I\n" in driver
    assert "@" not in server.replace("pnut-driver@", "")  # every placeholder filled
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    (tmp_path / "pnut-driver@myups.service").write_text(driver)
    verify = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(tmp_path.iterdir()))],
                            capture_output=True, text=True, timeout=60)
    assert (verify.returncode, verify.stdout, verify.stderr) == (0, "", "")


def _listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20)
    return sock


def _until(sock: socket.socket, word: str) -> list[str]:
    seen: list[str] = []
    while word not in seen:
        seen += sock.recv(4096).decode().split("\n")
    return seen


@pytest.mark.parametrize("impl", ["pnut", pytest.param("nut", marks=requires_nut)])
def test_upsdrvctl_foreground_runs_one_driver_for_systemd(impl: str) -> None:
    with Stack([Ups("u", "ups.status: OL\n")]) as st:
        listener = _listener(st.dir / "notify.sock")
        try:
            driver = "dummy-ups"
            if impl == "nut":  # NUT 2.8.0's dummy-ups cannot notify: upsdrvctl does.
                # Under another name, so that upsdrvctl runs the C binary, not pnut's.
                (st.dir / "bin").mkdir()
                (st.dir / "bin" / "cdummy").symlink_to(NUT_LIBDIR / "dummy-ups")
                driver = "cdummy"
                st.write("ups.conf", f"driverpath = {st.dir / 'bin'}\n[u]\n  driver = cdummy\n"
                                     "  port = u.dev\n")
            env = {"NOTIFY_SOCKET": str(st.dir / "notify.sock"), "WATCHDOG_USEC": "500000"}
            ctl = st.spawn([*PNUT, "upsdrvctl", "-u", "root", "-F", "start", "u"],
                           f"upsdrvctl-{impl}", env=env)
            _until(listener, "READY=1")
            assert (st.state / f"{driver}-u").exists()
            cmdline = Path(f"/proc/{ctl.pid}/cmdline").read_bytes()
            # pnut's driver replaced upsdrvctl (one process for systemd to watch)
            assert (b"driver\0dummy-ups" in cmdline) is (impl == "pnut")
            _until(listener, "WATCHDOG=1")
            ctl.send_signal(signal.SIGTERM)
            _until(listener, "STOPPING=1")
            assert ctl.wait(20) == 0
            assert not (st.state / f"{driver}-u").exists()
        finally:
            listener.close()
