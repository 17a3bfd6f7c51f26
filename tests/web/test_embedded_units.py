"""The embedded backend's view of upsd's store (real store objects, no sockets)."""

from __future__ import annotations

from pnut.poller import ServerSpec
from pnut.server.store import UpsEntry
from pnut.web.embedded import StoreBackend


def test_store_backend_follows_entries() -> None:
    a = UpsEntry("a", "dummy-ups-a", "First")
    b = UpsEntry("b", "dummy-ups-b", None)
    entries = [a, b]
    for entry in entries:
        entry.state.set_info("ups.status", "OL")
        entry.state.set_info("battery.charge", "90")
    a.connected, a.stale = True, False
    backend = StoreBackend(lambda: entries, ServerSpec("127.0.0.1", 3493), None)
    with backend.poller.subscribe() as sub:
        assert backend.sync(now=1) == 2
        changes = sub.pending()
        assert [(c.ups, c.kind, c.up, c.reason) for c in changes] == [
            ("a", "added", True, None), ("b", "added", False, "DRIVER-NOT-CONNECTED")]
        assert backend.sync(now=2) == 0  # nothing moved: no work, no change
        a.state.set_info("battery.charge", "80")
        a.fsd = True
        assert backend.sync(now=3) == 1
        (change,) = sub.pending()
        assert change.set == {"battery.charge": "80", "ups.status": "FSD OL"}
        b.connected = True  # connected, but no fresh data yet
        backend.sync(now=4)
        state_b = backend.fleet.get("127.0.0.1:3493", "b")
        assert state_b is not None and state_b.reason == "DATA-STALE"
        assert state_b.description == "Description unavailable"  # what upsd's LIST UPS says
        entries.remove(b)
        backend.sync(now=5)
        assert [c.kind for c in sub.pending()][-1] == "removed"
        assert [u.name for u in backend.fleet.upses()] == ["a"]
