"""The nutdrv_qx engine: walk a dialect table over a transport, publish NUT's variables.

How this works
--------------
This is NUT 2.8.0's nutdrv_qx.c core, rewritten: a *walk* goes down the
dialect's table sending each row's command (a reply is reused by the next
rows with the same command) and turns the characters ``start..end`` of the
reply into a variable.  Three walks, as in NUT:

* ``INIT`` (start-up): every row whose variable does not exist yet; rows
  that fail are skipped from then on (unless QUICK_POLL); commands are
  registered, settable rows get their flags, ranges and enums;
* ``FULL`` (every ``pollfreq`` seconds, or after a command/SET): all but
  static rows, then the battery charge/runtime estimate;
* ``QUICK`` (every other poll): only QUICK_POLL rows (the status bits).

Status rows set or clear words of a bit set (``OL``, ``LB``, ...) that
becomes ``ups.status`` in NUT's order (OL or OB first); ``RB`` and ``FSD``
also raise ``ups.alarm``.  Instant commands and SETs are table rows too,
with NUT's fallbacks (``load.on`` → ``load.on.delay 0``, ``shutdown.return``
→ ``load.on.delay`` + ``load.off.delay``...) and its answer rule: no reply
or the dialect's ``accepted`` reply means done.

The engine does no I/O of its own: bytes go through a
:class:`~.transport.QxTransport`, values into a
:class:`~pnut.driver.dstate.DriverState`; ``OSError`` from the transport
propagates (the driver framework treats it as a lost device).
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from pnut.driver.base import DriverError
from pnut.driver.dstate import DriverState
from pnut.driver.qx import items as q
from pnut.driver.qx.items import Item, cformat, extract, only
from pnut.driver.qx.transport import QxTransport
from pnut.driver.sockproto import Stat
from pnut.driver.state import FLAG_RW, FLAG_STRING
from pnut.protocol.cnum import atoi, strtod

log = logging.getLogger("pnut.driver")

#: Tries per dialect during detection, and NUT's MAXTRIES.
MAXTRIES = 3
DEFAULT_POLLFREQ = 30
DEFAULT_ONDELAY = "180"
DEFAULT_OFFDELAY = "30"
#: ups.status words in the order NUT writes them (after OL/OB).
STATUS_ORDER = ("DISCHRG", "CHRG", "LB", "OVER", "RB", "TRIM", "BOOST", "BYPASS", "OFF",
                "CAL", "FSD")
KNOWN_STATUS = frozenset({"OL", *STATUS_ORDER})
_PACKS = (120, 100, 80, 60, 48, 36, 30, 24, 18, 12, 8, 6, 4, 3, 2, 1, 0.5)


class Walk(enum.Enum):
    INIT = 0
    QUICK = 1
    FULL = 2


Claim = Callable[["QxEngine"], Awaitable[bool]]
InitUps = Callable[["QxEngine"], None]


@dataclass(frozen=True)
class Dialect:
    """One Q* protocol (NUT's subdriver_t)."""

    #: "Name version" as in driver.version.data; the name is what ``protocol=`` matches.
    name: str
    claim: Claim
    table: tuple[Item, ...]
    initups: InitUps | None = None
    #: Reply meaning "command done" (compared after value extraction), if any.
    accepted: str | None = None
    #: Whole reply meaning "query refused", if any.
    rejected: str | None = None

    @property
    def protocol(self) -> str:
        return self.name.split(" ", 1)[0]


@dataclass
class Battery:
    """NUT's battery.charge/runtime guesstimation data (-1 = unknown)."""

    packs: float = 1.0
    runt_act: float = -1
    runt_nom: float = -1
    runt_est: float = 0
    runt_exp: float = 0
    volt_act: float = -1
    volt_high: float = -1
    volt_nom: float = -1
    volt_low: float = -1
    chrg_act: float = -1
    chrg_time: int = 43200
    load_act: float = 0
    load_low: float = 0.1
    load_eff: float = 1
    lastpoll: float = 0


@dataclass
class QxEngine:
    """One device's protocol state."""

    dialect: Dialect
    transport: QxTransport
    dstate: DriverState
    #: ups.conf settings of the driver (``values``) and flags.
    settings: Mapping[str, str] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.table: list[Item] = [item.copy() for item in self.dialect.table]
        self.status: set[str] = set()
        self.data_has_changed = False
        self.pollfreq = DEFAULT_POLLFREQ
        self.lastpoll = 0
        self.batt = Battery()
        #: What a dialect's hooks learn about the device (NUT keeps it in statics).
        self.scratch: dict[str, object] = {}

    # -- lookups -----------------------------------------------------------------
    def find(self, name: str, flag: int = 0, noflag: int = 0) -> Item | None:
        """NUT's find_nut_info."""
        low = name.lower()
        for item in self.table:
            if item.name.lower() != low:
                continue
            if flag and (item.flags & flag) != flag:
                continue
            if noflag and item.flags & noflag:
                continue
            return item
        return None

    def getval(self, key: str) -> str | None:
        return self.settings.get(key)

    def testvar(self, key: str) -> bool:
        return key in self.flags or key in self.settings

    # -- one command ---------------------------------------------------------------
    async def process(self, item: Item, command: str | None = None) -> bool:
        """NUT's qx_process: send, read, check, extract ``item.value``."""
        cmd = command if command is not None else (item.command or "")
        if item.preprocess_command is not None:
            prepared = item.preprocess_command(self, item, cmd)
            if prepared is None:
                return False
            cmd = prepared
        raw = await self.transport.command(cmd.encode("latin-1", "replace"))
        item.answer = ""
        length = len(raw)
        if item.preprocess_answer is not None:
            answer = item.preprocess_answer(self, item, raw)
            if answer is None:
                return False
            item.answer, length = answer, len(answer)
        else:
            item.answer = raw.split(b"\0", 1)[0].decode("latin-1")
        return self.process_answer(item, length)

    async def read_variable(self, name: str) -> bool:
        """Query the row of variable ``name`` and set it: the subdrivers' claim step
        (NUT's qx_process then ups_infoval_set == 1)."""
        item = self.find(name)
        return item is not None and await self.process(item) and self.infoval_set(item) == 1

    def process_answer(self, item: Item, length: int) -> bool:
        rejected = self.dialect.rejected
        if rejected is not None and item.answer.lower() == rejected.lower():
            log.debug("query rejected by the UPS (%s)", item.name)
            return False
        value = extract(item, item.answer, length)
        if value is None:
            log.debug("bad reply for %s: %r", item.name, item.answer)
            return False
        item.value = value
        return True

    def infoval_set(self, item: Item) -> int:
        """NUT's ups_infoval_set: -1 error, 0 status/alarm word, 1 variable set."""
        ds = self.dstate
        if item.preprocess is not None:
            value = item.preprocess(self, item, item.value)
            if value is None:
                log.debug("cannot use %s value %r", item.name, item.value)
                return -1
            if item.name.startswith("ups.status"):
                if value:
                    self.update_status(value)
                return 0
            if item.name.startswith("ups.alarm"):
                if value:
                    ds.alarm_set(value)
                return 0
        else:
            value = item.value
            if item.flags & q.TRIM:
                value = q.trim(value)
            if (item.fmt or "").lower() != "%s":
                if not only(value, "0123456789 ."):
                    log.debug("non numerical value [%s: %s]", item.name, value)
                    return -1
                value = cformat(item.fmt or "%s", strtod(value))
        if item.flags & q.NONUT:
            log.info("%s: %s", item.name, value)
            return 1
        if not value:
            log.debug("non significant value [%s]", item.name)
            return -1
        ds.set_info(item.name, value)
        if item.name.lower() == "battery.charge":
            self.batt.chrg_act = atoi(value)
        elif item.name.lower() == "battery.runtime":
            self.batt.runt_act = atoi(value)
        return 1

    def update_status(self, word: str) -> None:
        clear = word.startswith("!")
        name = word[1:].upper() if clear else word.upper()
        if name not in KNOWN_STATUS:
            log.debug("status %s unknown", word)
        elif clear:
            self.status.discard(name)
        else:
            self.status.add(name)

    def set_var(self, item: Item) -> None:
        """NUT's qx_set_var: flags, string length, enums and ranges of a variable."""
        ds, nonut = self.dstate, bool(item.flags & q.NONUT)
        if not nonut:
            flags = set()
            if item.st_flags & q.ST_RW:
                flags.add(FLAG_RW)
            if item.st_flags & q.ST_STRING:
                flags.add(FLAG_STRING)
            ds.set_flags(item.name, flags)
            if item.st_flags & q.ST_STRING and item.rw:
                ds.set_aux(item.name, atoi(item.rw[0]))
        if item.flags & q.ENUM:
            values = self.rw_values(item)
            if nonut:
                log.info("%s, settable values: %s", item.name, " ".join(values) or "none")
            else:
                for value in values:
                    ds.add_enum(item.name, value)
        if item.flags & q.RANGE:
            values = self.rw_values(item)
            pairs = list(zip(values[0::2], values[1::2], strict=False))
            for low, high in pairs:
                if nonut:
                    log.info("%s, settable range: %s..%s", item.name, low, high)
                else:
                    ds.add_range(item.name, atoi(low), atoi(high))

    def rw_values(self, item: Item) -> list[str]:
        """``item.rw`` up to its first empty value, less those its checks leave out."""
        out = []
        for n, value in enumerate(item.rw):
            if not value:
                break
            hook = item.rw_hooks[n] if n < len(item.rw_hooks) else None
            if hook is None or hook(self, value):
                out.append(value)
        return out

    # -- walks -----------------------------------------------------------------------
    async def walk(self, mode: Walk) -> bool:
        """NUT's qx_ups_walk; False when a QUICK_POLL row failed."""
        ds, b = self.dstate, self.batt
        if mode is Walk.FULL:
            b.runt_act = b.chrg_act = -1
        prev_cmd = prev_answer = ""
        for item in self.table:
            if item.flags & q.SKIP:
                continue
            if mode is Walk.INIT:
                if item.flags & q.ABSENT:
                    if ds.value(item.name) is None:
                        ds.set_info(item.name, item.fmt or "")
                        self.set_var(item)
                    continue
                duplicates_ok = item.name.startswith(("ups.alarm", "ups.status"))
                if not duplicates_ok and ds.value(item.name) is not None:
                    continue
            elif mode is Walk.QUICK:
                if not item.flags & q.QUICK_POLL:
                    continue
            else:
                if item.flags & (q.ABSENT | q.CMD | q.SETVAR | q.STATIC):
                    continue
                if item.flags & q.SEMI_STATIC and not self.data_has_changed:
                    continue
            if item.flags & q.CMD:
                ds.add_cmd(item.name)
                continue
            if item.flags & q.SETVAR:
                if item.flags & q.NONUT:
                    await self.setvar(item.name, None)
                    item.flags |= q.SKIP
                continue
            command = item.command or ""
            if prev_cmd and prev_answer and prev_cmd.lower() == command.lower():
                item.answer = prev_answer
                ok = self.process_answer(item, len(item.answer))
            else:
                ok = await self.process(item)
            prev_cmd, prev_answer = command, item.answer
            if not ok:
                item.answer = item.value = ""
                if item.flags & q.QUICK_POLL:
                    return False
                if mode is Walk.INIT:
                    item.flags |= q.SKIP
                continue
            ret = self.infoval_set(item)
            item.answer = item.value = ""
            if ret == -1:
                if item.flags & q.QUICK_POLL:
                    return False
                continue
            if ret and mode is Walk.INIT:
                self.set_var(item)
        if mode is Walk.FULL and (b.runt_act == -1 or b.chrg_act == -1):
            self._update_estimates()
        return True

    # -- battery guesstimation ---------------------------------------------------------
    def battery(self) -> bool:
        """NUT's qx_battery: battery voltage times packs, charge from voltage if unknown."""
        b = self.batt
        val = self.dstate.value("battery.voltage")
        if val is None:
            return False
        b.volt_act = b.packs * strtod(val)
        if b.chrg_act == -1 and b.volt_low > 0 and b.volt_high > b.volt_low:
            b.chrg_act = 100 * (b.volt_act - b.volt_low) / (b.volt_high - b.volt_low)
            b.chrg_act = min(100.0, max(0.0, b.chrg_act))
            self.dstate.set_info("battery.charge", cformat("%.0f", b.chrg_act))
        return True

    def _load(self) -> bool:
        b = self.batt
        val = self.dstate.value("ups.load")
        if val is None:
            return False
        b.load_act = strtod(val)
        b.load_eff = max(b.load_low, math.pow(b.load_act / 100, b.runt_exp))
        return True

    def init_battery(self) -> None:
        """NUT's qx_initbattery: guess voltage limits, packs and the runtime model."""
        ds, b = self.dstate, self.batt
        if ds.value("battery.charge") is not None and ds.value("battery.runtime") is not None:
            return
        for attr, var in (("volt_high", "battery.voltage.high"),
                          ("volt_low", "battery.voltage.low"),
                          ("volt_nom", "battery.voltage.nominal")):
            raw = ds.value(var)
            if raw is not None:
                setattr(b, attr, strtod(raw))
        if b.volt_nom != -1 and (b.volt_low == -1 or b.volt_high == -1):
            log.info("No values for battery high/low voltages")
            b.volt_low = 104 * b.volt_nom / 120
            b.volt_high = 130 * b.volt_nom / 120
            ds.set_info("battery.voltage.low", cformat("%.2f", b.volt_low))
            ds.set_info("battery.voltage.high", cformat("%.2f", b.volt_high))
            log.info("Using 'guesstimation' (low: %f, high: %f)!", b.volt_low, b.volt_high)
        packs = ds.value("battery.packs")
        if packs is not None and only(packs, "0123456789 ."):
            b.packs = strtod(packs)
        elif self.battery() and b.volt_nom != -1:
            for n in _PACKS:
                if n * b.volt_act > 1.2 * b.volt_nom:
                    continue
                if n * b.volt_act < 0.8 * b.volt_nom:
                    log.info("Can't autodetect number of battery packs [%.0f/%.2f]",
                             b.volt_nom, b.volt_act)
                    break
                b.packs = n
                break
        else:
            log.info("Can't autodetect number of battery packs [%.0f/%.2f]",
                     b.volt_nom, b.volt_act)
        self.battery()
        cal = self.getval("runtimecal")
        if cal is None:
            log.info("Battery runtime will not be calculated (runtimecal not set)")
            return
        self._init_runtime(cal)

    def _init_runtime(self, cal: str) -> None:
        ds, b = self.dstate, self.batt
        b.lastpoll = self.clock()
        try:
            rh, lh, rl, ll = (float(x) for x in cal.split(",")[:4])
        except ValueError:
            raise DriverError("Insufficient parameters for runtimecal") from None
        if rl < rh or rh <= 0:
            raise DriverError("Parameter out of range (runtime)")
        if lh > 100 or ll > lh or ll <= 0:
            raise DriverError("Parameter out of range (load)")
        b.runt_exp = math.log(rl / rh) / math.log(lh / ll)
        b.runt_nom = rh * math.pow(lh / 100, b.runt_exp)
        val = ds.value("battery.charge")
        if val is None and b.volt_nom != -1:
            b.volt_low = b.volt_nom
            b.volt_high = 1.15 * b.volt_nom
            if not self.battery():
                raise DriverError("Initial battery charge undetermined")
            val = ds.value("battery.charge")
        if val is None:
            raise DriverError("Initial battery charge undetermined")
        b.runt_est = b.runt_nom * strtod(val) / 100
        chargetime = self.getval("chargetime")
        if chargetime is not None:
            b.chrg_time = atoi(chargetime)
            if b.chrg_time <= 0:
                raise DriverError("Charge time out of range [1..s]")
        else:
            log.info("No charge time specified, using built in default [%d seconds]",
                     b.chrg_time)
        idle = self.getval("idleload")
        if idle is not None:
            b.load_low = strtod(idle) / 100
            if b.load_low <= 0 or b.load_low > 1:
                raise DriverError("Idle load out of range [0..100]")

    def _update_estimates(self) -> None:
        ds, b = self.dstate, self.batt
        if self.getval("runtimecal") is None:
            self.battery()
            return
        now = self.clock()
        elapsed = now - b.lastpoll
        if "OL" in self.status:
            b.runt_est = min(b.runt_nom, b.runt_est + b.runt_nom * elapsed / b.chrg_time)
        else:
            b.runt_est = max(0.0, b.runt_est - b.load_eff * elapsed)
        val = ds.value("battery.voltage")
        if val is not None:
            b.volt_act = b.packs * strtod(val)
            if b.volt_act > 0 and b.volt_low > 0 and b.volt_high > b.volt_low:
                by_voltage = (b.volt_act - b.volt_low) / (b.volt_high - b.volt_low)
                by_voltage = min(1.0, max(0.0, by_voltage))
                if by_voltage < b.runt_est / b.runt_nom:
                    b.runt_est = by_voltage * b.runt_nom
        if b.chrg_act == -1:
            ds.set_info("battery.charge", cformat("%.0f", 100 * b.runt_est / b.runt_nom))
        if b.runt_act == -1 and self._load():
            ds.set_info("battery.runtime", cformat("%.0f", b.runt_est / b.load_eff))
        b.lastpoll = now

    # -- the driver hooks --------------------------------------------------------------
    async def init_info(self) -> None:
        """NUT's upsdrv_initinfo (after detection)."""
        ds = self.dstate
        ds.set_info("driver.version.data", self.dialect.name)
        if not await self.walk(Walk.INIT):
            raise DriverError("Can't initialise data from the UPS")
        self.init_battery()
        for var, key in (("ups.delay.start", "ondelay"), ("ups.delay.shutdown", "offdelay")):
            if ds.value(var) is None:
                continue
            val = self.getval(key)
            if val is not None and await self.setvar(var, val) != Stat.HANDLED:
                what = "Start" if key == "ondelay" else "Shutdown"
                raise DriverError(f"{what} delay '{val}' out of range")
        for cmd in ("load.off", "load.on"):
            if (not self.find(cmd, q.CMD, q.SKIP)
                    and self.find(cmd + ".delay", q.CMD, q.SKIP)):
                ds.add_cmd(cmd)
        raw = self.getval("pollfreq")
        if raw is not None:
            self.pollfreq = atoi(raw)
        ds.set_info("driver.parameter.pollfreq", str(self.pollfreq))
        self.lastpoll = int(self.clock())

    async def update(self) -> bool:
        """NUT's upsdrv_updateinfo; False when the device did not answer properly."""
        ds = self.dstate
        now = int(self.clock())
        ds.status_init()
        if now > self.lastpoll + self.pollfreq or self.data_has_changed:
            self.status = set()
            ds.alarm_init()
            if not await self.walk(Walk.FULL):
                return False
            self.lastpoll = now
            self.data_has_changed = False
            if "RB" in self.status:
                ds.alarm_set("Replace battery!")
            if "FSD" in self.status:
                ds.alarm_set("Shutdown imminent!")
            ds.alarm_commit()
        elif not await self.walk(Walk.QUICK):
            return False
        ds.status_set("OL" if "OL" in self.status else "OB")
        for word in STATUS_ORDER:
            if word in self.status:
                ds.status_set(word)
        ds.status_commit()
        ds.data_ok()
        return True

    # -- commands and SET ----------------------------------------------------------------
    async def instcmd(self, name: str, extradata: str | None) -> int:
        """NUT's nutdrv_qx instcmd, fallbacks included."""
        low = name.lower()
        if low in ("beeper.off", "beeper.on"):
            new = "beeper.disable" if low == "beeper.off" else "beeper.enable"
            log.warning("The '%s' command has been renamed to '%s'", low, new)
            return await self.instcmd(new, None)
        log.info("instcmd(%s, %s)", name, extradata if extradata is not None else "[NULL]")
        item = self.find(name, q.CMD, q.SKIP)
        if item is None:
            return await self._instcmd_fallback(low)
        value = extradata if extradata is not None else (item.fmt or "")
        if item.preprocess is not None:
            prepared = item.preprocess(self, item, value)
            if prepared is None:
                log.error("instcmd: FAILED")
                return Stat.FAILED
            value = prepared
        else:
            value = ""
        return self._answered(await self.process(item, value or None), item, "instcmd",
                              Stat.FAILED)

    def _answered(self, ok: bool, item: Item, what: str, failed: int) -> int:
        if not ok:
            log.error("%s: FAILED", what)
            return failed
        if item.value:
            accepted = self.dialect.accepted
            if accepted is None or item.value.lower() != accepted.lower():
                log.error("%s: FAILED", what)
                return failed
        log.info("%s: SUCCEED", what)
        self.data_has_changed = True
        return Stat.HANDLED

    async def _instcmd_fallback(self, low: str) -> int:
        ds = self.dstate
        if low in ("load.on", "load.off"):
            return await self.instcmd(low + ".delay", "0")
        if low in ("shutdown.return", "shutdown.stayoff"):
            if ds.value("ups.start.auto") is not None:
                auto = "yes" if low == "shutdown.return" else "no"
                if await self.setvar("ups.start.auto", auto) != Stat.HANDLED:
                    log.error("instcmd: FAILED")
                    return Stat.FAILED
            start = ds.value("ups.delay.start") if low == "shutdown.return" else "-1"
            ret = await self.instcmd("load.on.delay", start)
            if ret != Stat.HANDLED:
                return ret
            return await self.instcmd("load.off.delay", ds.value("ups.delay.shutdown"))
        log.debug("instcmd: command %s unavailable", low)
        return Stat.INVALID

    async def setvar(self, name: str, val: str | None) -> int:
        """NUT's nutdrv_qx setvar (its failures all answer UNKNOWN, as NUT's do)."""
        ds = self.dstate
        item = self.find(name, q.SETVAR, q.SKIP)
        if item is None:
            return Stat.UNKNOWN
        nonut = bool(item.flags & q.NONUT)
        if nonut:
            if not self.testvar(item.name):
                return Stat.HANDLED
            value = self.getval(item.name) or ""
        else:
            log.info("setvar(%s, %s)", name, val or "[NULL]")
            if not val:
                log.error("setvar: value not given for %s", item.name)
                return Stat.UNKNOWN
            value = val
            current = ds.value(item.name)
            if current is not None and current.lower() == value.lower():
                log.info("setvar: nothing to do... [%s]", item.name)
                return Stat.HANDLED
        if not self._allowed(item, value, nonut):
            log.error("setvar: value out of range [%s: %s]", item.name, value)
            return Stat.UNKNOWN
        if item.preprocess is not None:
            prepared = item.preprocess(self, item, value)
            if prepared is None:
                log.error("setvar: FAILED")
                return Stat.UNKNOWN
            value = prepared
        if item.flags & q.ABSENT:
            ds.set_info(item.name, value)
            log.info("setvar: SUCCEED")
            return Stat.HANDLED
        if item.preprocess is None:
            value = ""
        return self._answered(await self.process(item, value or None), item, "setvar",
                              Stat.UNKNOWN)

    def _allowed(self, item: Item, value: str, nonut: bool) -> bool:
        var = self.dstate.get(item.name)
        if item.flags & q.RANGE:
            if not only(value, "0123456789 ."):
                return False
            number = atoi(value)
            if nonut:
                values = self.rw_values(item)
                pairs = [(atoi(a), atoi(b)) for a, b in zip(values[0::2], values[1::2],
                                                            strict=False)]
            else:
                if var is None or not var.ranges:
                    return False
                pairs = list(var.ranges)
            return any(low <= number <= high for low, high in pairs)
        if item.flags & q.ENUM:
            choices = self.rw_values(item) if nonut else list(var.enums if var else [])
            return any(c.lower() == value.lower() for c in choices)
        if item.st_flags & q.ST_STRING:
            return var is not None and len(value) <= var.aux
        return True

    # -- kill power ----------------------------------------------------------------------
    async def shutdown(self, stayoff: bool) -> None:
        """NUT's upsdrv_shutdown: delays from ups.conf, cancel pending, then shut down."""
        ds = self.dstate
        for var, key, what in (("ups.delay.start", "ondelay", "Start"),
                               ("ups.delay.shutdown", "offdelay", "Shutdown")):
            item = self.find(var, 0, q.SKIP)
            if item is None:
                raise DriverError(f"Unable to set {what.lower()} delay")
            ds.set_info(item.name, item.fmt or "")
            self.set_var(item)
            val = self.getval(key)
            if val is not None and await self.setvar(item.name, val) != Stat.HANDLED:
                raise DriverError(f"{what} delay '{val}' out of range")
        if self.find("shutdown.stop", q.CMD, q.SKIP):
            for _ in range(MAXTRIES):
                if await self.instcmd("shutdown.stop", None) == Stat.HANDLED:
                    break
            else:
                log.info("No shutdown pending")
        cmd = "shutdown.stayoff" if stayoff else "shutdown.return"
        for _ in range(MAXTRIES):
            if await self.instcmd(cmd, None) == Stat.HANDLED:
                log.info("Shutting down in %s seconds", ds.value("ups.delay.shutdown"))
                return
        raise DriverError("Shutdown failed!")


async def detect(dialects: tuple[Dialect, ...], protocol: str | None,
                 make: Callable[[Dialect], QxEngine]) -> QxEngine | None:
    """NUT's subdriver_matcher: each dialect in order (or only ``protocol``), 3 tries each."""
    for dialect in dialects:
        if protocol is not None and dialect.protocol.lower() != protocol.lower():
            continue
        for _ in range(MAXTRIES):
            engine = make(dialect)
            if await dialect.claim(engine):
                log.info("Using protocol: %s", dialect.name)
                return engine
    return None
