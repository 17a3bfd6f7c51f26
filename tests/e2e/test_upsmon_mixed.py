"""Mixed pair: NUT's C upsmon as primary, a pnut upsmon secondary, pnut's upsd.

(pnut's upsmon against NUT's C upsd is the ``nut-upsd`` case of
test_shutdown_story.)  This checks that pnut's upsd serves NUT's own upsmon
through a whole shutdown, and that pnut's secondary and ``upsmon -K``
interoperate with NUT's primary and its POWERDOWNFLAG.  (The same test
passes with NUT's C upsd and driver in place of pnut's.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from monitors import USERS, Cluster, Link

from conftest import requires_nut
from support import Stack, Ups, wait_for

DEV = "ups.status: OL\nbattery.charge: 100\n"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    st = Stack([Ups(name, DEV, extra={"pollinterval": "1"}) for name in ("ups", "ups1", "ups2")],
               users=USERS)
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


def _squeeze(lines: list[str]) -> list[str]:
    """Drop immediate repeats (the number of polls depends on timing)."""
    return [ln for i, ln in enumerate(lines) if i == 0 or ln != lines[i - 1]]


@requires_nut
def test_wire_conversation_is_nuts(cluster: Cluster) -> None:
    """What pnut's upsmon sends, from login to shutdown, next to NUT's own."""
    c = cluster
    links = {"ups1": Link(c.stack.port), "ups2": Link(c.stack.port)}
    nodes = {
        "ups1": c.node("nut", [f"ups1@127.0.0.1:{links['ups1'].port} 1 admin adminpw primary"],
                       impl="nut", settings={"FINALDELAY": "0"}),
        "ups2": c.node("pnut", [f"ups2@127.0.0.1:{links['ups2'].port} 1 admin adminpw primary"],
                       settings={"FINALDELAY": "0"}),
    }
    try:
        wait_for(lambda: c.numlogins("ups1") == 1 and c.numlogins("ups2") == 1, timeout=20)
        for ups in ("ups1", "ups2"):
            c.set_status(ups, "OB LB")
        for node in nodes.values():
            assert c.wait_exit(node, 20) == 0, c.dump()
        common = ["USERNAME admin", "PASSWORD adminpw", "LOGIN {}", "PRIMARY {}",
                  "GET VAR {} ups.status", "FSD {}", "GET NUMLOGINS {}"]
        # Both try STARTTLS first (refused: no certificate here).  NUT's upsmon
        # leaves without LOGOUT after SHUTDOWNCMD; pnut's logs out before it.
        assert _squeeze(links["ups1"].sent) == ["STARTTLS", *(x.format("ups1") for x in common)]
        assert _squeeze(links["ups2"].sent) == ["STARTTLS", *(x.format("ups2") for x in common),
                                                "LOGOUT"]
    finally:
        for link in links.values():
            link.cut()
        for node in nodes.values():
            c.stack.stop(node.proc)  # type: ignore[arg-type]


@requires_nut
def test_shutdowncmd_and_notifycmd_keep_their_quoting(cluster: Cluster) -> None:
    """The shell gets SHUTDOWNCMD and NOTIFYCMD with their quotes: quoted, the
    string NUT's upsmon runs (same file written); unquoted over several words,
    the rest of the line as written (NUT would run only ``/bin/sh``)."""
    c = cluster
    port = c.stack.port

    def commands(out: Path, quoted: bool) -> str:
        if quoted:  # one word, NUT's unescaping: \" is "
            return (f'SHUTDOWNCMD "/bin/sh -c \'printf \\"<%s>\\" \\"a  b\\" c > {out}.sd\'"\n'
                    f'NOTIFYCMD "/bin/sh -c \'[ \\"$NOTIFYTYPE\\" != SHUTDOWN ] || '
                    f'printf \\"<%s>\\" \\"$0\\" \\"d  e\\" > {out}.nt\'"\n')
        return (f"SHUTDOWNCMD /bin/sh -c \"printf '<%s>' 'a  b' c > {out}.sd\"  # note\n"
                f"NOTIFYCMD /bin/sh -c '[ \"$NOTIFYTYPE\" != SHUTDOWN ] || "
                f"printf \"<%s>\" \"$0\" \"d  e\" > {out}.nt'\n")

    runs = {"nut": ("ups", True, "nut", False), "pnut": ("ups1", True, "pnut", False),
            "pnut-words": ("ups2", False, "pnut", True)}
    nodes = {name: c.node(name, [f"{ups}@127.0.0.1:{port} 1 admin adminpw primary"],
                          impl=impl, split=split, settings={"FINALDELAY": "0"},
                          extra=commands(c.stack.dir / name, quoted))
             for name, (ups, quoted, impl, split) in runs.items()}
    try:
        wait_for(lambda: all(c.numlogins(u) == 1 for u, *_ in runs.values()), timeout=20)
        for ups, *_ in runs.values():
            c.set_status(ups, "OB LB")
        for node in nodes.values():
            assert c.wait_exit(node, 20) == 0, c.dump()
        for name in runs:
            out = c.stack.dir / name
            assert (Path(f"{out}.sd").read_text(), Path(f"{out}.nt").read_text()) == (
                "<a  b><c>", "<Auto logout and shutdown proceeding><d  e>"), name
    finally:
        for node in nodes.values():
            c.stack.stop(node.proc)  # type: ignore[arg-type]
