"""The Q* (Megatec family) device without I/O, for the emulator in
:mod:`pnut.driver.emulators.qx` (see there for the dialects and the state).

:meth:`QxDevice.handle` takes one command line and returns the reply bytes
(``b""`` = silence).  Its own module so that
:mod:`pnut.driver.emulators.voltronic` (a subclass) and the pty server that
picks between them do not import each other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

#: dialect -> (status command, vendor command or None, answers M with V)
DIALECTS: dict[str, tuple[bytes, bytes | None, bool]] = {
    "megatec": (b"Q1", b"I", False),
    "megatec-old": (b"D", b"I", False),
    "mustek": (b"QS", b"I", False),
    "zinto": (b"Q1", b"FW?", False),
    "hunnox": (b"Q1", b"FW?", False),
    "q1": (b"Q1", None, False),
    "voltronic-qs": (b"QS", None, True),
    # Mecer (Voltronic Power P98): QPI answers (PI98, commands (ACK / (NAK
    "mecer": (b"Q1", b"I", False),
    # Voltronic-QS-Hex: M answers P (or T), QS answers raw bytes
    "voltronic-qs-hex": (b"QS", None, False),
    "voltronic-qs-hex-t": (b"QS", None, False),
    # Best Power Fortress: ID, RT, SS?, M besides Q1
    "bestups": (b"Q1", None, False),
    # Voltronic Power QPI family: pnut.driver.emulators.voltronic
    "voltronic": (b"QGS", None, False),
}
BESTUPS_REPLIES = {b"ID": b"FOR,750,120,120,20.0,27.6\r", b"RT": b"015\r", b"SS?": b"0\r",
                   b"M": b"0\r"}
#: Dialects that answer commands with (ACK and refuse with (NAK instead of echoing.
ACK_NAK = frozenset({"mecer"})
#: Bytes one command may take before the emulator gives up on it.
MAX_COMMAND = 256
FAULTS = ("none", "garbage", "truncated", "nonnumeric", "silent")

DEFAULT_STATE: dict[str, Any] = {
    "input_voltage": 230.4, "fault_voltage": 230.4, "output_voltage": 230.4, "load": 21,
    "frequency": 50.0, "battery_voltage": 27.2, "temperature": 31.0,
    # bits: utility fail, battery low, bypass/boost/buck, failed, standby, test,
    # shutdown active, beeper on
    "bits": "00001001",
    "mfr": "PNUT-EMU", "model": "QX1500", "firmware": "VER 1.2",
    "rating_voltage": 230.0, "rating_current": 6, "rating_battery": 24.0,
    "rating_frequency": 50.0, "fault": "none",
}


@dataclass
class QxDevice:
    """The device: commands in, replies out, no I/O."""

    dialect: str
    state: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_STATE))
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    def __post_init__(self) -> None:
        self.status_cmd, self.vendor_cmd, self.has_m = DIALECTS[self.dialect]

    def _bit(self, index: int, on: bool) -> None:
        bits = list(str(self.state["bits"]).ljust(8, "0"))
        bits[index] = "1" if on else "0"
        self.state["bits"] = "".join(bits)

    def status_line(self) -> bytes:
        s = self.state
        bits = str(s["bits"])
        return (f"({s['input_voltage']:05.1f} {s['fault_voltage']:05.1f} "
                f"{s['output_voltage']:05.1f} {int(s['load']):03d} {s['frequency']:04.1f} "
                f"{self._battery()} {s['temperature']:04.1f} {bits}\r").encode()

    def _battery(self) -> str:
        volts = float(self.state["battery_voltage"])
        return f"{volts:.2f}" if volts < 10 else f"{volts:04.1f}"

    def hex_status(self) -> bytes:
        """The QS reply of a Voltronic-QS-Hex unit: '#', binary tokens, CR."""
        s = self.state

        def word(value: int, size: int) -> bytes:
            top: int = (1 << (8 * size)) - 1
            return max(0, min(value, top)).to_bytes(size, "big")

        tokens: list[bytes] = []
        for key in ("input_voltage", "output_voltage"):
            tokens += [word(round(float(s[key]) * 256 * 51 / 53), 2), word(53, 1)]
        tokens += [word(int(s["load"]), 1), word(20890, 2),
                   word(round(float(s["frequency"]) * 20890), 3), word(230, 1),
                   word(round(float(s["battery_voltage"]) * 510 / 230), 1),
                   word(int(str(s["bits"]), 2), 1)]
        if self.dialect.endswith("-t"):
            tokens.append(bytes([0b00100011]))  # 50 Hz, 24 V battery, 230 V output
        return b"#" + b" ".join(_escape(t) for t in tokens) + b"\r"

    def handle(self, command: bytes) -> bytes:
        """The reply to one command (without its \\r); b"" = no reply."""
        reply = self._reply(command)
        fault = self.state.get("fault", "none")
        if fault == "silent":
            return b""
        if not reply:
            return reply
        if fault == "garbage":
            junk = bytes(self.rng.randrange(1, 256) for _ in range(self.rng.randrange(1, 60)))
            return junk.replace(b"\r", b"") + b"\r"
        if fault == "truncated":
            return reply[: max(1, len(reply) // 2)] + b"\r"
        if fault == "nonnumeric" and reply.startswith(b"("):
            return reply.replace(b"2", b"X").replace(b"5", b"?")
        return reply

    def _reply(self, cmd: bytes) -> bytes:
        s = self.state
        if self.dialect == "bestups" and cmd in BESTUPS_REPLIES:
            return BESTUPS_REPLIES[cmd]
        if self.dialect.startswith("voltronic-qs-hex"):
            if cmd == b"M":
                return b"T\r" if self.dialect.endswith("-t") else b"P\r"
            if cmd == b"QS":
                return self.hex_status()
        if cmd == self.status_cmd:
            return self.status_line()
        if cmd == b"F" and (self.vendor_cmd is not None or self.has_m):
            return (f"#{s['rating_voltage']:05.1f} {int(s['rating_current']):03d} "
                    f"{s['rating_battery']:05.2f} {s['rating_frequency']:04.1f}\r").encode()
        if self.vendor_cmd is not None and cmd == self.vendor_cmd:
            return (f"#{s['mfr']:<15.15} {s['model']:<10.10} {s['firmware']:<10.10}\r").encode()
        if cmd == b"M" and self.has_m:
            return b"V\r"
        acknak = self.dialect in ACK_NAK
        if cmd == b"QPI" and acknak:
            return b"(PI98\r"
        if self._control(cmd):
            return b"(ACK\r" if acknak else b""
        return b"(NAK\r" if acknak else cmd + b"\r"

    def _control(self, cmd: bytes) -> bool:
        """Commands that act and answer nothing; False for unknown ones."""
        if cmd == b"Q":
            self._bit(7, str(self.state["bits"])[7] != "1")
        elif cmd in (b"T", b"TL") or (cmd[:1] == b"T" and len(cmd) == 3 and (
                cmd[1:].isdigit() or (cmd[1:2] == b"." and cmd[2:].isdigit()))):
            self._bit(5, True)
        elif cmd == b"CT":
            self._bit(5, False)
        elif cmd == b"C":
            self._bit(6, False)
            self.state["output_voltage"] = self.state["input_voltage"]
        elif cmd[:1] == b"S" and _valid_shutdown(cmd[1:]):
            self._bit(6, True)
        else:
            return False
        return True


def _escape(data: bytes) -> bytes:
    """QS-Hex escaping: CR, XON, XOFF, LF and space travel as 0x28 plus 0..4."""
    codes = {0x0D: 0, 0x11: 1, 0x13: 2, 0x0A: 3, 0x20: 4}
    out = bytearray()
    for byte in data:
        if byte in codes:
            out += bytes([0x28, codes[byte]])
        else:
            out.append(byte)
    return bytes(out)


def _valid_shutdown(arg: bytes) -> bool:
    """``n`` or ``nRmmmm`` with n in .2-.9 or 01-10 and m in 0000-9999."""
    n, _, m = arg.partition(b"R")
    if m and (len(m) != 4 or not m.isdigit()):
        return False
    if len(n) == 2 and n[:1] == b"." and n[1:].isdigit():
        return True
    return len(n) == 2 and n.isdigit() and 0 <= int(n) <= 10
