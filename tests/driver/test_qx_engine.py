"""The nutdrv_qx engine against the emulated devices, in process (no pty, no timing)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qxutil import MemoryTransport

from pnut.driver.base import DriverError
from pnut.driver.dstate import DriverState
from pnut.driver.emulators.qxdevice import DEFAULT_STATE, QxDevice
from pnut.driver.emulators.voltronic import VoltronicDevice
from pnut.driver.qx import DIALECTS
from pnut.driver.qx.engine import STATUS_ORDER, Dialect, QxEngine, detect
from pnut.driver.qx.items import Item, extract
from pnut.driver.sockproto import Stat
from pnut.protocol.cnum import atoi, strtod

#: emulated dialect -> (protocol NUT's detection settles on, probes sent on the way)
_V = [b"QGS\r"] * 3  # Voltronic (QPI) first, three tries
_M = [*_V, *[b"M\r"] * 6]  # then Voltronic-QS and Voltronic-QS-Hex, three tries each
_TO_MECER = _M + [b"QS\r"] * 3 + [b"D\r"] * 3 + [b"Q1\r", b"ID\r"] * 3  # Bestups: Q1 + ID
DETECTED = {
    "voltronic": ("Voltronic", [b"QGS\r", b"QPI\r"]),
    "voltronic-qs": ("Voltronic-QS", [*_V, b"M\r", b"QS\r"]),
    "voltronic-qs-hex": ("Voltronic-QS-Hex", [*_V, *[b"M\r"] * 3, b"M\r", b"QS\r"]),
    "voltronic-qs-hex-t": ("Voltronic-QS-Hex", [*_V, *[b"M\r"] * 3, b"M\r", b"QS\r"]),
    "mustek": ("Mustek", [*_M, b"QS\r"]),
    "megatec-old": ("Megatec/old", [*_M, *[b"QS\r"] * 3, b"D\r"]),
    "mecer": ("Mecer", [*_TO_MECER, b"Q1\r", b"QPI\r"]),
    "bestups": ("BestUPS", [*_M, *[b"QS\r"] * 3, *[b"D\r"] * 3, b"Q1\r", b"ID\r"]),
    "megatec": ("Megatec", [*_TO_MECER, *[b"Q1\r", b"QPI\r"] * 3, b"Q1\r", b"I\r"]),
    # Zinto comes before Hunnox in NUT's list and both read Q1 + FW?.
    "zinto": ("Zinto", [*_TO_MECER, *[b"Q1\r", b"QPI\r"] * 3, *[b"Q1\r", b"I\r"] * 3,
                        b"Q1\r", b"FW?\r"]),
    "hunnox": ("Zinto", [*_TO_MECER, *[b"Q1\r", b"QPI\r"] * 3, *[b"Q1\r", b"I\r"] * 3,
                         b"Q1\r", b"FW?\r"]),
    "q1": ("Q1", [*_TO_MECER, *[b"Q1\r", b"QPI\r"] * 3, *[b"Q1\r", b"I\r"] * 3,
                  *[b"Q1\r", b"FW?\r"] * 6, b"Q1\r"]),
}


class Setup:
    def __init__(self, dialect: str, protocol: str | None = None,
                 settings: dict[str, str] | None = None, **state: Any) -> None:
        self.device = (VoltronicDevice() if dialect == "voltronic"
                       else QxDevice(dialect, dict(DEFAULT_STATE, **state)))
        self.transport = MemoryTransport(self.device)
        self.ds = DriverState()
        self.settings = settings or {}
        self.protocol = protocol
        self.clock = 1000.0

    def make(self, dialect: Dialect) -> QxEngine:
        return QxEngine(dialect, self.transport, self.ds, self.settings, frozenset(),
                        clock=lambda: self.clock)

    def start(self) -> QxEngine:
        async def go() -> QxEngine:
            engine = await detect(DIALECTS, self.protocol, self.make)
            assert engine is not None
            if engine.dialect.initups:
                engine.dialect.initups(engine)
            await engine.init_info()
            assert await engine.update()
            return engine
        return asyncio.run(go())

    def values(self) -> dict[str, str]:
        return {v.name: v.value for v in self.ds.tree.variables()}


@pytest.mark.parametrize("dialect", sorted(DETECTED))
def test_detection_follows_nuts_order(dialect: str) -> None:
    s = Setup(dialect)
    engine = s.start()
    protocol, probes = DETECTED[dialect]
    assert engine.dialect.protocol == protocol
    assert s.transport.sent[: len(probes)] == probes
    values = s.values()
    assert values["driver.version.data"] == engine.dialect.name
    assert values["ups.status"] == "OL"
    assert values["input.voltage"] == "230.4"
    if not dialect.startswith("voltronic-qs-hex"):  # its battery volts come in 1/510ths
        assert values["battery.voltage"] == "27.20"


def test_megatec_variables_flags_and_commands() -> None:
    s = Setup("megatec")
    s.start()
    v = s.values()
    assert v["device.mfr"] == "PNUT-EMU" and v["device.model"] == "QX1500"
    assert v["ups.firmware"] == "VER 1.2" and v["ups.type"] == "offline / line interactive"
    assert v["input.voltage.nominal"] == "230" and v["battery.voltage.nominal"] == "24.0"
    # NUT's guesses when the device gives no battery limits
    assert v["battery.voltage.low"] == "20.80" and v["battery.voltage.high"] == "26.00"
    assert v["battery.charge"] == "100" and v["ups.beeper.status"] == "enabled"
    delay = s.ds.get("ups.delay.shutdown")
    assert delay is not None and delay.writable and delay.ranges == [(12, 600)]
    assert sorted(s.ds.tree.commands()) == [
        "beeper.toggle", "load.off", "load.on", "shutdown.return", "shutdown.stayoff",
        "shutdown.stop", "test.battery.start", "test.battery.start.deep",
        "test.battery.start.quick", "test.battery.stop"]


@pytest.mark.parametrize(("bits", "volts", "status"), [
    ("10001000", {}, "OB"),
    ("11001000", {}, "OB LB"),
    ("00101000", {"output_voltage": 200.0}, "OL TRIM"),
    ("00101000", {"output_voltage": 250.0}, "OL BOOST"),
    ("00101000", {}, "OL BYPASS"),
    ("00001100", {}, "OL CAL"),
    ("00001010", {}, "ALARM OL FSD"),
    ("00011000", {}, "ALARM OL"),
])
def test_status_bits(bits: str, volts: dict[str, float], status: str) -> None:
    s = Setup("megatec", bits=bits, **volts)
    engine = s.start()
    # Alarms are gathered by full updates only (every pollfreq), as in NUT.
    s.clock += 31
    assert asyncio.run(engine.update())
    assert s.values()["ups.status"] == status


def test_alarm_texts_come_with_the_first_full_update() -> None:
    s = Setup("megatec", bits="00011010")
    engine = s.start()
    assert "ups.alarm" not in s.values()
    s.clock += 31
    assert asyncio.run(engine.update())
    assert s.values()["ups.alarm"] == "UPS selftest failed! Shutdown imminent!"


def test_quick_polls_read_only_the_status_until_pollfreq() -> None:
    s = Setup("megatec")
    engine = s.start()

    async def poll() -> bool:
        return await engine.update()

    s.transport.sent.clear()
    s.device.state.update(bits="10001000", input_voltage=0.0)
    s.clock += 10
    assert asyncio.run(poll())
    assert s.transport.sent == [b"Q1\r"]
    assert s.values()["ups.status"] == "OB"
    assert s.values()["input.voltage"] == "230.4"  # refreshed at the next full update only
    s.clock += 30
    assert asyncio.run(poll())
    assert s.values()["input.voltage"] == "000.0".replace("000.0", "0.0")


@pytest.mark.parametrize(("cmd", "param", "sent"), [
    ("beeper.toggle", None, b"Q\r"),
    ("load.off", None, b"S00R0000\r"),
    ("load.on", None, b"C\r"),
    ("shutdown.return", None, b"S.5R0003\r"),
    ("shutdown.stayoff", None, b"S.5R0000\r"),
    ("shutdown.stop", None, b"C\r"),
    ("test.battery.start", None, b"T10\r"),
    ("test.battery.start", "120", b"T02\r"),
    ("test.battery.start.deep", None, b"TL\r"),
    ("test.battery.start.quick", None, b"T\r"),
    ("test.battery.stop", None, b"CT\r"),
])
def test_instant_commands_send_nuts_bytes(cmd: str, param: str | None, sent: bytes) -> None:
    s = Setup("megatec")
    engine = s.start()
    s.transport.sent.clear()
    assert asyncio.run(engine.instcmd(cmd, param)) == Stat.HANDLED
    assert s.transport.sent == [sent]


def test_refused_commands_and_sets() -> None:
    s = Setup("megatec")
    engine = s.start()
    assert asyncio.run(engine.instcmd("test.battery.start", "30")) == Stat.FAILED
    assert asyncio.run(engine.instcmd("calibrate.start", None)) == Stat.INVALID
    assert asyncio.run(engine.setvar("ups.delay.shutdown", "700")) == Stat.UNKNOWN
    assert asyncio.run(engine.setvar("ups.delay.shutdown", "abc")) == Stat.UNKNOWN
    assert asyncio.run(engine.setvar("ups.delay.shutdown", "45")) == Stat.HANDLED
    assert s.values()["ups.delay.shutdown"] == "42"
    assert asyncio.run(engine.setvar("ups.delay.start", "150")) == Stat.HANDLED
    assert s.values()["ups.delay.start"] == "120"
    s.transport.sent.clear()
    assert asyncio.run(engine.instcmd("shutdown.return", None)) == Stat.HANDLED
    assert s.transport.sent == [b"S.7R0002\r"]


def test_voltronic_qs_reads_output_side_and_refuses_by_reply() -> None:
    s = Setup("voltronic-qs")
    engine = s.start()
    v = s.values()
    assert v["ups.firmware.aux"] == "PM-V" and v["output.frequency"] == "50.0"
    assert "input.frequency" not in v and v["output.voltage.nominal"] == "230"
    assert "test.battery.start.deep" not in s.ds.tree.commands()
    # an unknown command comes back echoed: characters 1..3 are not empty -> FAILED
    s.device.state["fault"] = "none"
    item = engine.find("beeper.toggle")
    assert item is not None
    item.command = "XYZ\r"
    assert asyncio.run(engine.instcmd("beeper.toggle", None)) == Stat.FAILED


@pytest.mark.parametrize("fault", ["garbage", "truncated", "silent"])
def test_bad_replies_fail_the_poll_without_raising(fault: str) -> None:
    s = Setup("megatec")
    engine = s.start()
    before = s.values()
    s.device.state["fault"] = fault
    s.clock += 60
    assert asyncio.run(engine.update()) is False
    assert s.values() == before
    s.device.state["fault"] = "none"
    assert asyncio.run(engine.update()) is True


def test_non_numeric_readings_are_skipped_and_the_status_still_read() -> None:
    s = Setup("megatec")
    engine = s.start()
    before = s.values()
    s.device.state.update(fault="nonnumeric", bits="10001000")
    s.clock += 60
    assert asyncio.run(engine.update()) is True
    after = s.values()
    assert after["ups.status"] == "OB"
    assert after["input.voltage"] == before["input.voltage"]  # "X30.4" was not published


def test_runtimecal_estimates_runtime_and_charge() -> None:
    s = Setup("megatec", settings={"runtimecal": "240,100,720,50", "chargetime": "3600",
                                   "idleload": "10"})
    engine = s.start()
    assert s.values()["battery.charge"] == "100"
    s.device.state.update(bits="10001000", load=50)
    s.clock += 100
    engine.data_has_changed = True
    assert asyncio.run(engine.update())
    v = s.values()
    assert v["ups.status"] == "OB"
    assert 0 < int(v["battery.runtime"]) < 720 and int(v["battery.charge"]) < 100


def test_c_conversions() -> None:
    assert strtod(" 12.5x") == 12.5 and strtod("abc") == 0.0 and strtod("") == 0.0
    assert atoi("0042 ") == 42 and atoi("-7x") == -7
    item = Item("x", "Q1\r", 5, "(", 1, 3)
    assert extract(item, "(1234\r", 6) == "123"
    assert extract(item, "(12\r", 4) is None  # short
    assert extract(item, "#1234\r", 6) is None  # wrong leading character
    assert extract(Item("y", "M\r"), "V\r", 2) == "V"


def test_mecer_p98_commands_and_refusals() -> None:
    s = Setup("mecer")
    engine = s.start()
    assert s.values()["ups.firmware.aux"] == "Voltronic Power P98"
    s.transport.sent.clear()
    assert asyncio.run(engine.instcmd("test.battery.start", "30")) == Stat.HANDLED
    assert s.transport.sent == [b"T.5\r"]  # P98 units test from 12 s
    assert asyncio.run(engine.instcmd("test.battery.start", "x")) == Stat.FAILED
    item = engine.find("beeper.toggle")
    assert item is not None
    item.command = "ZZ\r"  # the device answers (NAK
    assert asyncio.run(engine.instcmd("beeper.toggle", None)) == Stat.FAILED


class RandomDevice:
    """Answers every command with bytes chosen by hypothesis."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = replies
        self.i = 0

    def handle(self, command: bytes) -> bytes:
        self.i += 1
        return self.replies[self.i % len(self.replies)] if self.replies else b""


_VALID = [QxDevice(d).handle(c) for d, c in (
    ("megatec", b"Q1"), ("megatec", b"F"), ("megatec", b"I"), ("voltronic-qs", b"M"),
    ("mecer", b"QPI"), ("mecer", b"Q"))]


def _mutate(reply: bytes, at: int, junk: bytes) -> bytes:
    """A valid reply with a few bytes replaced (or cut) somewhere."""
    at %= len(reply) + 1
    return reply[:at] + junk + reply[at + len(junk):]


REPLY = st.one_of(
    st.binary(max_size=80),
    st.builds(_mutate, st.sampled_from(_VALID), st.integers(0, 60), st.binary(max_size=3)),
    st.sampled_from(_VALID),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(REPLY, min_size=1, max_size=12),
       st.sampled_from([d.protocol for d in DIALECTS]))
def test_any_reply_bytes_never_crash_the_engine(replies: list[bytes], protocol: str) -> None:
    """Detection, every walk, commands and SET take any bytes without raising."""
    from pnut.driver.qx.engine import Dialect as D

    ds = DriverState()
    transport = MemoryTransport(RandomDevice(replies))
    clock = [1000.0]

    def make(dialect: D) -> QxEngine:
        return QxEngine(dialect, transport, ds, {}, frozenset(), clock=lambda: clock[0])

    async def go() -> None:
        dialect = next(d for d in DIALECTS if d.protocol == protocol)
        engine = make(dialect)  # as if protocol= forced it, whatever the claim says
        await dialect.claim(engine)
        try:
            await engine.init_info()
        except DriverError:
            return  # NUT's "Can't initialise data from the UPS"
        for _ in range(3):
            clock[0] += 31
            await engine.update()
        await engine.instcmd("shutdown.return", None)
        await engine.instcmd("test.battery.start", "120")
        await engine.setvar("ups.delay.shutdown", "120")
        status = ds.value("ups.status")
        assert status is None or all(w in ("OL", "OB", "ALARM", *STATUS_ORDER)
                                     for w in status.split())

    asyncio.run(go())


@pytest.mark.parametrize(("dialect", "extra"), [("voltronic-qs-hex", False),
                                                ("voltronic-qs-hex-t", True)])
def test_voltronic_qs_hex_decodes_raw_bytes(dialect: str, extra: bool) -> None:
    s = Setup(dialect)
    s.start()
    v = s.values()
    assert v["ups.firmware.aux"] == ("PM-T" if extra else "PM-P")
    assert v["output.frequency"] == "50.0" and v["ups.load"] == "21"
    assert v["battery.voltage"] == "27.06"  # 230 x 60 / 510
    assert ("output.voltage.nominal" in v) is extra
    if extra:
        assert v["output.voltage.nominal"] == "230.0" and v["battery.voltage.nominal"] == "24.0"
    assert ("test.battery.start.quick" in s.ds.tree.commands()) is extra


def test_bestups_model_table_and_pin_mode_setting() -> None:
    s = Setup("bestups", settings={"pins_shutdown_mode": "2"})
    s.start()
    v = s.values()
    assert v["device.mfr"] == "Best Power" and v["device.model"] == "Fortress"
    assert v["ups.power.nominal"] == "750" and v["battery.runtime"] == "900"
    assert v["input.transfer.high"] == "146" and v["battery.voltage.high"] == "27.6"
    assert b"SS2\r" in s.transport.sent  # the ups.conf setting is written at start-up
    assert "ups.beeper.status" not in v


def _voltronic(**state: Any) -> tuple[Setup, QxEngine]:
    s = Setup("voltronic")
    s.device.state.update(state)
    engine = s.start()
    s.clock += 31  # the next poll is a full one, alarms included
    assert asyncio.run(engine.update())
    return s, engine


def test_voltronic_reads_a_fault_when_qgs_says_so() -> None:
    # QGS bit 68 = '1': NUT 2.8.0 compares it with the number 1 and never sees it
    # (docs/compat.md); pnut raises the alarm and reads the fault with QFS.
    s, _ = _voltronic(qgs_flags="100001000000", fault_code="14")
    alarm = s.values()["ups.alarm"]
    assert "UPS Fault!" in alarm and "Inverter short-circuited." in alarm
    assert b"QFS\r" in s.transport.sent
    s, _ = _voltronic(qgs_flags="100001000000", fault_code="7A")
    assert "Unknown fault [7A]" in s.values()["ups.alarm"]


def test_voltronic_warnings_and_their_status_words() -> None:
    s, _ = _voltronic(warnings="0" * 7 + "1" + "0" * 47 + "1" + "0" * 6 + "1" + "0")
    v = s.values()
    assert v["ups.alarm"] == ("UPS warnings: Low battery. Warning for Battery replace. "
                              "Unknown warnings [bit: #63] Replace battery!")
    assert v["ups.status"] == "ALARM OL LB RB"


def test_voltronic_protocols_turn_rows_on() -> None:
    s, _ = _voltronic(protocol=31)  # no bypass limits; battery type and grid range on P31
    assert b"QBYV\r" not in s.transport.sent and b"QBT\r" in s.transport.sent
    s = Setup("voltronic")
    s.device.state["protocol"] = 5  # not a protocol NUT's driver knows: no dialect claims it
    assert asyncio.run(detect(DIALECTS, None, s.make)) is None
    assert "input.voltage" not in s.values()


@pytest.mark.parametrize("protocol", [0, 2, 3, 9, 10, 31, 99])
def test_voltronic_bad_answers_never_raise(protocol: int) -> None:
    """Garbage, truncated and non-numeric replies between good ones, commands between
    polls: the hooks fail the row (NUT's -1) and nothing raises."""

    async def go() -> None:
        dev = VoltronicDevice()
        dev.rng = random.Random(protocol)
        dev.state["protocol"] = protocol
        s = Setup("voltronic")
        s.device, s.transport = dev, MemoryTransport(dev)
        engine = await detect(DIALECTS, "voltronic", s.make)
        assert engine is not None
        await engine.init_info()
        pick = random.Random(protocol)
        for _ in range(20):
            dev.state["fault"] = pick.choice(["none", "garbage", "truncated", "nonnumeric"])
            s.clock += 7
            await engine.update()
            await engine.instcmd(pick.choice(["beeper.toggle", "shutdown.return",
                                              "test.battery.start", "bypass.start"]), None)
        dev.state["fault"] = "none"
        s.clock += 31
        assert await engine.update()
        assert s.values()["ups.firmware.aux"] == f"P{protocol:02d}"

    asyncio.run(go())
