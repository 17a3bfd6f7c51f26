"""snmp-ups when the agent goes away, comes back, or answers nonsense.

Unplug/replug: the agent is stopped under a running driver and started
again on the same port.  The data must go stale within two poll intervals
(plus the request's own timeout), the driver must keep trying without a
restart, fresh data must follow within 10 s of the agent answering, and no
``OB``/``LB`` may appear on the way.  A bad agent (wrong types, missing
objects, an object that never answers, overlong and binary strings) never
stops the driver; NUT's C driver reads the same values from it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from drvutil import DriverDir, SockConn
from snmpagent import Agent, have_snmpsim
from test_snmp_ups import C_DRIVER, CDriver, normalize, ups_conf

from pnut.driver.snmp.client import SnmpSettings, split_host_port
from pnut.driver.snmp.walk import format_scaled, strtol
from support import needs, wait_for

pytestmark = needs(None if have_snmpsim() else "snmpsim is not installed")

POWER_STATUS = "1.3.6.1.4.1.318.1.1.1.4.1.1.0"
BAD = "\n".join([
    "1.3.6.1.2.1.1.1.0|4x|00ff41",  # binary sysDescr: hex-dumped
    "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.318.1.3.2.7",
    "1.3.6.1.2.1.1.4.0|2|42",  # INTEGER where a string belongs
    "1.3.6.1.2.1.1.6.0|4|" + "x" * 300,  # longer than NUT's 128-byte buffer
    "1.3.6.1.4.1.318.1.1.1.1.1.1.0|4|Smart-UPS Bad",
    "1.3.6.1.4.1.318.1.1.1.1.2.3.0|2|12345",
    "1.3.6.1.4.1.318.1.1.1.2.1.1.0|4|garbage",  # status as text
    "1.3.6.1.4.1.318.1.1.1.2.2.1.0|4|abc",  # a number as text
    "1.3.6.1.4.1.318.1.1.1.2.2.2.0|5|",  # NULL, as RMCARD205 answers (nut#1275)
    "1.3.6.1.4.1.318.1.1.1.2.2.3.0|70|123456789",  # Counter64: not decoded
    "1.3.6.1.4.1.318.1.1.1.2.3.4.0|4|0x1F",  # strtol base 0
    "1.3.6.1.4.1.318.1.1.1.3.3.1.0|6|1.3.6.1.4.1.99.7",  # OID pointing nowhere
    "1.3.6.1.4.1.318.1.1.1.4.1.1.0|2|99",  # not in the lookup
    "1.3.6.1.4.1.318.1.1.1.4.2.1.0|2:delay|value=230,wait=100000",  # never answers
    "1.3.6.1.4.1.318.1.1.1.4.3.3.0|2|-5",  # NEGINVALID
    "1.3.6.1.4.1.318.1.1.1.5.2.7.0|4|high",
    "1.3.6.1.4.1.318.1.1.1.7.2.3.0|67|500",
]) + "\n"


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    ag = Agent(extra={"bad": BAD}).start()
    yield ag
    ag.close()


@pytest.fixture
def ddir() -> Iterator[DriverDir]:
    d = DriverDir()
    yield d
    d.close()


def test_format_and_strtol_follow_c() -> None:
    assert format_scaled(2232, 0.1) == "223.20"
    assert format_scaled(2300, 0.1) == "230"  # whole as a C float
    assert format_scaled(500, 0.1) == "50"
    assert format_scaled(30, 60.0) == "1800"
    assert format_scaled(-1, 1.0) == "-1"
    assert strtol("0x1F") == 31 and strtol("010") == 8 and strtol(" 42abc") == 42
    assert strtol("abc") is None and strtol("0") == 0 and strtol("-7") == -7


def test_port_and_settings_errors(ddir: DriverDir) -> None:
    assert split_host_port("ups.example:1161") == ("ups.example", 1161)
    assert split_host_port("[::1]:1161") == ("::1", 1161)
    assert split_host_port("10.0.0.5") == ("10.0.0.5", 161)
    settings = SnmpSettings("h", 161, community="topsecret")
    assert "topsecret" not in repr(settings)
    for bad, word in (("snmp_version = v4", "snmp_version"), ("port = host:99999", "port"),
                      ("snmp_version = v3\n  secLevel = authPriv\n  secName = u\n"
                       "  authPassword = short", "authPassword")):
        ddir.write("ups.conf", "[u]\n  driver = snmp-ups\n  port = 127.0.0.1\n  "
                   + bad.replace("port = host:99999", "community = x") + "\n"
                   if word != "port" else "[u]\n  driver = snmp-ups\n  port = host:99999\n")
        result = ddir.run("driver", "snmp-ups", "-a", "u")
        assert result.returncode != 0
        assert word in result.stderr + result.stdout


def test_bad_agent_does_not_stop_the_driver(agent: Agent, ddir: DriverDir) -> None:
    conf = ups_conf(agent, "bad", "snmp_timeout = 0.5", "snmp_retries = 1", "pollfreq = 1")
    ddir.write("ups.conf", conf.replace("pollfreq = 2\n", ""))
    proc = ddir.start("snmp-ups", "u")
    with ddir.conn("snmp-ups", "u") as conn:
        first = conn.dump()
        time.sleep(3)  # a few more walks over the same nonsense
        again = conn.dump()
    assert proc.poll() is None
    text = "\n".join(again)
    assert 'SETINFO ups.model "Smart-UPS Bad"' in text
    assert 'SETINFO device.description "00 FF 41"' in text
    assert 'SETINFO device.location "' + "x" * 127 + '"' in text
    assert 'SETINFO battery.voltage "3.10"' in text  # "0x1F" * 0.1
    assert "output.voltage" not in text  # never answered: dropped, not fatal
    assert "battery.runtime " not in text  # Counter64
    assert "ups.temperature" not in text  # NULL
    assert "DATAOK" in first and "DATAOK" in again


@needs(None if C_DRIVER.exists() else "Debian's nut-snmp is not installed")
def test_bad_agent_reads_like_nut(agent: Agent, ddir: DriverDir) -> None:
    # NUT reads snmp_timeout as whole seconds (atoi): 0.5 would be 0.
    conf = ups_conf(agent, "bad").replace("snmp_timeout = 3", "snmp_timeout = 1").replace(
        "snmp_retries = 2", "snmp_retries = 0")
    c = CDriver(conf)
    try:
        with c.conn() as conn:
            nut = conn.dump()
    finally:
        c.close()
    ddir.write("ups.conf", conf)
    ddir.start("snmp-ups", "u")
    with ddir.conn("snmp-ups", "u") as conn:
        ours = conn.dump()
    assert normalize(ours) == normalize(nut)


def _collect(conn: SockConn, until: str, timeout: float, seen: list[str]) -> float:
    """Read broadcasts into ``seen`` until the line ``until``; the seconds it took."""
    start = time.monotonic()
    conn.until(lambda line: seen.append(line) or line == until, timeout=timeout)
    return time.monotonic() - start


def test_unplug_and_replug(ddir: DriverDir) -> None:
    ag = Agent().start()
    try:
        ddir.write("ups.conf", ups_conf(ag, "apcc", "snmp_version = v2c", "pollinterval = 1",
                                        "snmp_timeout = 0.5", "snmp_retries = 1")
                   .replace("snmp_timeout = 3\n", "").replace("snmp_retries = 2\n", ""))
        proc = ddir.start("snmp-ups", "u")
        seen: list[str] = []
        with ddir.conn("snmp-ups", "u") as conn:
            assert conn.value("ups.status") == "OL"
            ag.stop()
            stale_after = _collect(conn, "DATASTALE", 20, seen)
            # two poll intervals (1 s) plus one request's timeout and retry (1 s)
            assert stale_after < 2 * 1 + 1 + 3, stale_after
            conn.until(lambda line: line == 'SETINFO driver.state "reconnect.trying"', 10)
            time.sleep(4)  # several attempts while the agent is away
            assert proc.poll() is None
            ag.start()
            back_after = _collect(conn, "DATAOK", 15, seen)
            assert back_after < 10, back_after
            # A power failure shows within a poll, without a full walk.
            ag.set("apcc", POWER_STATUS, "i", "3")
            conn.until(lambda line: line == 'SETINFO ups.status "OB"', 10)
            ag.set("apcc", POWER_STATUS, "i", "2")
            conn.until(lambda line: line == 'SETINFO ups.status "OL"', 10)
        statuses = [line for line in seen if line.startswith("SETINFO ups.status")]
        assert not any(" OB" in s or "LB" in s or '"OB' in s for s in statuses), statuses
        assert proc.poll() is None
        log = ddir.log_text()
        assert "reconnect" in log.lower()
        print(f"stale after {stale_after:.2f} s, data back {back_after:.2f} s after the agent")
    finally:
        ag.close()


def test_upsdrvctl_starts_snmp_ups(agent: Agent, ddir: DriverDir) -> None:
    ddir.write("ups.conf", ups_conf(agent, "mge"))
    result = ddir.run("upsdrvctl", "-u", "root", "start", "u", timeout=60)
    assert result.returncode == 0, result.stderr
    try:
        wait_for(lambda: ddir.socket("snmp-ups", "u").exists(), timeout=20)
        with ddir.conn("snmp-ups", "u") as conn:
            assert conn.value("ups.model") == "Eaton 5PX"
    finally:
        assert ddir.run("upsdrvctl", "stop", "u", timeout=60).returncode == 0
