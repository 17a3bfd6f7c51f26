"""pnut's serial drivers beside NUT 2.8.0's C drivers on the same emulated devices.

For every emulated dialect (nutdrv_qx) and firmware generation (apcsmart),
NUT's C driver and pnut's each run on their own copy of the emulator (same
state) and their driver sockets are dumped (DUMPALL): every variable,
value, flag, range, enumeration and command must be the same, ``driver.*``
aside.  Then the device changes (power failure, low battery, ...) and the
dumps are compared again; for apcsmart also after the same SETs.
"""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "driver"))

from drvutil import DriverDir, SockConn, ddir  # noqa: F401 - the fixture
from qxutil import Emulator

from support import NUT_LIBDIR, requires_nut, wait_for

pytestmark = requires_nut

#: emulated dialect -> extra ups.conf lines (Hunnox needs protocol=: Zinto claims it first)
QX_DIALECTS = {
    "megatec": "", "megatec-old": "", "mustek": "", "zinto": "", "q1": "",
    "voltronic-qs": "", "voltronic-qs-hex": "", "voltronic-qs-hex-t": "", "mecer": "",
    "bestups": "",
    "hunnox": "  protocol = hunnox\n",
}


class Model:
    """A driver's state rebuilt from socket lines (broadcasts and dumps alike).

    NUT 2.8.0's drivers ignore NOBROADCAST, so a dump can come mixed with
    broadcasts; applying every line in order gives the state either way.
    One connection per driver stays open for the whole test: NUT 2.8.0's C
    drivers can crash when a client that went away is written to while a
    SET is being handled.
    """

    def __init__(self, conn: SockConn) -> None:
        self.conn = conn
        self.vars: dict[str, list[str]] = {}
        self.cmds: set[str] = set()

    def apply(self, line: str) -> None:
        words = line.split(" ", 2)
        if len(words) < 2 or words[1].startswith("driver."):
            return
        kind, name, rest = words[0], words[1], words[2] if len(words) > 2 else ""
        entry = self.vars.setdefault(name, ["", "", "", ""]) if kind in (
            "SETINFO", "SETFLAGS", "SETAUX", "ADDENUM", "ADDRANGE") else None
        if kind == "SETINFO" and entry is not None:
            entry[0] = rest
        elif kind == "SETFLAGS" and entry is not None:
            entry[1] = rest
        elif kind == "SETAUX" and entry is not None:
            entry[2] = rest
        elif kind in ("ADDENUM", "ADDRANGE") and entry is not None:
            if f"{kind} {rest};" not in entry[3]:
                entry[3] += f"{kind} {rest};"
        elif kind == "DELINFO":
            self.vars.pop(name, None)
        elif kind == "ADDCMD":
            self.cmds.add(name)
        elif kind == "DELCMD":
            self.cmds.discard(name)

    def snapshot(self) -> dict[str, object]:
        self.conn.send("NOBROADCAST", "DUMPALL")
        for line in self.conn.until(lambda line: line == "DUMPDONE"):
            self.apply(line)
        return {"vars": dict(sorted(self.vars.items())), "cmds": sorted(self.cmds)}

    def value(self, name: str) -> str:
        self.snapshot()
        return self.vars.get(name, [""])[0]


#: Dialects also compared after the device changes (the status logic is shared).
CHANGE_TOO = {"megatec", "q1", "voltronic-qs", "voltronic-qs-hex", "bestups"}


def _start_c(ddir: DriverDir, driver: str, ups: str) -> subprocess.Popen[bytes]:
    log = ddir.dir / f"c-{ups}.log"
    ddir.logs.append(log)
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(NUT_LIBDIR / driver), "-a", ups, "-F", "-u", "root"],
                                env=ddir.env, cwd=ddir.dir, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ddir.procs.append(proc)
    return proc


Snapshots = dict[str, dict[str, object]]


@pytest.fixture(scope="module")
def qx_runs() -> Iterator[dict[str, tuple[Snapshots, Snapshots]]]:
    """Every dialect at once: its C and pnut drivers side by side, before and after a change.

    Returns dialect -> (C snapshots, pnut snapshots), each {"start": ..., "after": ...}.
    """
    ddir = DriverDir()
    names = sorted(QX_DIALECTS)
    emus: list[Emulator] = []
    try:
        conf = []
        for i, dialect in enumerate(names):
            extra = QX_DIALECTS[dialect] + "  pollinterval = 1\n  pollfreq = 2\n"
            for side in ("c", "p"):
                emu = Emulator(ddir.dir, "qx", dialect, f"{side}{i}")
                emu.plug()
                emus.append(emu)
                conf.append(f"[{side}{i}]\n  driver = nutdrv_qx\n  port = {emu.link}\n{extra}")
        ddir.write("ups.conf", "".join(conf))
        procs = []
        for i in range(len(names)):
            procs.append(_start_c(ddir, "nutdrv_qx", f"c{i}"))
            procs.append(ddir.spawn("driver", "nutdrv_qx", "-a", f"p{i}", "-F", "-u", "root",
                                    name=f"p{i}"))
        sockets = [ddir.socket("nutdrv_qx", f"{side}{i}")
                   for i in range(len(names)) for side in ("c", "p")]
        wait_for(lambda: all(s.exists() for s in sockets)
                 or any(p.poll() is not None for p in procs), timeout=90)
        assert all(p.poll() is None for p in procs), ddir.log_text()
        models = {(side, i): Model(ddir.conn("nutdrv_qx", f"{side}{i}"))
                  for i in range(len(names)) for side in ("c", "p")}
        results: dict[str, tuple[Snapshots, Snapshots]] = {}
        for i, dialect in enumerate(names):
            assert models["c", i].value("ups.status") == '"OL"', dialect
            results[dialect] = ({"start": models["c", i].snapshot()},
                                {"start": models["p", i].snapshot()})
        change = {"bits": "11011010", "input_voltage": 0.0, "fault_voltage": 0.0,
                  "battery_voltage": 21.9, "load": 35}
        changed = [i for i, d in enumerate(names) if d in CHANGE_TOO]
        for i in changed:
            for emu in emus[2 * i: 2 * i + 2]:
                emu.update(**change)

        def settled(m: Model) -> bool:
            return m.value("ups.alarm") == '"UPS selftest failed! Shutdown imminent!"' and \
                m.value("input.voltage") == '"0.0"'

        wait_for(lambda: all(settled(models[side, i]) for i in changed for side in ("c", "p")),
                 timeout=30)
        for i in changed:
            results[names[i]][0]["after"] = models["c", i].snapshot()
            results[names[i]][1]["after"] = models["p", i].snapshot()
        yield results
    finally:
        for emu in emus:
            emu.unplug()
        ddir.close()


@pytest.mark.parametrize("dialect", sorted(QX_DIALECTS))
def test_nutdrv_qx_equals_nuts(qx_runs: dict[str, tuple[Snapshots, Snapshots]],
                               dialect: str) -> None:
    c, p = qx_runs[dialect]
    assert c["start"]["vars"]  # something was read
    assert p["start"] == c["start"]
    assert p.get("after") == c.get("after")
    assert (dialect in CHANGE_TOO) == ("after" in p)


def _pair(ddir: DriverDir, driver: str, kind: str, dialect: str, extra: str
          ) -> tuple[Emulator, Emulator]:
    cemu = Emulator(ddir.dir, kind, dialect, "cty")
    pemu = Emulator(ddir.dir, kind, dialect, "pty")
    cemu.plug()
    pemu.plug()
    ddir.write("ups.conf",
               f"[c]\n  driver = {driver}\n  port = {cemu.link}\n{extra}"
               f"[p]\n  driver = {driver}\n  port = {pemu.link}\n{extra}")
    cproc = _start_c(ddir, driver, "c")
    ddir.start(driver, "p")
    wait_for(lambda: ddir.socket(driver, "c").exists() or cproc.poll() is not None, timeout=60)
    assert cproc.poll() is None, ddir.log_text()
    return cemu, pemu


@pytest.mark.parametrize("generation", ["smart3", "smart2", "smart1"])
def test_apcsmart_equals_nuts(ddir: DriverDir, generation: str) -> None:
    cemu, pemu = _pair(ddir, "apcsmart", "apc", generation, "  pollinterval = 1\n")
    try:
        c, p = (Model(ddir.conn("apcsmart", u)) for u in ("c", "p"))
        assert c.value("ups.mfr") == '"APC"'
        assert p.snapshot() == c.snapshot()
        if generation == "smart3":  # enumerations from the capability string
            assert 'ADDENUM "264";' in p.vars["input.transfer.high"][3]
        for m in (c, p):
            # ups.id is settable where the UPS has 'c' (not the oldest); a setting
            # cycles only where the capability string lists its values (smart3)
            has_id = generation != "smart1"
            assert m.conn.tracking('SET ups.id "RACK7"', "s1") == (0 if has_id else 1)
            want = 0 if generation == "smart3" else 1
            assert m.conn.tracking('SET input.transfer.high "271"', "s2") == want
        assert p.snapshot() == c.snapshot()
        if generation != "smart1":
            assert p.value("ups.id") == '"RACK7"'
        for emu in (cemu, pemu):
            emu.update(status="50")
        wait_for(lambda: c.value("ups.status") == '"OB LB"' == p.value("ups.status"),
                 timeout=20)
        assert p.snapshot() == c.snapshot()
    finally:
        cemu.unplug()
        pemu.unplug()


VOLTRONIC_CONF = ("  pollinterval = 1\n  pollfreq = 2\n"
                  # ups.conf settings the driver writes at start-up (NONUT SET rows)
                  "  bypass_alarm = disabled\n  battery_number = 3\n  output_phase_angle = 120\n")
#: (socket line, what the UPS must receive); NUT's answers must be the same.
VOLTRONIC_COMMANDS = (
    ("INSTCMD beeper.toggle", b"BZOFF\r"),
    ("INSTCMD test.battery.start 120", b"T02\r"),
    ("INSTCMD test.battery.stop", b"CT\r"),
    ("INSTCMD shutdown.return", b"S.5R0003\r"),
    ("INSTCMD shutdown.stop", b"CS\r"),
    ("INSTCMD outlet.2.load.on", b"SKON2\r"),
    ("INSTCMD bypass.start", b"PEE\r"),
    ('SET ups.start.auto "yes"', b"PER\r"),
    ('SET outlet.1.delay.shutdown "600"', b"PSK1010\r"),
    ('SET input.transfer.high "250"', b"HEH250\r"),
    ('SET input.frequency.low "48"', b"FREL48.0\r"),
    ('SET battery.voltage.low "22"', b"W0E22\r"),
    ('SET battery.packs "2"', b"BATGN02\r"),
    ('SET ups.delay.shutdown "125"', b""),  # kept by the driver: 120 s, 2 minutes
    ("INSTCMD shutdown.stayoff", b"S02R0000\r"),
)


def _not_polls(emu: Emulator) -> list[bytes]:
    polls = (b"F\r", b"I\r", b"RE0\r")
    return [c for c in emu.commands() if not c.startswith(b"Q") and c not in polls]


def test_nutdrv_qx_voltronic_equals_nuts(ddir: DriverDir) -> None:
    """Voltronic QPI (P02, auto-detected): start-up, commands and SETs byte for byte,
    a power failure; NUT's DUMPALL and pnut's the same all along."""
    cemu, pemu = _pair(ddir, "nutdrv_qx", "qx", "voltronic", VOLTRONIC_CONF)
    try:
        c, p = (Model(ddir.conn("nutdrv_qx", u)) for u in ("c", "p"))
        assert c.value("driver.version.data") == ""  # driver.* is left out of the model
        assert c.value("ups.firmware.aux") == '"P02"'
        assert p.snapshot() == c.snapshot()
        assert "input.transfer.high" in p.vars and "outlet.4.delay.shutdown" in p.vars
        # At start-up: bypass_alarm and battery_number from ups.conf; the phase angle as
        # the angle (NUT 2.8.0 sends the index of 120 in its list: PPD001, docs/compat.md).
        assert _not_polls(cemu) == [b"PDP\r", b"BATN3\r", b"PPD001\r"]
        assert _not_polls(pemu) == [b"PDP\r", b"BATN3\r", b"PPD120\r"]
        for m, emu in ((c, cemu), (p, pemu)):
            for n, (line, sent) in enumerate(VOLTRONIC_COMMANDS):
                emu.clear_log()
                assert m.conn.tracking(line, f"v{n}") == 0, line
                assert b"".join(_not_polls(emu)) == sent, line
        assert wait_for(lambda: p.snapshot() == c.snapshot(), timeout=15)
        assert p.value("ups.delay.shutdown") == '"120"'
        for emu in (cemu, pemu):
            emu.update(qgs_flags="101100000000", mode="B", input_voltage=0.0,
                       warnings="0" * 7 + "1" + "0" * 56)
        # OB LB from the QGS bits and QMOD, LB again and the alarm from QWS bit 8
        wait_for(lambda: c.value("ups.status") == '"ALARM OB LB"' == p.value("ups.status"),
                 timeout=20)
        assert p.value("ups.alarm") == '"UPS warnings: Low battery."'
        assert p.snapshot() == c.snapshot()
    finally:
        cemu.unplug()
        pemu.unplug()


#: Voltronic units unlike the P02 above, each read once (-d 1) by both drivers.
VOLTRONIC_VARIANTS = {
    "p10-three-phase": {"protocol": 10},
    "p31-alarm-disabled": {"protocol": 31, "qflag": "EpshcjDbaroegfl"},
    "p00-avr-muted": {"protocol": 0, "qgs_flags": "100010000100", "output_voltage": 231.0},
    "p03-shutting-down": {"protocol": 3, "mode": "D", "qgs_flags": "100000011000",
                          "warnings": "1" * 64},
}


def _dump_vars(stdout: str) -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in stdout.splitlines() if ": " in line)
    return {k: v for k, v in pairs if not k.startswith("driver.")}


def test_nutdrv_qx_voltronic_variants_equal_nuts(ddir: DriverDir) -> None:
    """Other protocols (multi-phase rows, P31's battery type), capabilities, modes and
    warnings: both drivers' variables after one update (-d 1), all units at once."""
    names = sorted(VOLTRONIC_VARIANTS)
    emus = {(side, n): Emulator(ddir.dir, "qx", "voltronic", f"{side}{i}",
                                state=VOLTRONIC_VARIANTS[n])
            for i, n in enumerate(names) for side in ("c", "p")}
    ddir.write("ups.conf", "".join(f"[{e.link.name}]\n  driver = nutdrv_qx\n  port = {e.link}\n"
                                   for e in emus.values()))
    try:
        for emu in emus.values():
            emu.plug()
        procs = {key: subprocess.Popen(
            [*([str(NUT_LIBDIR / "nutdrv_qx")] if key[0] == "c"
               else [sys.executable, "-m", "pnut", "driver", "nutdrv_qx"]),
             "-u", "root", "-a", emu.link.name, "-d", "1"],
            env=ddir.env, cwd=ddir.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True) for key, emu in emus.items()}
        out = {}
        for key, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, (key, stderr[-2000:])
            out[key] = _dump_vars(stdout)
    finally:
        for emu in emus.values():
            emu.unplug()
    assert "output.L3.current" in out["p", "p10-three-phase"]
    assert out["p", "p31-alarm-disabled"]["ups.beeper.status"] == "disabled"
    assert out["p", "p00-avr-muted"]["ups.status"] == "OL"  # P00's AVR is no BYPASS
    assert "FSD" in out["p", "p03-shutting-down"]["ups.status"]
    for name in names:
        assert out["p", name] == out["c", name], name


def test_blazer_ser_equals_nuts_on_a_megatec_ups(ddir: DriverDir) -> None:
    cemu, pemu = _pair(ddir, "blazer_ser", "qx", "megatec", "  pollinterval = 1\n")
    try:
        c, p = (Model(ddir.conn("blazer_ser", u)) for u in ("c", "p"))
        assert c.value("ups.mfr") == '"PNUT-EMU"'
        assert p.snapshot() == c.snapshot()
    finally:
        cemu.unplug()
        pemu.unplug()


def test_apcsmart_kill_power_sends_what_nut_sends(ddir: DriverDir) -> None:
    """-k, byte for byte at the UPS: delayed power-off (K twice), and S on battery."""
    for sdtype, status, nut_bytes, pnut_bytes in (
            ("3", "08", b"YQKKR", b"YQKKR"),
            ("1", "10", b"YQSR", b"YQSR"),
            # On mains NUT misreads the two-digit status as a failure, assumes
            # OB+LB and sends S (ignored by a UPS on mains); pnut sends @000.
            ("0", "08", b"YQSR", b"YQ@000R")):
        cemu = Emulator(ddir.dir, "apc", "smart3", f"c{sdtype}", state={"status": status})
        pemu = Emulator(ddir.dir, "apc", "smart3", f"p{sdtype}", state={"status": status})
        with cemu, pemu:
            ddir.write("ups.conf",
                       f"[c]\n  driver = apcsmart\n  port = {cemu.link}\n  sdtype = {sdtype}\n"
                       f"[p]\n  driver = apcsmart\n  port = {pemu.link}\n  sdtype = {sdtype}\n")
            c = subprocess.run([str(NUT_LIBDIR / "apcsmart"), "-a", "c", "-k", "-u", "root"],
                               env=ddir.env, capture_output=True, timeout=60)
            p = ddir.run("driver", "apcsmart", "-a", "p", "-k", "-u", "root")
            assert c.returncode == 0 and p.returncode == 0, p.stderr
            assert b"".join(cemu.commands()) == nut_bytes
            assert b"".join(pemu.commands()) == pnut_bytes
