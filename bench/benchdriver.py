"""A minimal driver for the propagation benchmark: N UPSes on N sockets.

    python bench/benchdriver.py STATEPATH NUPS SECONDS INTERVAL

Serves NUT's driver socket ``STATEPATH/bench-ups<i>`` for each UPS with
the shared codec (pnut.protocol.state), answers DUMPALL and PING, and every
INTERVAL seconds changes ``bench.seq`` on the next UPS in turn.  Each
change is printed as ``SENT <ups index> <value> <monotonic time>`` right
after the SETINFO line was written to every connected upsd, so the bench
can match it with the moment a network client first sees the value.
Deliberately minimal: what is measured is upsd, not a driver framework.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pnut.protocol.state import UpsState
from pnut.protocol.tokens import Tokenizer


class BenchUps:
    def __init__(self) -> None:
        self.state = UpsState()
        for name, value in (("ups.status", "OL"), ("device.model", "bench"), ("bench.seq", "0")):
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

    def change(self, value: str) -> None:
        line = self.state.set_info("bench.seq", value)
        if line is not None:
            for writer in self.writers:
                writer.write(line.encode())


async def main(statepath: Path, nups: int, seconds: float, interval: float) -> None:
    upses = [BenchUps() for _ in range(nups)]
    servers = []
    for i, ups in enumerate(upses):
        path = statepath / f"bench-ups{i}"
        path.unlink(missing_ok=True)
        servers.append(await asyncio.start_unix_server(ups.serve, str(path)))
        os.chmod(path, 0o660)
    print("READY", flush=True)
    seq = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(interval)
        seq += 1
        k = seq % nups
        upses[k].change(str(seq))  # transport.write sends at once when it can
        print(f"SENT {k} {seq} {time.monotonic():.6f}", flush=True)
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])))
