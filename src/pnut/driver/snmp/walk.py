"""NUT's snmp-ups walk: from a MIB table and an agent to NUT variables.

How this works
--------------
:class:`Walker` holds the run-time copy of a MIB table's flags (NUT
mutates them: rows that do not answer at start-up are dropped, the first
``UNIQUE`` row that answers silences its competitors, phase-specific rows
are kept or dropped once the phase count is known) and walks it the way
NUT's ``snmp_ups_walk`` does, in ``INIT`` mode once and ``UPDATE`` mode
every poll.  Values are decoded and scaled exactly as NUT prints them
(``%i`` when the scaled value is whole as a C float, else ``%.2f``), so
the variables equal the C driver's on the same agent.

The agent is any object with ``get(oid) -> Reply`` (see
:mod:`.client`); :class:`~.client.SnmpTimeout` passes through, so the
driver decides what an unreachable agent means.  Bad answers (wrong
types, missing objects, strings where numbers belong) only drop that row.
"""

from __future__ import annotations

import logging
import struct
from typing import Protocol

from pnut.driver.dstate import DriverState
from pnut.driver.snmp.client import Reply, SnmpTimeout
from pnut.driver.snmp.mib import (
    ABSENT,
    BYPASS_1,
    BYPASS_3,
    INFOSIZE,
    INPHASES,
    INPUT_1,
    INPUT_3,
    NEGINVALID,
    OK,
    OUTPHASES,
    OUTPUT_1,
    OUTPUT_3,
    RW,
    SEMI_STATIC,
    STALE,
    STATIC,
    STRING,
    TEMPLATE,
    UNIQUE,
    ZEROINVALID,
    Entry,
    Lookup,
    MibInfo,
    lookup_texts,
    lookup_value,
)
from pnut.protocol import cnum

log = logging.getLogger("pnut.driver")

INIT, UPDATE = 0, 1
SYSOID = ".1.3.6.1.2.1.1.2.0"
#: APC's integrated environment monitor: temperature and its unit (2 = °F).
IEM_TEMP = ".1.3.6.1.4.1.318.1.1.10.2.3.2.1.4.1"
IEM_TEMP_UNIT = ".1.3.6.1.4.1.318.1.1.10.2.3.2.1.5.1"
FLT_EPSILON = 1.1920928955078125e-07
#: How deep an OID-valued answer may point to another OID.
MAX_OID_HOPS = 3


class Agent(Protocol):
    async def get(self, oid: str) -> Reply: ...

    async def get_many(self, oids: list[str]) -> dict[str, Reply]: ...


def f32(value: float) -> float:
    """The value as a C ``float`` holds it."""
    try:
        result: float = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return value
    return result


def format_scaled(value: int, length: float) -> str:
    """NUT's su_ups_get: ``%i`` if the scaled value is whole (as floats), else ``%.2f``."""
    dvalue = value * length
    whole = int(dvalue)
    if abs(f32(f32(whole) - f32(dvalue))) <= FLT_EPSILON:
        return str(whole)
    return f"{f32(dvalue):.2f}"


def strtol(text: str) -> int | None:
    """C's strtol(text, NULL, 0) on the leading number (None when there is none)."""
    value, used = cnum.strtol(text, 0)
    return value if used else None


def _printable(data: bytes) -> bool:
    return all(0x20 <= b <= 0x7E or 0x09 <= b <= 0x0D for b in data)


class Walker:
    """One MIB table bound to one agent and one DriverState."""

    def __init__(self, mib: MibInfo, agent: Agent, dstate: DriverState, *,
                 semistaticfreq: int = 10, symmetra: bool = False) -> None:
        self.mib = mib
        self.table: tuple[Entry, ...] = mib.table
        self.flags: list[int] = [e.flags for e in self.table]
        self.agent = agent
        self.dstate = dstate
        self.semistaticfreq = semistaticfreq
        self.countdown = semistaticfreq
        self.symmetra = symmetra
        self.phases = {"input": -1, "output": -1, "input.bypass": -1}
        #: Answers fetched in batches at the start of a walk (see :meth:`prefetch`).
        self.cache: dict[str, Reply] = {}

    # -- lookups -----------------------------------------------------------
    def find(self, name: str) -> int | None:
        low = name.lower()
        for i, entry in enumerate(self.table):
            if entry.name.lower() == low:
                return i
        return None

    def entry(self, name: str) -> Entry | None:
        i = self.find(name)
        return None if i is None else self.table[i]

    # -- reading values as NUT does -----------------------------------------
    async def _get(self, oid: str) -> Reply:
        cached = self.cache.get(oid)
        return cached if cached is not None else await self.agent.get(oid)

    def _wanted(self, mode: int, index: int) -> bool:
        """Will this walk read the row's OID (before any run-time decision)?"""
        entry, flags = self.table[index], self.flags[index]
        if entry.oid is None or entry.is_cmd or flags & (TEMPLATE | ABSENT):
            return False
        return mode == INIT or (bool(flags & OK) and not flags & STATIC and not (
            flags & SEMI_STATIC and self.countdown != 0))

    async def prefetch(self, indices: list[int]) -> None:
        """Ask for the rows' OIDs :data:`~.client.BATCH` at a time instead of one by one.

        NUT sends one GET per row; the answers are the same, only fewer
        requests carry them.  A batch the agent does not answer while it
        answers otherwise leaves the rest to single GETs.
        """
        from pnut.driver.snmp.client import BATCH

        self.cache = {}
        oids = list(dict.fromkeys(o for i in indices if (o := self.table[i].oid) is not None))
        for start in range(0, len(oids), BATCH):
            try:
                self.cache.update(await self.agent.get_many(oids[start:start + BATCH]))
            except SnmpTimeout:
                if not await self.alive():
                    self.cache = {}
                    raise
                break

    async def get_str(self, oid: str | None, lookup: Lookup | None = None,
                      hops: int = 0) -> str | None:
        """NUT's nut_snmp_get_str: None where NUT returns FALSE."""
        if oid is None:
            return None
        reply = await self._get(oid)
        value = reply.value
        if reply.error or value is None:
            return None
        if value.kind == "str":
            assert isinstance(value.data, bytes)
            data = value.data
            if not _printable(data):
                return " ".join(f"{b:02X}" for b in data)[: INFOSIZE - 1]
            return data[: INFOSIZE - 1].decode("latin-1")
        if value.kind == "int":
            assert isinstance(value.data, int)
            if lookup is not None:
                return lookup_value(lookup, value.data)
            return str(value.data)
        if value.kind == "ticks":
            assert isinstance(value.data, int)
            return str(value.data // 100)
        assert isinstance(value.data, str)
        pointed = None
        if hops < MAX_OID_HOPS:
            pointed = await self.get_str(value.data, lookup, hops + 1)
        return pointed if pointed is not None else value.data.rsplit(".", 1)[-1]

    async def get_int(self, oid: str | None, hops: int = 0) -> int | None:
        """NUT's nut_snmp_get_int: None where NUT returns FALSE."""
        if oid is None:
            return None
        reply = await self._get(oid)
        value = reply.value
        if reply.error or value is None:
            return None
        if value.kind == "str":
            assert isinstance(value.data, bytes)
            number = strtol(value.data.split(b"\0", 1)[0].decode("latin-1"))
            return 0 if number is None else number
        if value.kind in ("int", "ticks"):
            assert isinstance(value.data, int)
            return value.data if value.kind == "int" else value.data // 100
        assert isinstance(value.data, str)
        pointed = await self.get_int(value.data, hops + 1) if hops < MAX_OID_HOPS else None
        if pointed is not None:
            return pointed
        return strtol(value.data.rsplit(".", 1)[-1]) or 0

    # -- publishing ---------------------------------------------------------
    def setinfo(self, entry: Entry, value: str | None) -> None:
        """NUT's su_setinfo: value (or default), flags, aux and enums."""
        if entry.is_cmd:
            return
        name = entry.name
        if name.lower() == "ups.status" or name.rsplit(".", 1)[-1].lower() == "alarm":
            return
        if value is None:
            value = entry.default
        if value is None:
            return
        ds = self.dstate
        ds.set_info(name, value)
        words = set()
        if entry.info_flags & RW:
            words.add("RW")
        if entry.info_flags & STRING:
            words.add("STRING")
        ds.set_flags(name, words)
        ds.set_aux(name, int(entry.length))
        if entry.info_flags & RW and entry.lookup is not None:
            for text in lookup_texts(entry.lookup):
                ds.add_enum(name, text)

    def _disable_competition(self, index: int) -> None:
        name = self.table[index].name
        for i, entry in enumerate(self.table):
            if i != index and entry.name == name:
                self.flags[i] &= ~OK

    async def ups_get(self, index: int) -> bool:
        """NUT's su_ups_get for one row; True if it produced a value."""
        entry = self.table[index]
        name = entry.name.lower()
        if name == "ups.status":
            number = await self.get_int(entry.oid)
            if number is None:
                return False
            text = lookup_value(entry.lookup, number)
            if text:
                self.dstate.status_set(text)
            return True
        if name.rsplit(".", 1)[-1] == "alarm":
            number = await self.get_int(entry.oid)
            if number is None:
                return False
            text = lookup_value(entry.lookup, number)
            if text:
                if name[:1] == "l" and name[1:2].isdigit():
                    text = f"phase L{name[1]} {text}"
                self.dstate.alarm_set(text)
            return True
        if name == "ambient.temperature":
            number = await self.get_int(entry.oid)
            if number is None:
                return False
            if entry.oid == IEM_TEMP:
                units = await self.get_int(IEM_TEMP_UNIT)
                temp = (number - 32) / 1.8 if units is None or units == 2 else float(number)
            else:
                temp = number * entry.length
            self.setinfo(entry, f"{f32(temp):.1f}")
            return True
        buf: str | None
        if entry.oid is None and entry.default is not None:
            buf = entry.default
        elif entry.info_flags & STRING:
            buf = await self.get_str(entry.oid, entry.lookup)
            if buf is not None and self.symmetra and name in (
                    "input.transfer.low", "input.transfer.high"):
                buf = "%.2f" % (float(strtol(buf) or 0) * 0.707)
        else:
            number = await self.get_int(entry.oid)
            if number is None:
                return False
            flags = self.flags[index]
            if (flags & NEGINVALID and number < 0) or (flags & ZEROINVALID and number == 0):
                self.flags[index] &= ~OK
                if flags & UNIQUE:
                    self._disable_competition(index)
                    self.flags[index] &= ~UNIQUE
                return False
            text = lookup_value(entry.lookup, number)
            buf = text if text is not None else format_scaled(number, entry.length)
        if buf is None:
            return False
        self.setinfo(entry, buf)
        return True

    async def alive(self) -> bool:
        """Does the agent answer at all (sysObjectID)?"""
        try:
            await self.agent.get(SYSOID)
        except SnmpTimeout:
            return False
        return True

    async def _process(self, mode: int, index: int) -> bool:
        """NUT's get_and_process_data; one object that never answers only drops its row."""
        try:
            ok = await self.ups_get(index)
        except SnmpTimeout:
            if not await self.alive():
                raise
            log.info("no answer for %s (%s); the agent answers otherwise",
                     self.table[index].name, self.table[index].oid)
            ok = False
        flags = self.flags[index]
        if ok:
            if flags & STALE:
                log.info("data resumed for %s", self.table[index].name)
                self.flags[index] &= ~STALE
            if flags & UNIQUE:
                self._disable_competition(index)
                self.flags[index] &= ~UNIQUE
        elif mode == INIT:
            self.flags[index] &= ~OK
        elif not flags & STALE:
            log.info("data stale for %s", self.table[index].name)
            self.flags[index] |= STALE
        return ok

    async def _phases(self, kind: str, index: int) -> bool:
        """NUT's process_phase_data; False when the row does not apply."""
        # NUT tests "input" before "input.bypass", so bypass rows get the
        # input-phase masks (which they never carry): they are always walked.
        if kind.startswith("input"):
            mask, single, three = INPHASES, INPUT_1, INPUT_3
        else:
            mask, single, three = OUTPHASES, OUTPUT_1, OUTPUT_3
        count = self.phases[kind]
        if count == -1:
            var = f"{kind}.phases"
            published = self.dstate.value(var)
            if published is None:
                row = self.entry(var)
                got = await self.get_int(row.oid) if row is not None else None
                count = got if got is not None else 1
            else:
                count = strtol(published) or 0
            self.dstate.set_info(var, str(count))
            self.phases[kind] = count
        flags = self.flags[index]
        if flags & single:
            if count == 1:
                self.flags[index] &= ~mask
            else:
                self.flags[index] &= ~OK
                return False
        elif flags & three:
            if count == 3:
                self.flags[index] &= ~mask
            else:
                self.flags[index] &= ~OK
                return False
        return True

    async def walk(self, mode: int) -> bool:
        """NUT's snmp_ups_walk over every row; the last row's result, as NUT."""
        if mode == UPDATE:
            self.countdown -= 1
            if self.countdown < 0:
                self.countdown = self.semistaticfreq
        await self.prefetch([i for i in range(len(self.table)) if self._wanted(mode, i)])
        try:
            return await self._walk(mode)
        finally:
            self.cache = {}

    async def _walk(self, mode: int) -> bool:
        status = False
        for index, entry in enumerate(self.table):
            flags = self.flags[index]
            if mode == INIT and entry.name.startswith("device.count"):
                self.flags[index] &= ~OK
                continue
            if entry.is_cmd and not flags & TEMPLATE:
                continue
            if mode == UPDATE and (not flags & OK or flags & STATIC or (
                    flags & SEMI_STATIC and self.countdown != 0)):
                continue
            if flags & ABSENT and not flags & TEMPLATE:
                if mode == INIT:
                    if entry.default is not None:
                        self.setinfo(entry, None)
                    self.flags[index] |= STATIC
                continue
            if flags & INPHASES and not await self._phases("input", index):
                continue
            if flags & OUTPHASES and not await self._phases("output", index):
                continue
            if flags & (BYPASS_1 | BYPASS_3) and not await self._phases("input.bypass", index):
                continue
            if self.flags[index] & TEMPLATE:
                continue  # outlet/ambient templates: not in pnut's MIBs
            status = await self._process(mode, index)
        return status

    async def status_only(self) -> None:
        """Refresh just the ``ups.status`` rows (between full walks)."""
        rows = [i for i, e in enumerate(self.table)
                if e.name.lower() == "ups.status" and self.flags[i] & OK]
        await self.prefetch(rows)
        try:
            for index in rows:
                await self.ups_get(index)
        finally:
            self.cache = {}
