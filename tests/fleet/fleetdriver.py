"""One process that drives many simulated UPSes: the fleet's "hardware".

    python fleetdriver.py STATEPATH NUPS PERIOD CHANGES_FOR

Serves NUT's driver socket ``STATEPATH/fleet-ups<i>`` for each of NUPS
UPSes (one process per host instead of one per UPS), with the shared
state codec of pnut's drivers.  Every PERIOD seconds it changes one UPS
in turn (``fleet.seq`` counts up, ``ups.load`` and ``battery.charge``
move with it) for CHANGES_FOR seconds, then holds still and keeps
serving.  Each change is logged as ``SENT <ups> <seq>`` once written.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from pnut.protocol.state import UpsState
from pnut.protocol.tokens import Tokenizer

BASE = {
    "ups.status": "OL", "ups.mfr": "Fleet", "ups.model": "Sim 1500", "ups.load": "20",
    "battery.charge": "100", "battery.runtime": "1800", "input.voltage": "230.0",
    "output.voltage": "230.0", "device.type": "ups", "fleet.seq": "0",
}


class Ups:
    def __init__(self) -> None:
        self.state = UpsState()
        for name, value in BASE.items():
            self.state.set_info(name, value)
        self.writers: set[asyncio.StreamWriter] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tok = Tokenizer()
        self.writers.add(writer)
        try:
            while data := await reader.read(4096):
                for line in tok.feed(data):
                    word = line.words[0].upper() if line.words else ""
                    if word == "DUMPALL":
                        writer.write("".join(self.state.dump_lines()).encode())
                    elif word == "PING":
                        writer.write(b"PONG\n")
        except ConnectionError:
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def change(self, seq: int) -> None:
        for name, value in (("fleet.seq", str(seq)), ("ups.load", str(20 + seq % 50)),
                            ("battery.charge", str(100 - seq % 7))):
            line = self.state.set_info(name, value)
            if line is not None:
                for writer in self.writers:
                    writer.write(line.encode())


async def main(statepath: Path, nups: int, period: float, changes_for: float) -> None:
    upses = [Ups() for _ in range(nups)]
    for i, ups in enumerate(upses):
        path = statepath / f"fleet-ups{i}"
        path.unlink(missing_ok=True)
        await asyncio.start_unix_server(ups.serve, str(path))
        os.chmod(path, 0o660)
    print("READY", flush=True)
    seqs = [0] * nups
    turn = 0
    end = time.monotonic() + changes_for
    while time.monotonic() < end:
        await asyncio.sleep(period)
        k = turn % nups
        turn += 1
        seqs[k] += 1
        upses[k].change(seqs[k])
        print(f"SENT ups{k} {seqs[k]}", flush=True)
    print("HOLDING", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(Path(a[0]), int(a[1]), float(a[2]), float(a[3])))
