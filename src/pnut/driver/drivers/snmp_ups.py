"""``snmp-ups``: NUT's SNMP driver (v1, v2c, v3) on pysnmp.

How this works
--------------
``init_ups`` reads NUT's options (:class:`~pnut.driver.snmp.client.SnmpSettings`),
picks the MIB mapping (``mibs=auto``: the sysObjectID, then each mapping's
model OID in NUT's order, as NUT's load_mib2nut), reads the model (no
answer: exit, as NUT), publishes sysDescr/sysContact/sysLocation and the
composite commands.  ``init_info`` adds the commands whose OID answers and
walks the table once (:class:`~pnut.driver.snmp.walk.Walker`, INIT mode).
``update_info`` runs every ``pollinterval``: a full walk every
``pollfreq`` seconds (NUT's default 30), the ``ups.status`` rows alone in
between, so a lost agent or a power failure shows within one poll.

When the agent stops answering (pysnmp gave up after ``snmp_retries``
retries of ``snmp_timeout`` seconds) the driver raises
:class:`~pnut.driver.base.DeviceGone`: the framework makes the data stale
at once and calls :meth:`SnmpUps.reconnect` (a sysObjectID probe) on its
back-off, for ever, without a restart; the first answer brings a full walk
and fresh data.  No status is published from a walk that failed half-way,
so there is no false OB or LB on the way.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from pnut.driver.base import DeviceGone, Driver, DriverConfig, DriverError, VarSpec
from pnut.driver.dstate import DriverState
from pnut.driver.snmp.client import SnmpClient, SnmpSettings, SnmpTimeout
from pnut.driver.snmp.mib import (
    OK,
    STRING,
    TYPE_INT,
    TYPE_TIME,
    MibInfo,
    lookup_number,
    normalize_oid,
)
from pnut.driver.snmp.mibs import MIBS
from pnut.driver.snmp.walk import INIT, UPDATE, Walker, strtol
from pnut.driver.sockproto import Stat

log = logging.getLogger("pnut.driver")

SYSOID = ".1.3.6.1.2.1.1.2.0"
SYSDESCR = ".1.3.6.1.2.1.1.1.0"
SYSCONTACT = ".1.3.6.1.2.1.1.4.0"
SYSLOCATION = ".1.3.6.1.2.1.1.6.0"
DEFAULT_POLLFREQ = 30
DEFAULT_SEMISTATICFREQ = 10
#: Commands NUT builds from the ``load.*.delay`` rows when the MIB has them.
COMPOSITE = ("load.off", "load.on", "shutdown.return", "shutdown.stayoff")


def list_mibs() -> str:
    lines = ["NUMBER\tMAPPING NAME\tVERSION\tENTRY POINT OID\tAUTO CHECK OID"]
    for i, m in enumerate(MIBS, 1):
        lines.append(f" {i:4d} \t{m.name:<23}\t{m.version:>7}\t{m.sysoid or '<NULL>':<31}\t"
                     f"{m.oid_auto_check or '<NULL>'}")
    return "\n".join(lines)


class SnmpUps(Driver):
    name: ClassVar[str] = "snmp-ups"
    version: ClassVar[str] = "1.21"
    description: ClassVar[str] = "Generic SNMP UPS driver"
    vartab: ClassVar[tuple[VarSpec, ...]] = (
        VarSpec("mibs", "MIB mapping (default auto; '-x mibs=--list' lists them)"),
        VarSpec("community", "Community name (default public)", sensitive=True),
        VarSpec("snmp_version", "SNMP version: v1 (default), v2c, v3"),
        VarSpec("pollfreq", "Seconds between full walks of the MIB (default 30)"),
        VarSpec("semistaticfreq", "Semi-static values: refresh every N walks (default 10)"),
        VarSpec("snmp_retries", "Retries of each request (default 5)"),
        VarSpec("snmp_timeout", "Seconds to wait for each answer (default 1)"),
        VarSpec("notransferoids", "Disable transfer OIDs (APC Symmetra)", flag=True),
        VarSpec("symmetrathreephase", "APC three-phase Symmetra quirks", flag=True),
        VarSpec("secLevel", "SNMPv3 security level: noAuthNoPriv, authNoPriv, authPriv"),
        VarSpec("secName", "SNMPv3 security name", sensitive=True),
        VarSpec("authPassword", "SNMPv3 authentication pass phrase", sensitive=True),
        VarSpec("privPassword", "SNMPv3 privacy pass phrase", sensitive=True),
        VarSpec("authProtocol", "SNMPv3 authentication: MD5 (default), SHA, SHA256, "
                                "SHA384, SHA512"),
        VarSpec("privProtocol", "SNMPv3 privacy: DES (default), AES, AES192, AES256"),
        VarSpec("ondelay", "Start delay after shutdown (seconds)"),
        VarSpec("offdelay", "Delay before shutdown (seconds)"),
    )

    def __init__(self, config: DriverConfig, dstate: DriverState) -> None:
        super().__init__(config, dstate)
        self.client: SnmpClient | None = None
        self.walker: Walker | None = None
        self.mib: MibInfo | None = None
        self.pollfreq = float(DEFAULT_POLLFREQ)
        self.last_walk = 0.0
        self.lost = False
        self.clock = time.monotonic

    # -- start-up -------------------------------------------------------------
    def _read_settings(self, config: DriverConfig) -> None:
        self.pollfreq = float(config.get_int("pollfreq", DEFAULT_POLLFREQ, 1, 86400))

    async def init_ups(self) -> None:
        mibs = self.config.get("mibs") or "auto"
        if mibs == "--list":  # NUT prints the mappings and exits successfully
            print(list_mibs(), flush=True)
            raise SystemExit(0)
        settings = SnmpSettings.from_config(self.config)
        self._read_settings(self.config)
        semistatic = self.config.get_int("semistaticfreq", DEFAULT_SEMISTATICFREQ)
        if semistatic < 1:
            semistatic = DEFAULT_SEMISTATICFREQ
        self.client = SnmpClient(settings)
        try:
            self.mib = await self._load_mib(mibs)
            self.walker = Walker(self.mib, self.client, self.dstate, semistaticfreq=semistatic,
                                 symmetra="symmetrathreephase" in self.config.flags)
            model_row = self.walker.entry("ups.model") or self.walker.entry("device.model")
            model = await self.walker.get_str(model_row.oid) if model_row else None
            if model is None:
                raise DriverError(f"{mibs} MIB wasn't found on {self.config.port}")
            log.info("Detected %s on host %s (mib: %s %s)", model, self.config.port,
                     self.mib.name, self.mib.version)
            await self._composite_and_sysinfo()
        except SnmpTimeout as exc:
            raise DriverError(f"no answer from the SNMP agent at {self.config.port} "
                              f"({exc})") from None
        await self._set_delays()

    async def _model_answers(self, mib: MibInfo) -> bool:
        assert self.client is not None
        probe = Walker(mib, self.client, self.dstate)
        row = probe.entry("device.model") or probe.entry("ups.model")
        return row is not None and await probe.get_str(row.oid) is not None

    async def _load_mib(self, mibs: str) -> MibInfo:
        """NUT's load_mib2nut: sysObjectID first (auto), then each mapping's model OID."""
        assert self.client is not None
        if mibs == "auto":
            reply = await self.client.get(SYSOID)
            value = reply.value
            if value is not None and value.kind == "oid":
                assert isinstance(value.data, str)
                sysoid = normalize_oid(value.data)
                for mib in MIBS:
                    if mib.sysoid and normalize_oid(mib.sysoid) == sysoid and \
                            await self._model_answers(mib):
                        return mib
                log.info("sysObjectID %s is in none of pnut's MIB mappings; "
                         "trying each mapping's model OID", value.data)
        seen = False
        for mib in MIBS:
            if mibs != "auto" and mibs != mib.name:
                continue
            seen = True
            if await self._model_answers(mib):
                if mibs == "auto":
                    log.info("detected the %s MIB from its model OID", mib.name)
                return mib
        if mibs == "auto":
            raise DriverError(f"No supported device detected at [{self.config.upsname}] "
                              f"(host {self.config.port})")
        if seen:
            raise DriverError(f"Requested 'mibs' value '{mibs}' did not match this device "
                              f"[{self.config.upsname}] (host {self.config.port})")
        known = ", ".join(m.name for m in MIBS)
        raise self.config.error("mibs", f"unknown value {mibs!r} (known: {known})")

    async def _composite_and_sysinfo(self) -> None:
        walker = self.walker
        assert walker is not None
        ds = self.dstate
        has_off = walker.find("load.off.delay") is not None
        has_on = walker.find("load.on.delay") is not None
        if has_off:
            ds.add_cmd("load.off")
        if has_on:
            ds.add_cmd("load.on")
        if has_off and has_on:
            ds.add_cmd("shutdown.return")
            ds.add_cmd("shutdown.stayoff")
        for var, oid in (("device.description", SYSDESCR), ("device.contact", SYSCONTACT),
                         ("device.location", SYSLOCATION)):
            if ds.value(var) is None:
                text = await walker.get_str(oid)
                if text is not None:
                    ds.set_info(var, text)

    async def _set_delays(self) -> None:
        for option, var in (("ondelay", "ups.delay.start"), ("offdelay", "ups.delay.shutdown")):
            raw = self.config.get(option)
            if raw is not None and (strtol(raw) or 0) >= 0:
                await self.setvar(var, str(strtol(raw) or 0))

    async def init_info(self) -> None:
        walker = self.walker
        assert walker is not None and self.mib is not None and self.client is not None
        ds = self.dstate
        ds.set_info("driver.version.data", f"{self.mib.name} MIB {self.mib.version}")
        walker.flags = [f | OK for f in walker.flags]
        try:
            for entry in walker.table:
                if entry.is_cmd and entry.oid is not None:
                    reply = await self.client.get(entry.oid)
                    if not reply.error:
                        ds.add_cmd(entry.name)
            if "notransferoids" in self.config.flags:
                log.info("Disabling transfer OIDs")
                for index, entry in enumerate(walker.table):
                    if entry.name.lower() in ("input.transfer.low", "input.transfer.high"):
                        walker.flags[index] &= ~OK
            await walker.walk(INIT)
        except SnmpTimeout as exc:
            raise DriverError(f"the SNMP agent at {self.config.port} stopped answering "
                              f"({exc})") from None
        ds.data_ok()

    # -- polling ----------------------------------------------------------------
    async def update_info(self) -> None:
        walker = self.walker
        assert walker is not None
        ds = self.dstate
        now = self.clock()
        full = self.lost or self.last_walk == 0.0 or now >= self.last_walk + self.pollfreq
        try:
            if full:
                await self._full_walk(walker)
                self.last_walk = self.clock()
            else:
                ds.status_init()
                await walker.status_only()
                ds.status_commit()
        except SnmpTimeout as exc:
            # The framework marks the data stale and calls reconnect() on its
            # back-off; the walk after that is a full one.
            self.lost = True
            raise DeviceGone(f"SNMP agent at {self.config.port} does not answer ({exc})") from None
        self.lost = False
        ds.data_ok()

    async def reconnect(self) -> None:
        """The agent is back when it answers sysObjectID (no new MIB detection)."""
        assert self.client is not None
        try:
            await self.client.get(SYSOID)
        except SnmpTimeout as exc:
            raise DeviceGone(str(exc)) from None

    async def _full_walk(self, walker: Walker) -> None:
        """One UPDATE walk; status and alarms are committed only if it completes."""
        ds = self.dstate
        ds.alarm_init()
        ds.status_init()
        await walker.walk(UPDATE)
        ds.alarm_commit()
        ds.status_commit()

    async def reload(self, config: DriverConfig) -> None:
        self._read_settings(config)
        self.config = config

    async def cleanup(self) -> None:
        if self.client is not None:
            self.client.close()

    # -- SET and instant commands ----------------------------------------------
    async def _write(self, oid: str, flags: int, text: str, as_string: bool) -> int:
        """Send one value; a Stat.  Numbers go out as INTEGER (TimeTicks for TYPE_TIME)."""
        assert self.client is not None
        try:
            if as_string:
                # NUT sends every STRING row as an octet string, which agents
                # refuse for INTEGER objects (input.transfer.*, ups.timer.*):
                # send what the object holds.
                current = await self.client.get(oid)
                if not (flags & TYPE_INT or (current.value is not None
                                             and current.value.kind == "int")):
                    ok = await self.client.set(oid, "s", text)
                    return Stat.HANDLED if ok else Stat.FAILED
            number = strtol(text)
            if number is None:
                return Stat.INVALID
            if flags & TYPE_TIME:
                ok = await self.client.set(oid, "t", number * 100)
            else:
                ok = await self.client.set(oid, "i", number)
        except SnmpTimeout as exc:
            self.lost = True
            raise DeviceGone(f"SNMP agent at {self.config.port} does not answer ({exc})") from None
        return Stat.HANDLED if ok else Stat.FAILED

    async def setvar(self, name: str, value: str) -> int:
        walker = self.walker
        if walker is None:
            return Stat.UNKNOWN
        index = walker.find(name)
        if index is None or not walker.flags[index] & OK or walker.table[index].is_cmd:
            return Stat.UNKNOWN
        entry = walker.table[index]
        if entry.oid is None:
            self.dstate.set_info(name, value)  # a server-side variable (outlet.desc)
            return Stat.HANDLED
        if entry.lookup is not None:
            number = lookup_number(entry.lookup, value)
            if number is None:
                return Stat.INVALID
            result = await self._write(entry.oid, entry.flags & ~TYPE_TIME, str(number), False)
        elif entry.info_flags & STRING:
            result = await self._write(entry.oid, entry.flags, value, True)
        else:
            parsed = strtol(value)
            if parsed is None:
                return Stat.INVALID
            result = await self._write(entry.oid, entry.flags, str(int(parsed / entry.length)),
                                       False)
        if result == Stat.HANDLED:
            self.dstate.set_info(name, value)
        return result

    async def instcmd(self, name: str, param: str | None) -> int:
        walker = self.walker
        if walker is None:
            return Stat.UNKNOWN
        index = walker.find(name)
        if index is None and name in COMPOSITE and self.dstate.has_command(name):
            return await self._composite(name)
        if index is None or not walker.flags[index] & OK or not walker.table[index].is_cmd:
            return Stat.UNKNOWN
        entry = walker.table[index]
        value = param if param is not None else entry.default
        if value is None and entry.length not in (0.0, 1.0):
            # CyberPower's table keeps the value to write in the length column
            # (NUT 2.8.0 answers INVALID to every such command).
            value = str(int(entry.length))
        if value is None or entry.oid is None:
            return Stat.INVALID
        result = await self._write(entry.oid, entry.flags, value,
                                   bool(entry.info_flags & STRING))
        log.info("instcmd %s: %s", name, Stat(result).name)
        return result

    async def _composite(self, name: str) -> int:
        """load.off/on and shutdown.* through the ``load.*.delay`` rows."""
        ondelay = self.dstate.value("ups.delay.start") or "0"
        offdelay = self.dstate.value("ups.delay.shutdown") or "0"
        steps = {
            "load.off": [("load.off.delay", "0")],
            "load.on": [("load.on.delay", "0")],
            "shutdown.return": [("load.on.delay", ondelay), ("load.off.delay", offdelay)],
            "shutdown.stayoff": [("load.on.delay", "-1"), ("load.off.delay", offdelay)],
        }[name]
        for cmd, value in steps:
            result = await self.instcmd(cmd, value)
            if result != Stat.HANDLED:
                return result
        return Stat.HANDLED

    async def shutdown(self) -> None:
        """``-k``: shutdown.return, else shutdown.reboot, else load.off.delay (NUT's order)."""
        await self.init_info()
        await self._set_delays()  # again, as NUT: the start-up walk re-published defaults
        for cmd in ("shutdown.return", "shutdown.reboot", "load.off.delay"):
            if await self.instcmd(cmd, None) == Stat.HANDLED:
                return
        raise DriverError("Shutdown failed!")
