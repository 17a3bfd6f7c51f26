"""A device lost and found, seen by NUT's own upsmon: COMMBAD, NOCOMM, COMMOK, no ONBATT.

pnut's sim driver with ``devicefile`` (the file is the cable) under NUT's C
upsd, watched by NUT's C upsmon and by pnut's.  Unplugging makes the driver
report DATASTALE within two polls; upsd then answers DATA-STALE and both
upsmons call the UPS unreachable (COMMBAD, then NOCOMM after NOCOMMWARNTIME)
— never on battery.  Plugging back in brings COMMOK without restarting
anything.
"""

from __future__ import annotations

import time

from monitors import USERS, Cluster

from conftest import requires_nut
from support import Stack, Ups, wait_for


@requires_nut
def test_upsmon_sees_nocomm_then_commok_and_no_false_onbatt() -> None:
    ups = Ups("ups", "", driver="sim",
              extra={"pollinterval": "1", "seed": "5", "restore_after": "-1",
                     "devicefile": "ups.dev"})
    st = Stack([ups], users=USERS)
    try:
        st.start(upsd="nut", driver="pnut")
        cluster = Cluster(st)
        settings = {"NOCOMMWARNTIME": "2"}
        nut = cluster.node("nut", [f"ups@127.0.0.1:{st.port} 1 admin adminpw primary"],
                           impl="nut", settings=settings)
        mine = cluster.node("pnut", [f"ups@127.0.0.1:{st.port} 1 mon monpw secondary"],
                            settings=settings)
        time.sleep(3)  # both logged in and polling
        (st.dir / "ups.dev").unlink()
        for node in (nut, mine):
            wait_for(lambda n=node.name: "NOCOMM" in cluster.events.notified(n), timeout=30)
        (st.dir / "ups.dev").write_text("")
        for node in (nut, mine):
            wait_for(lambda n=node.name: "COMMOK" in cluster.events.notified(n), timeout=30)
        for node in (nut, mine):
            seen = cluster.events.notified(node.name)
            assert seen.index("COMMBAD") < seen.index("NOCOMM") < seen.index("COMMOK"), seen
            assert "ONBATT" not in seen and "LOWBATT" not in seen, seen
            assert node.running()
    finally:
        st.close()
