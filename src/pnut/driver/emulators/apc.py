"""An APC Smart-protocol UPS on a pty, in three firmware generations.

How this works
--------------
Written from the Smart-protocol notes on the NUT website (protocols/
apcsmart.txt).  The UPS reads single characters and answers with a line
(``CR LF``); it answers nothing until ``Y`` puts it in smart mode (``SM``).
Two generations:

* ``smart3`` — a 3rd generation Smart-UPS: ``V`` is not supported (``NA``),
  ``b`` gives ``60.11.I`` (its locale is ``I``), ``a`` lists the protocol
  version, alerts and command characters, ``^Z`` the allowed values of its
  settings (capabilities), which ``-`` cycles through;
* ``smart2`` — a 2nd generation Smart-UPS 1250 whose ``V`` answer (``8QI``)
  is in NUT's firmware table; it knows no ``a``, ``b`` or ``^Z``;
* ``smart1`` — a very old Smart-UPS that answers only basic readings (no
  ``V``, ``b``, ``a``, ``^A``): NUT's "support will be limited" path.

Both take ``-`` plus 8 characters to set ``c`` (UPS id) and ``x`` (battery
date), answer the nasty commands (``K``, ``Z``, ``^N``) on their second
arrival, ``@nnn`` and ``S`` with ``OK``.  When the JSON state's ``status``
changes between on line and on battery, the matching alert (``!``/``$``) is
sent unasked, as a real UPS does.  ``fault`` works as for the Q* emulator.
Every byte received is logged (``--log``), one bytes repr per line.

    python -m pnut.driver.emulators.apc --generation smart3 --link /tmp/ttyS9
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnut.driver.emulators.qx import StateFile, serve_pty

GENERATIONS = ("smart3", "smart2", "smart1")
COMMON: dict[str, str] = {
    "C": "036.0", "P": "023.4", "E": "336", "X": "OK", "r": "000", "p": "020", "c": "UPS_IDEN",
    "L": "229.0", "F": "50.00", "s": "H", "9": "FF", "l": "196", "u": "253", "G": "O",
    "M": "231.0", "N": "227.0", "O": "229.0", "o": "230", "x": "11/29/96", "f": "100.0",
    "e": "00", "B": "27.54", "g": "024", "j": "0131:", "q": "02", "k": "0",
    "n": "WS9643050926", "m": "11/29/96",
}
SMART3: dict[str, str] = {
    **COMMON, "\x01": "SMART-UPS 1000", "b": "60.11.I", "V": "NA", ">": "000", "y": "(C) APCC",
    "a": "3.!$%+?=#|.\x01\x0e\x1a')-+8<>@ABCDEFGKLMNOPQRSUVWXYZabcefgjklmnopqrsuxyz~\x7f",
    "\x1a": "#uI43253264271280lI43196188208204eI4200010203pI43020180300600"
            "qI4202050710rI43000060180300sI41HMLAoI33208220230kI410TLNuD43127130133136",
}
SMART2: dict[str, str] = {**COMMON, "V": "8QI", "T": "168.0", "7": "0F"}
#: A 1st generation Smart-UPS: no V, b, a or ^A; only the basic readings.
SMART1: dict[str, str] = {k: COMMON[k] for k in "CPLOfBn"}
#: Characters that change state and answer OK.
ACTIONS = "AWDU"
#: String settings written with '-' plus 8 characters.
STRINGS = "cx"


@dataclass
class ApcDevice:
    """The UPS without I/O: bytes in, reply bytes out."""

    generation: str
    state: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(2))

    def __post_init__(self) -> None:
        self.values = dict({"smart3": SMART3, "smart2": SMART2, "smart1": SMART1}
                           [self.generation])
        self.smart = False
        self.last_var = ""
        self.pending = ""  # collecting '@nnn' or '-' string characters
        self.repeat = ""
        self.last_status = ""

    def status(self) -> str:
        return str(self.state.get("status", "08"))

    def caps(self) -> dict[str, list[str]]:
        """Setting -> allowed values for this UPS's locale (from its ^Z string)."""
        text = self.values.get("\x1a", "")[1:]
        out: dict[str, list[str]] = {}
        while len(text) >= 4:
            ch, loc, num, size = text[0], text[1], ord(text[2]) - 48, ord(text[3]) - 48
            body = text[4: 4 + num * size]
            if loc in ("I", "4"):
                out[ch] = [body[i * size:(i + 1) * size] for i in range(num)]
            text = text[4 + num * size:]
        return out

    def alerts(self) -> bytes:
        """Unasked alert characters for a status change since the last call."""
        now, before = self.status(), self.last_status
        self.last_status = now
        if not before or not self.smart:
            return b""
        was_ob, is_ob = int(before, 16) & 0x10, int(now, 16) & 0x10
        if is_ob and not was_ob:
            return b"!"
        if was_ob and not is_ob:
            return b"$"
        return b""

    def handle(self, ch: str) -> bytes:
        reply = self._reply(ch)
        fault = self.state.get("fault", "none")
        if not reply or fault == "none":
            return reply
        if fault == "silent":
            return b""
        if fault == "garbage":
            junk = bytes(self.rng.randrange(32, 127) for _ in range(self.rng.randrange(1, 40)))
            return junk + b"\r\n"
        if fault == "truncated":
            return reply[: max(1, (len(reply) - 2) // 2)]
        return reply

    def _line(self, text: str) -> bytes:
        return text.encode("latin-1") + b"\r\n"

    def _reply(self, ch: str) -> bytes:
        if self.pending:
            return self._collect(ch)
        if not self.smart:
            if ch == "Y":
                self.smart = True
                return self._line("SM")
            return b""
        if ch in "KZ\x0e":
            first = self.repeat != ch
            self.repeat = "" if not first else ch
            if first:
                return b""
            if ch == "Z":
                self.state["status"] = "00"
                return b""
            if ch == "\x0e":
                self.state["status"] = "08"
                return b""
            return self._line("OK")
        self.repeat = ""
        if ch == "Y":
            return self._line("SM")
        if ch == "R":
            self.smart = False
            return self._line("BYE")
        if ch == "\x1b":
            return self._line("NA")
        if ch == "Q":
            return self._line(self.status())
        if ch == "@":
            self.pending = "@"
            return b""
        if ch == "-":
            if self.last_var in STRINGS:
                self.pending = "-"
                return b""
            return self._cycle()
        if ch == "S":
            return self._line("OK" if int(self.status(), 16) & 0x10 else "NA")
        if ch in ACTIONS:
            return self._line("OK")
        value = self.values.get(ch)
        if value is None:
            return self._line("NA")
        self.last_var = ch
        return self._line(value)

    def _cycle(self) -> bytes:
        choices = self.caps().get(self.last_var)
        if not choices:
            return self._line("NO")
        current = self.values[self.last_var]
        idx = choices.index(current) if current in choices else -1
        self.values[self.last_var] = choices[(idx + 1) % len(choices)]
        return b"|" + self._line("OK")

    def _collect(self, ch: str) -> bytes:
        self.pending += ch
        if self.pending[0] == "@" and len(self.pending) == 4:
            self.pending = ""
            return self._line("OK")
        if self.pending[0] == "-" and len(self.pending) == 9:
            self.values[self.last_var] = self.pending[1:].rstrip("\r")
            self.pending = ""
            return self._line("OK")
        return b""


def serve(generation: str, link: Path, state: Path | None, log: Path | None) -> None:
    device = ApcDevice(generation)
    states = StateFile(state)
    states.refresh(device)

    def tick() -> bytes:
        states.refresh(device)
        return device.alerts()

    def received(data: bytes) -> bytes:
        out = b""
        for byte in data:
            ch = chr(byte)
            if log is not None:
                with open(log, "a") as fh:
                    fh.write(repr(ch.encode("latin-1")) + "\n")
            out += device.handle(ch)
        return out

    serve_pty(link, received, tick, read_size=64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--generation", "--dialect", dest="generation", choices=GENERATIONS,
                        default="smart3")
    parser.add_argument("--link", required=True, type=Path)
    parser.add_argument("--state", type=Path)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    serve(args.generation, args.link, args.state, args.log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
