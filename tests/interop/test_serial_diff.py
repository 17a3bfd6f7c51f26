"""pnut's serial drivers beside NUT 2.8.0's C drivers on the same emulated devices.

For every emulated dialect, NUT's ``/lib/nut/nutdrv_qx`` and ``pnut driver
nutdrv_qx`` each run on their own copy of the emulator (same state) and
their driver sockets are dumped (DUMPALL): every variable, value, flag,
range and command must be the same, ``driver.*`` aside.  Then the device
changes (power failure, low battery, shutdown active, UPS failed) and, after
a full update, the dumps are compared again.
"""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "driver"))

from drvutil import DriverDir, SockConn, ddir  # noqa: F401 - the fixture
from qxutil import Emulator

from support import NUT_LIBDIR, have_nut, wait_for

pytestmark = pytest.mark.skipif(not have_nut() and not os.environ.get("CI"),
                                reason="Debian nut-server not installed")

#: emulated dialect -> extra ups.conf lines (Hunnox needs protocol=: Zinto claims it first)
QX_DIALECTS = {
    "megatec": "", "megatec-old": "", "mustek": "", "zinto": "", "q1": "",
    "voltronic-qs": "", "hunnox": "  protocol = hunnox\n",
}


def _comparable(dump: list[str]) -> list[str]:
    return [line for line in dump
            if not line.split(" ", 2)[1:2] or not line.split(" ", 2)[1].startswith("driver.")]


def _start_c(ddir: DriverDir, driver: str, ups: str) -> subprocess.Popen[bytes]:
    log = ddir.dir / f"c-{ups}.log"
    ddir.logs.append(log)
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(NUT_LIBDIR / driver), "-a", ups, "-F", "-u", "root"],
                                env=ddir.env, cwd=ddir.dir, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ddir.procs.append(proc)
    return proc


def _dump(ddir: DriverDir, driver: str, ups: str) -> list[str]:
    with SockConn(ddir.socket(driver, ups)) as conn:
        return _comparable(conn.dump())


@pytest.mark.parametrize("dialect", sorted(QX_DIALECTS))
def test_nutdrv_qx_equals_nuts(ddir: DriverDir, dialect: str) -> None:
    extra = QX_DIALECTS[dialect] + "  pollinterval = 1\n  pollfreq = 2\n"
    with Emulator(ddir.dir, "qx", dialect, "cty") as cemu, \
            Emulator(ddir.dir, "qx", dialect, "pty") as pemu:
        ddir.write("ups.conf",
                   f"[c]\n  driver = nutdrv_qx\n  port = {cemu.link}\n{extra}"
                   f"[p]\n  driver = nutdrv_qx\n  port = {pemu.link}\n{extra}")
        cproc = _start_c(ddir, "nutdrv_qx", "c")
        ddir.start("nutdrv_qx", "p")
        wait_for(lambda: ddir.socket("nutdrv_qx", "c").exists() or cproc.poll() is not None,
                 timeout=60)
        assert cproc.poll() is None, ddir.log_text()
        c_dump, p_dump = _dump(ddir, "nutdrv_qx", "c"), _dump(ddir, "nutdrv_qx", "p")
        assert any(line.startswith("SETINFO ups.status") for line in c_dump)
        assert p_dump == c_dump

        change = {"bits": "11011010", "input_voltage": 0.0, "fault_voltage": 0.0,
                  "battery_voltage": 21.9, "load": 35}
        cemu.update(**change)
        pemu.update(**change)

        def settled(ups: str) -> bool:
            dump = _dump(ddir, "nutdrv_qx", ups)
            return 'SETINFO ups.alarm "UPS selftest failed! Shutdown imminent!"' in dump and \
                'SETINFO input.voltage "0.0"' in dump

        wait_for(lambda: settled("c") and settled("p"), timeout=20)
        assert _dump(ddir, "nutdrv_qx", "p") == _dump(ddir, "nutdrv_qx", "c")
