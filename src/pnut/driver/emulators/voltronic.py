"""A Voltronic Power UPS speaking the ``QPI`` protocol family (P02 by default).

How this works
--------------
Written from the reply layouts documented in NUT 2.8.0's
nutdrv_qx_voltronic.c (each query's sample reply with its column ruler) and
the Voltronic command set named there, not from pnut's driver.  The device
is a single-phase online unit: ``QGS`` status with its 12 flag bits,
``QPI`` protocol, ratings (``QRI``, ``QMD``, ``F``), identity (``QMF``,
``QVFW``, ``QID``, ``I``), ``QBV`` battery, ``QMOD`` mode, ``QWS``
warnings, ``QFLAG`` capabilities (``(E<enabled>D<disabled>``), ECO and
bypass limits, programmable outlets 1-4 (``QSKn``/``QSKTn``, outlet 3 not
programmable), ``RE0`` low battery voltage, ``QPD`` phase angles and
``QPAR``; as a P03, P09 or P10 unit also the ``Q3..`` multi-phase readings.
Queries it does not know and refused commands answer ``(NAK``;
commands it accepts answer ``(ACK`` and change what later queries report.

It runs inside :mod:`pnut.driver.emulators.qx` (``--dialect voltronic``),
which supplies the pty, the JSON state file (keys of :data:`DEFAULTS`)
and the faults (garbage, truncated, silent...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pnut.driver.emulators.qxdevice import QxDevice

DEFAULTS: dict[str, Any] = {
    "protocol": 2, "input_voltage": 230.4, "frequency": 50.0, "output_voltage": 230.0,
    "output_frequency": 50.0, "output_current": 2.1, "load": 21, "battery_voltage": 27.2,
    "temperature": 31.0, "pack_voltage": 369.1,
    # QGS bits 63..74: type (10 = online), utility fail, battery low, bypass/boost/buck,
    # fault, unknown, test, shutdown active, beeper off, unknown, unknown
    "qgs_flags": "100000000000",
    "mode": "L", "warnings": "0" * 64, "qflag": "EpashcjDbroegfl",
    "battery_charge": 100, "battery_runtime": 45, "battery_number": 2, "battery_packs": 1,
    "eco_high": 242, "eco_low": 218, "eco_freq_high": 53.0, "eco_freq_low": 47.0,
    "bypass_high": 264, "bypass_low": 170, "bypass_freq_high": 53.0, "bypass_freq_low": 47.0,
    # outlet n -> "1" on, "0" off, None not programmable; delays in minutes (None: not set)
    "outlets": {"1": "1", "2": "0", "3": None, "4": "1"},
    "outlet_delays": {"1": 8, "2": None, "3": None, "4": 7},
    "battery_low": 20, "fault": "none",
    # what QFS reports (a two-character fault code, e.g. "14"), None: "(OK"
    "fault_code": None,
}
FIXED: dict[bytes, bytes] = {
    b"QRI": b"(230.0 004 024.0 50.0\r",
    b"QMD": b"(#######OLHVT1K0 ###1000 80 1/1 230 230 02 12.0\r",
    b"F": b"#220.0 000 024.0 50.0\r",
    b"QMF": b"(#####VOLTRONIC\r",
    b"QVFW": b"(VERFW:00322.02\r",
    b"QID": b"(685653211455\r",
    b"I": b"#-------------   ------     VT12046Q  \r",
    b"QLDL": b"(005 080\r",
    b"QPD": b"(000 240\r",
    b"QPAR": b"(001\r",
}
#: Multi-phase readings of P03 (3-phase in), P09 (2-phase in/out) and P10 (3-phase in/out).
THREE_PHASE: dict[bytes, bytes] = {
    b"Q3PV": b"(231.4 229.8 230.6 399.1 398.7 400.2\r",
    b"Q3OV": b"(230.0 230.1 229.9 398.4 398.6 398.3\r",
    b"Q3PC": b"(004 005 003\r",
    b"Q3OC": b"(003 004 002\r",
    b"Q3LD": b"(021 025 018\r",
    b"Q3YV": b"(231.2 229.7 230.5 399.0 398.6 400.1\r",
}
ACK, NAK = b"(ACK\r", b"(NAK\r"
#: QGS flag positions (index into qgs_flags) the commands change.
TEST, SHUTDOWN, BEEPER = 7, 8, 9


@dataclass
class VoltronicDevice(QxDevice):
    dialect: str = "voltronic"
    state: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))

    def _flag(self, index: int, on: bool) -> None:
        flags = list(str(self.state["qgs_flags"]).ljust(12, "0"))
        flags[index] = "1" if on else "0"
        self.state["qgs_flags"] = "".join(flags)

    def qgs(self) -> bytes:
        s = self.state
        return (f"({s['input_voltage']:05.1f} {s['frequency']:04.1f} {s['output_voltage']:05.1f} "
                f"{s['output_frequency']:04.1f} {s['output_current']:05.1f} {int(s['load']):03d} "
                f"{s['pack_voltage']:05.1f} ---.- {s['battery_voltage']:05.1f} ---.- "
                f"{s['temperature']:05.1f} {s['qgs_flags']}\r").encode()

    def _reply(self, cmd: bytes) -> bytes:
        s = self.state
        outlets: dict[str, str | None] = s["outlets"]
        delays: dict[str, int | None] = s["outlet_delays"]
        if cmd == b"QGS":
            return self.qgs()
        if cmd == b"QPI":
            return f"(PI{int(s['protocol']):02d}\r".encode()
        if cmd in FIXED:
            return FIXED[cmd]
        if cmd in THREE_PHASE and int(s["protocol"]) in (3, 9, 10):
            if cmd == b"Q3YV" and int(s["protocol"]) == 9:
                return b"(231.2 229.7 230.5\r"
            return THREE_PHASE[cmd]
        if cmd == b"QMOD":
            return f"({s['mode']}\r".encode()
        if cmd == b"QWS":
            return f"({s['warnings']}\r".encode()
        if cmd == b"QFLAG":
            return f"({s['qflag']}\r".encode()
        if cmd == b"QBV":
            return (f"({s['battery_voltage']:05.1f} {int(s['battery_number']):02d} "
                    f"{int(s['battery_packs']):02d} {int(s['battery_charge']):03d} "
                    f"{int(s['battery_runtime']):03d}\r").encode()
        if cmd == b"QHE":
            return f"({int(s['eco_high']):03d} {int(s['eco_low']):03d}\r".encode()
        if cmd == b"QFRE":
            return f"({s['eco_freq_high']:04.1f} {s['eco_freq_low']:04.1f}\r".encode()
        if cmd == b"QBYV":
            return f"({int(s['bypass_high']):03d} {int(s['bypass_low']):03d}\r".encode()
        if cmd == b"QBYF":
            return f"({s['bypass_freq_high']:04.1f} {s['bypass_freq_low']:04.1f}\r".encode()
        if cmd == b"RE0":
            return f"#{int(s['battery_low']):02d}\r".encode()
        if cmd == b"QFS":
            code = s["fault_code"]
            if code is None:
                return b"(OK\r"
            return (f"({code} 212.1 50.0 005.6 49.9 006 010.6 343.8 ---.- 026.2 021.8 "
                    "01101100\r").encode()
        if cmd[:3] == b"QSK" and len(cmd) == 4:
            state = outlets.get(cmd[3:].decode("latin-1"))
            return NAK if state is None else f"({state}\r".encode()
        if cmd[:4] == b"QSKT" and len(cmd) == 5:
            delay = delays.get(cmd[4:].decode("latin-1"))
            return NAK if delay is None else f"({delay:03d}\r".encode()
        return ACK if self._command(cmd) else NAK

    def _command(self, cmd: bytes) -> bool:
        """Apply a command; False when the unit refuses it."""
        s = self.state
        text = cmd.decode("latin-1")
        outlets: dict[str, str | None] = s["outlets"]
        if text in ("T", "TL") or (text[:1] == "T" and len(text) == 3 and (
                text[1:].isdigit() or (text[1] == "." and text[2:].isdigit()))):
            self._flag(TEST, True)
        elif text == "CT":
            self._flag(TEST, False)
        elif text[:1] == "S" and _shutdown_arg(text[1:]):
            self._flag(SHUTDOWN, True)
        elif text == "CS":
            self._flag(SHUTDOWN, False)
        elif text in ("BZOFF", "BZON"):
            self._flag(BEEPER, text == "BZOFF")
        elif len(text) == 3 and text[:2] in ("PE", "PD") and text[2].lower() in s["qflag"]:
            letter = text[2].lower()
            enabled, _, disabled = str(s["qflag"])[1:].partition("D")
            enabled, disabled = enabled.replace(letter, ""), disabled.replace(letter, "")
            if text[1] == "E":
                enabled += letter
            else:
                disabled += letter
            s["qflag"] = f"E{enabled}D{disabled}"
        elif text[:4] in ("SKON", "SKOF") and outlets.get(text[-1:]) is not None:
            outlets[text[-1]] = "1" if text[:4] == "SKON" else "0"
        elif text[:3] == "PSK" and len(text) == 7 and text[3:].isdigit() \
                and outlets.get(text[3]) is not None:
            s["outlet_delays"][text[3]] = int(text[4:])
        elif text[:5] == "BATGN" and text[5:].isdigit():
            s["battery_packs"] = int(text[5:])
        elif text[:4] == "BATN" and text[4:].isdigit():
            s["battery_number"] = int(text[4:])
        elif text in ("SON", "SOFF", "PEE", "PDE", "PF") or text[:3] in (
                "HEH", "HEL", "PHV", "PLV", "PGF", "PSF", "W0E", "PPD") or text[:4] in (
                "FREH", "FREL"):
            pass
        else:
            return False
        return True


def _shutdown_arg(arg: str) -> bool:
    """``n`` or ``nRmmmm``: n is .2-.9 or 01-99, m 0000-9999."""
    n, sep, m = arg.partition("R")
    if sep and (len(m) != 4 or not m.isdigit()):
        return False
    return len(n) == 2 and ((n[0] == "." and n[1] in "23456789") or n.isdigit())
