"""snmp-ups against a real agent (snmpsim), and beside NUT's C snmp-ups.

The differential tests start Debian's ``/lib/nut/snmp-ups`` and pnut's
driver on the same agent and fixture and compare their DUMPALL replies
line for line (``driver.*`` aside).  The only tolerated difference is the
one docs/compat.md records: NUT breaks a hex-dumped string over two lines
of the driver socket, pnut keeps it on one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from drvutil import DriverDir, SockConn
from snmpagent import V3, Agent, SnmpdV3, have_snmpd, have_snmpsim

from support import NUT_BINDIR, Stack, Ups, needs, requires_nut, wait_for

pytestmark = needs(None if have_snmpsim() else "snmpsim is not installed")

C_DRIVER = Path("/lib/nut/snmp-ups")
MIBS = ("apcc", "ietf", "mge", "cyberpower")
COMMANDS = ("SETINFO", "SETFLAGS", "SETAUX", "ADDCMD", "ADDENUM", "ADDRANGE", "DELINFO",
            "DATAOK", "DATASTALE", "DUMPDONE", "DELCMD", "DELENUM", "DELRANGE")


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    ag = Agent().start()
    yield ag
    ag.close()


def ups_conf(agent: Agent, community: str, *extra: str) -> str:
    lines = ["[u]", "  driver = snmp-ups", f"  port = 127.0.0.1:{agent.port}",
             f"  community = {community}", "  pollfreq = 2", "  snmp_timeout = 3",
             "  snmp_retries = 2", *(f"  {x}" for x in extra)]
    return "\n".join(lines) + "\n"


#: Where NUT 2.8.0 is plainly wrong (docs/compat.md): the variable left out of the
#: comparison per fixture (the tests check both values on their own).
NUT_WRONG = {"cyberpower": "ups.status"}


def compare(mib: str, ours: list[str], nut: list[str]) -> None:
    """Equal DUMPALLs, apart from a variable NUT gets wrong on this fixture."""
    name = NUT_WRONG.get(mib)
    if name is not None:
        ours = [line for line in ours if not line.startswith(f"SETINFO {name} ")]
        nut = [line for line in nut if not line.startswith(f"SETINFO {name} ")]
    assert normalize(ours) == normalize(nut)


def normalize(lines: list[str]) -> list[str]:
    """Rejoin NUT's split hex values, drop driver.* and the framing lines."""
    joined: list[str] = []
    for line in lines:
        if joined and line.split(" ", 1)[0] not in COMMANDS:
            joined[-1] += " " + line
        else:
            joined.append(line)
    out = []
    for line in joined:
        if line in ("DUMPDONE", "DATAOK", "DATASTALE") or " driver." in line:
            continue
        out.append(re.sub(r'"((?:[0-9A-F]{2}\s+)+[0-9A-F]{2})\s*"',
                          lambda m: '"' + " ".join(m.group(1).split()) + '"', line))
    return sorted(out)


class CDriver:
    """Debian's snmp-ups in the foreground, in its own private state dir."""

    def __init__(self, conf: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cs-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        (self.dir / "ups.conf").write_text(conf)
        env = dict(os.environ, NUT_CONFPATH=str(self.dir), NUT_STATEPATH=str(self.dir),
                   NUT_ALTPIDPATH=str(self.dir))
        self.log = self.dir / "log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen([str(C_DRIVER), "-a", "u", "-F", "-u", "root"], env=env,
                                         stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        self.sock = self.dir / "snmp-ups-u"
        wait_for(lambda: self.proc.poll() is not None or self.sock.exists(), timeout=60)
        if self.proc.poll() is not None:
            raise RuntimeError(self.log.read_text(errors="replace"))

    def conn(self) -> SockConn:
        return SockConn(self.sock, timeout=30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def ddir() -> Iterator[DriverDir]:
    d = DriverDir()
    yield d
    d.close()


def pnut_dump(ddir: DriverDir, conf: str) -> list[str]:
    ddir.write("ups.conf", conf)
    ddir.start("snmp-ups", "u")
    with ddir.conn("snmp-ups", "u") as conn:
        return conn.dump()


needs_c = needs(None if C_DRIVER.exists() else "Debian's nut-snmp is not installed")


@needs_c
@pytest.mark.parametrize(("mib", "version"), [("apcc", "v1"), ("ietf", "v2c"), ("mge", "v1"),
                                              ("cyberpower", "v2c")])
def test_same_variables_as_nut_snmp_ups(agent: Agent, ddir: DriverDir, mib: str,
                                        version: str) -> None:
    conf = ups_conf(agent, mib, f"snmp_version = {version}")
    c = CDriver(conf)
    try:
        with c.conn() as conn:
            nut = conn.dump()
    finally:
        c.close()
    ours = pnut_dump(ddir, conf)
    assert any(line.startswith(f"SETINFO driver.version.data \"{mib} MIB") for line in ours), ours
    compare(mib, ours, nut)
    assert len(normalize(ours)) > 30
    if mib == "cyberpower":  # upsBaseOutputStatus onLine(2); NUT 2.8.0 shows ""
        assert 'SETINFO ups.status "OL"' in ours
        assert 'SETINFO ups.status ""' in nut


@needs_c
@needs(None if have_snmpd() else "Debian's snmpd is not installed")
def test_snmpv3_authpriv_same_as_nut(agent: Agent, ddir: DriverDir) -> None:
    front = SnmpdV3(agent, "apcc")
    try:
        conf = ups_conf(agent, "unused", "snmp_version = v3", "secLevel = authPriv",
                        f"secName = {V3['user']}", f"authPassword = {V3['auth']}",
                        f"privPassword = {V3['priv']}", "authProtocol = SHA",
                        "privProtocol = AES").replace(f":{agent.port}", f":{front.port}")
        c = CDriver(conf)
        try:
            with c.conn() as conn:
                nut = conn.dump()
        finally:
            c.close()
        ours = pnut_dump(ddir, conf)
    finally:
        front.close()
    assert normalize(ours) == normalize(nut)
    assert 'SETINFO ups.model "Smart-UPS 5000"' in ours
    text = "\n".join(ours) + ddir.log_text()
    for secret in (V3["auth"], V3["priv"], V3["user"]):
        assert secret not in text


def test_wrong_v3_password_is_an_error_without_the_password(agent: Agent,
                                                            ddir: DriverDir) -> None:
    ddir.write("ups.conf", ups_conf(agent, "x", "snmp_version = v3", "secLevel = authPriv",
                                    f"secName = {V3['user']}", "authPassword = wrongpass99",
                                    f"privPassword = {V3['priv']}", "authProtocol = SHA",
                                    "privProtocol = AES", "snmp_timeout = 0.5",
                                    "snmp_retries = 0"))
    result = ddir.run("driver", "snmp-ups", "-a", "u", timeout=60)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "127.0.0.1" in out
    assert "wrongpass99" not in out and V3["priv"] not in out


def test_community_is_not_published(agent: Agent, ddir: DriverDir) -> None:
    lines = pnut_dump(ddir, ups_conf(agent, "mge"))
    assert not any("community" in line for line in lines)
    assert 'SETINFO driver.parameter.port "127.0.0.1:' in "\n".join(lines)


def _tracking(conn: SockConn, request: str, ident: str) -> int:
    return conn.tracking(request, ident, timeout=30)


def test_instcmd_and_set_reach_the_agent(agent: Agent, ddir: DriverDir) -> None:
    ddir.write("ups.conf", ups_conf(agent, "apcc", "snmp_version = v2c"))
    ddir.start("snmp-ups", "u")
    with ddir.conn("snmp-ups", "u") as conn:
        assert _tracking(conn, "INSTCMD test.battery.start", "t1") == 0
        assert agent.get("apcc", "1.3.6.1.4.1.318.1.1.1.7.2.2.0") == "2"
        # An INTEGER object behind a STRING variable: sent as an integer.
        assert _tracking(conn, 'SET input.transfer.low "200"', "t2") == 0
        assert agent.get("apcc", "1.3.6.1.4.1.318.1.1.1.5.2.3.0") == "200"
        assert conn.value("input.transfer.low") == "200"
        # ENUM variable: the text goes out as its number.
        assert _tracking(conn, 'SET input.sensitivity "high"', "t3") == 0
        assert agent.get("apcc", "1.3.6.1.4.1.318.1.1.1.5.2.7.0") == "4"
        assert _tracking(conn, 'SET input.sensitivity "bogus"', "t4") == 2  # INVALID
        assert _tracking(conn, "INSTCMD no.such.command", "t5") == 1  # UNKNOWN
    agent.set("apcc", "1.3.6.1.4.1.318.1.1.1.5.2.3.0", "i", "208")
    agent.set("apcc", "1.3.6.1.4.1.318.1.1.1.5.2.7.0", "i", "3")


@needs_c
def test_nut_instcmd_reaches_the_agent_too(agent: Agent) -> None:
    agent.set("apcc", "1.3.6.1.4.1.318.1.1.1.7.2.5.0", "i", "1")
    c = CDriver(ups_conf(agent, "apcc", "snmp_version = v2c"))
    try:
        with c.conn() as conn:
            conn.dump()
            assert _tracking(conn, "INSTCMD calibrate.start", "c1") == 0
    finally:
        c.close()
    assert agent.get("apcc", "1.3.6.1.4.1.318.1.1.1.7.2.5.0") == "2"


def test_cyberpower_and_composite_commands(agent: Agent, ddir: DriverDir) -> None:
    ddir.write("ups.conf", ups_conf(agent, "cyberpower", "snmp_version = v2c"))
    ddir.start("snmp-ups", "u")
    with ddir.conn("snmp-ups", "u") as conn:
        # NUT 2.8.0 answers INVALID: the value sits in the table's length column.
        assert _tracking(conn, "INSTCMD calibrate.start", "p1") == 0
        assert agent.get("cyberpower", "1.3.6.1.4.1.3808.1.1.1.7.2.6.0") == "2"
    ddir.close()
    d2 = DriverDir()
    try:
        d2.write("ups.conf", ups_conf(agent, "mge"))
        d2.start("snmp-ups", "u")
        with d2.conn("snmp-ups", "u") as conn:
            assert _tracking(conn, "INSTCMD shutdown.return", "m1") == 0
    finally:
        d2.close()
    assert agent.get("mge", "1.3.6.1.2.1.33.1.8.3.0") == "30"
    assert agent.get("mge", "1.3.6.1.2.1.33.1.8.2.0") == "20"
    for oid in ("1.3.6.1.2.1.33.1.8.3.0", "1.3.6.1.2.1.33.1.8.2.0"):
        agent.set("mge", oid, "i", "-1")


@needs_c
def test_what_compat_md_says_nut_does(agent: Agent) -> None:
    """The NUT 2.8.0 behaviours docs/compat.md lists, checked on the C driver itself."""
    c = CDriver(ups_conf(agent, "apcc", "snmp_version = v2c"))
    try:
        with c.conn() as conn:
            conn.dump()
            # Sent as an OCTET STRING: the INTEGER object keeps its value.
            _tracking(conn, 'SET input.transfer.low "200"', "n1")
    finally:
        c.close()
    assert agent.get("apcc", "1.3.6.1.4.1.318.1.1.1.5.2.3.0") == "208"
    c = CDriver(ups_conf(agent, "cyberpower", "snmp_version = v2c"))
    try:
        with c.conn() as conn:
            conn.dump()
            assert _tracking(conn, "INSTCMD calibrate.start", "n2") == 2  # INVALID
    finally:
        c.close()
    c = CDriver(ups_conf(agent, "mge"))
    try:
        with c.conn() as conn:
            lines = conn.dump()
            assert "ADDCMD shutdown.return" in lines
            assert _tracking(conn, "INSTCMD shutdown.return", "n3") == 1  # UNKNOWN
    finally:
        c.close()


@requires_nut
def test_under_nut_upsd_with_nut_clients(agent: Agent) -> None:
    """pnut's snmp-ups behind NUT's C upsd: NUT's upsc, upscmd and upsrw reach the agent."""
    ups = Ups("rack", "", driver="snmp-ups")
    users = "[snmpadm]\n  password = snmppw\n  actions = SET\n  instcmds = ALL\n"
    with Stack([ups], users=users) as st:
        st.write("ups.conf", ups_conf(agent, "apcc", "snmp_version = v2c").replace("[u]", "[rack]"))
        st.start_driver(ups, "pnut")
        st.start_upsd("nut")
        target = f"rack@127.0.0.1:{st.port}"
        model = subprocess.run([str(NUT_BINDIR / "upsc"), target, "ups.model"],
                               capture_output=True, text=True, timeout=30)
        assert model.stdout.strip() == "Smart-UPS 5000"
        auth = ["-u", "snmpadm", "-p", "snmppw"]
        cmd = subprocess.run([str(NUT_BINDIR / "upscmd"), *auth, "-w", target,
                              "test.battery.start"], capture_output=True, text=True, timeout=60)
        assert cmd.returncode == 0 and "SUCCESS" in cmd.stderr, cmd
        rw = subprocess.run([str(NUT_BINDIR / "upsrw"), *auth, "-w", "-s",
                             "input.transfer.high=250", target],
                            capture_output=True, text=True, timeout=60)
        assert rw.returncode == 0 and "SUCCESS" in rw.stderr, rw
    assert agent.get("apcc", "1.3.6.1.4.1.318.1.1.1.7.2.2.0") == "2"
    assert agent.get("apcc", "1.3.6.1.4.1.318.1.1.1.5.2.2.0") == "250"
    agent.set("apcc", "1.3.6.1.4.1.318.1.1.1.5.2.2.0", "i", "253")


#: A power failure with a low and worn battery, per fixture: (OID, value), and the status.
ON_BATTERY = {
    "apcc": ([("1.3.6.1.4.1.318.1.1.1.4.1.1.0", "3"), ("1.3.6.1.4.1.318.1.1.1.2.1.1.0", "3"),
              ("1.3.6.1.4.1.318.1.1.1.2.2.4.0", "2")], "OB LB RB"),
    "ietf": ([("1.3.6.1.2.1.33.1.4.1.0", "5"), ("1.3.6.1.2.1.33.1.2.1.0", "3")], "LB OB TEST"),
    "mge": ([("1.3.6.1.4.1.705.1.7.3.0", "1"), ("1.3.6.1.4.1.705.1.5.16.0", "1"),
             ("1.3.6.1.2.1.33.1.4.1.0", "5")], "LB OB OB"),
    "cyberpower": ([("1.3.6.1.4.1.3808.1.1.1.4.1.1.0", "3"),
                    ("1.3.6.1.4.1.3808.1.1.1.2.1.1.0", "3"),
                    ("1.3.6.1.4.1.3808.1.1.1.2.2.5.0", "2")], "OB LB RB"),
}


@needs_c
@pytest.mark.parametrize("mib", sorted(ON_BATTERY))
def test_on_battery_status_as_nut(agent: Agent, ddir: DriverDir, mib: str) -> None:
    changes, status = ON_BATTERY[mib]
    before = [(oid, agent.get(mib, oid)) for oid, _ in changes]
    for oid, value in changes:
        assert agent.set(mib, oid, "i", value)
    try:
        conf = ups_conf(agent, mib)
        c = CDriver(conf)
        try:
            with c.conn() as conn:
                nut = conn.dump()
        finally:
            c.close()
        ours = pnut_dump(ddir, conf)
    finally:
        for oid, old in before:
            assert old is not None and agent.set(mib, oid, "i", old)
    assert f'SETINFO ups.status "{status}"' in ours
    compare(mib, ours, nut)
    if mib == "cyberpower":  # NUT 2.8.0 never maps the power status (nut#2994)
        assert 'SETINFO ups.status "LB RB"' in nut


def test_kill_power(agent: Agent, ddir: DriverDir) -> None:
    """``-k``: shutdown.return (APC's own OID; MGE's through its delay objects)."""
    ddir.write("ups.conf", ups_conf(agent, "apcc", "snmp_version = v2c"))
    assert ddir.run("driver", "snmp-ups", "-a", "u", "-k", timeout=60).returncode == 0
    assert agent.get("apcc", "1.3.6.1.4.1.318.1.1.1.6.1.1.0") == "2"
    ddir.write("ups.conf", ups_conf(agent, "mge", "offdelay = 45"))
    assert ddir.run("driver", "snmp-ups", "-a", "u", "-k", timeout=60).returncode == 0
    assert agent.get("mge", "1.3.6.1.2.1.33.1.8.3.0") == "30"  # ups.delay.start
    assert agent.get("mge", "1.3.6.1.2.1.33.1.8.2.0") == "45"  # offdelay
    agent.set("apcc", "1.3.6.1.4.1.318.1.1.1.6.1.1.0", "i", "1")
    for oid in ("1.3.6.1.2.1.33.1.8.3.0", "1.3.6.1.2.1.33.1.8.2.0"):
        agent.set("mge", oid, "i", "-1")
