"""Embedders read the store and are told of every change a driver reports."""

from __future__ import annotations

from pathlib import Path

from pnut.protocol import driversock as ds
from pnut.server.driverlink import DriverLink
from pnut.server.store import Store, UpsEntry
from pnut.server.tracking import Tracker


def test_watchers_see_each_update_and_can_stop() -> None:
    store = Store()
    entry = UpsEntry("ups", "dummy-ups-ups")
    store.add(entry)
    link = DriverLink(entry, Path("."), 15, Tracker(60.0), store)
    seen: list[tuple[str, object]] = []
    stop = store.watch(lambda e, update: seen.append((e.name, update)))
    store.watch(lambda e, update: 1 / 0)  # a failing watcher is logged, others go on
    link._received(b'SETINFO ups.status "OB"\nBOGUS\nDUMPDONE\n')
    assert seen == [("ups", ds.SetInfo("ups.status", "OB")), ("ups", ds.DumpDone())]
    assert entry.state.value("ups.status") == "OB"
    stop()
    link._received(b"SETINFO ups.status OL\n")
    assert len(seen) == 2 and entry.state.value("ups.status") == "OL"
