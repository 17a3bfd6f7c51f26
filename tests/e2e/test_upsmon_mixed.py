"""Mixed pair: NUT's C upsmon as primary, a pnut upsmon secondary, pnut's upsd.

(pnut's upsmon against NUT's C upsd is the ``nut-upsd`` case of
test_shutdown_story.)  This checks that pnut's upsd serves NUT's own upsmon
through a whole shutdown, and that pnut's secondary and ``upsmon -K``
interoperate with NUT's primary and its POWERDOWNFLAG.  (The same test
passes with NUT's C upsd and driver in place of pnut's.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from monitors import USERS, Cluster

from conftest import requires_nut
from support import Stack, Ups, wait_for

DEV = "ups.status: OL\nbattery.charge: 100\n"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    st = Stack([Ups("ups", DEV, extra={"pollinterval": "1"})], users=USERS)
    try:
        st.start(upsd="pnut", driver="pnut")
        yield Cluster(st)
    finally:
        st.close()


@requires_nut
def test_nut_upsmon_primary_pnut_secondary(cluster: Cluster) -> None:
    c = cluster
    port = c.stack.port
    primary = c.node("cprimary", [f"ups@127.0.0.1:{port} 1 admin adminpw primary"], impl="nut")
    secondary = c.node("secondary", [f"ups@127.0.0.1:{port} 1 mon monpw secondary"],
                       settings={"HOSTSYNC": "30"})
    try:
        wait_for(lambda: c.numlogins("ups") == 2, timeout=20)
        c.write_status("ups", "OB")
        for n in (primary, secondary):
            wait_for(lambda n=n: "ONBATT" in c.events.notified(n.name), timeout=15)
        c.write_status("ups", "OB LB")
        assert c.wait_exit(secondary, 30) == 0, c.dump()
        assert c.wait_exit(primary, 30) == 0, c.dump()
        ev = c.events
        t_sec, t_pri = ev.shutdown_time("secondary"), ev.shutdown_time("cprimary")
        assert t_sec is not None and t_pri is not None, c.dump()
        assert t_sec < t_pri < t_sec + 5
        assert {"ONBATT", "FSD", "SHUTDOWN"} <= set(ev.notified("secondary"))
        assert {"ONBATT", "LOWBATT", "SHUTDOWN"} <= set(ev.notified("cprimary"))
        assert c.status("ups").split()[0] == "FSD"
        # NUT wrote the flag; pnut's upsmon -K (run by the SHUTDOWNCMD) accepts it.
        assert c.flag(primary).read_bytes() == b"upsmon-shutdown-file"
        assert [r.what for r in ev.of("cprimary", "upsmon-K")] == ["0"]
    finally:
        for n in (primary, secondary):
            c.stack.stop(n.proc)  # type: ignore[arg-type]
