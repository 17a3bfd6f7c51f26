"""upsd's driver link on an injected clock: PING, staleness and recovery, no sleeping."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import cast

from pnut.server.driverlink import DriverLink, _DriverProtocol
from pnut.server.evloop import EpollLoop
from pnut.server.store import Store, UpsEntry
from pnut.server.tracking import Tracker
from pnut.server.transport import Transport


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Wire:
    """The socket to the driver, as the link writes to it."""

    def __init__(self) -> None:
        self.sent = b""
        self.closing = False
        self.paused = False

    def write(self, data: bytes) -> int:
        self.sent += data
        return 0  # nothing left queued (Transport.write's answer)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def link(maxage: int = 15, loop: EpollLoop | None = None,
         ) -> tuple[DriverLink, UpsEntry, Wire, Clock, list[object]]:
    clock = Clock()
    store = Store()
    entry = UpsEntry("ups", "dummy-ups-ups")
    store.add(entry)
    changes: list[object] = []
    store.watch(lambda e, update: changes.append(update))
    lk = DriverLink(entry, Path("."), maxage, Tracker(60.0, clock), store, clock, loop)
    wire = Wire()
    lk._connected(cast(Transport, wire))
    return lk, entry, wire, clock, changes


def test_dumpall_then_wait_until_the_dump_is_done() -> None:
    lk, entry, wire, _, changes = link()
    assert wire.sent == b"DUMPALL\n" and entry.connected and not entry.stale
    assert entry.state.value("ups.status") == "WAIT"
    lk._received(b'SETINFO ups.status "OL"\nDATAOK\nDUMPDONE\n')
    assert entry.state.value("ups.status") == "OL" and not entry.stale
    assert changes[0] is None and len(changes) == 4  # connected, then three updates


def test_ping_after_a_third_of_maxage_and_stale_after_maxage() -> None:
    lk, entry, wire, clock, _ = link(maxage=15)
    lk._received(b"DATAOK\nDUMPDONE\n")
    wire.sent = b""
    clock.now += 5
    lk.tick(clock.now)
    assert wire.sent == b""  # not silent for more than MAXAGE/3 yet
    clock.now += 1
    lk.tick(clock.now)
    assert wire.sent == b"PING\n"
    clock.now += 10  # 16 s of silence: MAXAGE + 1, not more
    lk.tick(clock.now)
    assert not entry.stale
    clock.now += 0.5
    lk.tick(clock.now)
    assert entry.stale
    lk._received(b"PONG\n")  # the driver answers: fresh at the next look
    lk.tick(clock.now)
    assert not entry.stale


def test_datastale_after_the_dump_is_stale_at_once_and_dataok_recovers() -> None:
    lk, entry, _, clock, changes = link()
    lk._received(b"DATAOK\nDUMPDONE\n")
    lk._received(b"DATASTALE\n")
    assert entry.stale and changes[-1] is None  # watchers hear of it
    clock.now += 1
    lk._received(b"DATAOK\n")
    assert not entry.stale


def test_a_lost_driver_flushes_the_state() -> None:
    lk, entry, _, _, changes = link()
    lk._received(b'SETINFO ups.status "OL"\nDATAOK\nDUMPDONE\n')
    lk._lost(_DriverProtocol(lk), None)
    assert not entry.connected and entry.stale and entry.state.value("ups.status") is None
    assert changes[-1] is None


def test_a_flooding_driver_is_read_a_bounded_piece_per_loop_turn() -> None:
    from pnut.server.driverlink import DRIVER_BYTES_PER_TURN

    loop = EpollLoop()
    lk, entry, wire, _, _ = link(loop=loop)
    flood = b"".join(b'SETINFO v%d "%d"\n' % (i, i) for i in range(20_000))
    lk._received(flood)
    seen = [len(entry.state.variables())]
    assert wire.paused  # no more reading while the rest waits
    for _ in range(200):
        if not wire.paused:
            break
        loop._run_once()  # one pass: other callbacks run between the pieces
        seen.append(len(entry.state.variables()))
    assert not wire.paused and seen[-1] == 20_000 + 1  # ups.status WAIT too
    loop.close()
    steps = [b - a for a, b in itertools.pairwise(seen) if b > a]
    assert len(steps) > 10
    shortest = len(b'SETINFO v0 "0"\n')
    assert max(steps) <= DRIVER_BYTES_PER_TURN // shortest + 1
