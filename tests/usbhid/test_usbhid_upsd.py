"""pnut's usbhid-ups behind NUT's C upsd and behind pnut's upsd, read with NUT's upsc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import free_port, needs
from usbhid.emusupport import FIXTURES, Running, Workdir, available, emulator, wait_for

REASON = available()
NUT_UPSD = Path("/lib/nut/upsd")
UPSC = Path("/usr/bin/upsc")
pytestmark = needs(REASON or (None if UPSC.exists() else "NUT's upsc is not installed"))


def _upsc(port: int) -> dict[str, str]:
    proc = subprocess.run([str(UPSC), f"test@127.0.0.1:{port}"], capture_output=True,
                          text=True, timeout=20)
    return dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)


@pytest.mark.parametrize("upsd", [
    pytest.param("nut", marks=needs(None if NUT_UPSD.exists() else "NUT's upsd is not installed")),
    "pnut"])
def test_served_by_upsd(upsd: str) -> None:
    port = free_port()
    work = Workdir()
    os.chmod(work.path, 0o755)
    os.chmod(work.state, 0o777)
    (work.path / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
    (work.path / "upsd.users").write_text("")
    for name in ("ups.conf", "upsd.conf", "upsd.users"):
        os.chmod(work.path / name, 0o644)
    try:
        with emulator(FIXTURES / "apc-bk650m2.json") as emu:
            drv = Running(emu, work, c_driver=False)
            env = {**work.env(emu), "NUT_ALTPIDPATH": str(work.state),
                   "STATE_DIRECTORY": str(work.path / "lib")}
            env.pop("LD_PRELOAD")  # upsd needs no USB
            argv = ([str(NUT_UPSD), "-F", "-u", "root"] if upsd == "nut"
                    else [sys.executable, "-m", "pnut", "upsd", "-F", "-u", "root"])
            server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                assert wait_for(lambda: _upsc(port).get("ups.status") == "OL DISCHRG", 30, 0.5)
                seen = _upsc(port)
                assert seen["battery.charge"] == "100"
                assert seen["ups.model"] == "BK650M2-CH"
                assert seen["driver.name"] == "usbhid-ups"
            finally:
                server.terminate()
                server.wait(timeout=15)
                drv.stop()
    finally:
        work.close()
