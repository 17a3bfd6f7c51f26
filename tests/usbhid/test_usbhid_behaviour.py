"""Interrupt reports and pollonly, -k, upsdrvctl and broken devices on the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support import needs
from usbhid.emusupport import (
    C_DRIVER,
    FIXTURES,
    REPO,
    Running,
    Workdir,
    available,
    emulator,
    pnut_cmd,
    wait_for,
)

REASON = available()
pytestmark = needs(REASON)
BK650 = FIXTURES / "apc-bk650m2.json"
needs_c = needs(None if C_DRIVER.exists() else "NUT's usbhid-ups is not installed")


def _charge_after_interrupt(c_driver: bool, pollonly: bool) -> str:
    """battery.charge once report 0x0c (RemainingCapacity, an Input item) says 50 %."""
    flags = ("pollonly",) if pollonly else ()
    # pollfreq 3600: no full walk, so only the interrupt can change battery.charge.
    work = Workdir({"pollfreq": "3600"}, flags)
    try:
        with emulator(BK650) as emu:
            drv = Running(emu, work, c_driver)
            try:
                assert 'SETINFO battery.charge "100"' in drv.dumpall()
                emu.command("interrupt 0c32")
                emu.command("feature 12 0c32")  # what a later GET_REPORT would say too
                # Both drivers take well under a second to apply the report; the pollonly
                # run, which must not apply it, is watched for three poll intervals.
                changed = wait_for(lambda: 'SETINFO battery.charge "50"' in drv.dumpall(),
                                   3 if pollonly else 8, 0.25)
                return "50" if changed else "100"
            finally:
                drv.stop()
    finally:
        work.close()


def test_interrupt_report_updates_and_pollonly_ignores_it() -> None:
    assert _charge_after_interrupt(c_driver=False, pollonly=False) == "50"
    assert _charge_after_interrupt(c_driver=False, pollonly=True) == "100"


@needs_c
def test_interrupt_report_same_as_nut() -> None:
    assert _charge_after_interrupt(c_driver=True, pollonly=False) == "50"


def _kill_power(c_driver: bool) -> tuple[int, list[str]]:
    work = Workdir({"offdelay": "30", "ondelay": "45"})
    try:
        with emulator(BK650) as emu:
            cmd = [str(C_DRIVER), "-u", "root"] if c_driver else [*pnut_cmd(), "usbhid-ups"]
            proc = subprocess.run([*cmd, "-a", "test", "-k"], env=work.env(emu),
                                  capture_output=True, text=True, timeout=60)
            return proc.returncode, emu.setreports()
    finally:
        work.close()


@needs_c
def test_kill_power_writes_what_nut_writes() -> None:
    c_rc, c_writes = _kill_power(c_driver=True)
    p_rc, p_writes = _kill_power(c_driver=False)
    assert c_writes, "NUT's -k wrote nothing: the comparison would prove nothing"
    assert (p_rc, p_writes) == (c_rc, c_writes)


def test_upsdrvctl_starts_and_stops_usbhid_ups() -> None:
    work = Workdir()
    try:
        with emulator(BK650) as emu:
            env = work.env(emu)
            ctl = [sys.executable, "-m", "pnut", "upsdrvctl", "-u", "root"]
            start = subprocess.run([*ctl, "start", "test"], env=env, capture_output=True,
                                   text=True, timeout=90)
            assert start.returncode == 0, start.stderr
            sock = work.state / "usbhid-ups-test"
            assert sock.exists()
            stop = subprocess.run([*ctl, "stop", "test"], env=env, capture_output=True,
                                  text=True, timeout=60)
            assert stop.returncode == 0, stop.stderr
            assert wait_for(lambda: not sock.exists(), 10)
    finally:
        work.close()


def _broken(doc: dict[str, object]) -> Path:
    path = Path(tempfile.mkdtemp(prefix="pnutusbfx")) / "broken.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("damage", ["reports-cut-to-id", "reports-missing", "descriptor-cut",
                                    "reports-too-long"])
def test_broken_device_never_crashes_the_driver(damage: str) -> None:
    doc = json.loads(BK650.read_text(encoding="utf-8"))
    feature: dict[str, str] = doc["feature"]
    if damage == "reports-cut-to-id":
        doc["feature"] = {k: v[:2] for k, v in feature.items()}
    elif damage == "reports-missing":
        doc["feature"] = {k: v for k, v in feature.items() if int(k) % 2}
    elif damage == "descriptor-cut":
        doc["report_descriptor"] = doc["report_descriptor"][:300]
    else:
        doc["feature"] = {k: v + "ff" * 40 for k, v in feature.items()}
    fixture = _broken(doc)
    work = Workdir(flags=("pollonly",))
    try:
        with emulator(fixture) as emu:
            proc = subprocess.run([*pnut_cmd(), "usbhid-ups", "-a", "test", "-d", "2"],
                                  env=work.env(emu), capture_output=True, text=True, timeout=60)
    finally:
        work.close()
        fixture.unlink()
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    if proc.returncode == 0:
        assert "ups.status: " in proc.stdout
    else:
        assert proc.stderr.strip().splitlines()[-1], "a failure must say why"


def test_repo_root_is_where_the_tests_think() -> None:
    assert (REPO / "src" / "pnut" / "driver" / "drivers" / "usbhid_ups.py").exists()
