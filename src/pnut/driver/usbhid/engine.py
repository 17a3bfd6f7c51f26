"""usbhid-ups's core: HID reports in, NUT variables out (no USB code here).

How this works
--------------
:class:`HidUps` follows NUT's usbhid-ups.c over an abstract :class:`HidDevice`
(get/set a report, read a string descriptor).  ``walk(INIT)`` resolves each
mapping row's HID path to a report field, publishes what the device has and
drops rows whose variable another row already gave; ``walk(QUICK)`` re-reads
the rows flagged quick-poll (status bits, timers); ``walk(FULL)`` re-reads
all non-static rows.  Boolean rows do not publish anything: they set bits in
:attr:`HidUps.status_bits`, and :meth:`status_words` turns the bits into
``ups.status`` words and :meth:`alarms` into ``ups.alarm`` texts, exactly as
NUT does (OL+DISCHRG stays OL unless ``onlinedischarge``).

Reports are buffered per report ID for ``age`` seconds like NUT's report
buffer (so one GET_REPORT serves every field of the report), and a short
answer from the device only overwrites the front of the buffer.  A SET
writes the whole buffered report back with the one field changed, which is
what makes pnut's SET_REPORT bytes equal the C driver's.

Errors: :class:`DeviceGone` from the device ends the walk (the caller
reconnects); any other :class:`HidError` just skips the row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pnut.driver.base import DeviceGone as FrameworkDeviceGone
from pnut.driver.dstate import DriverState
from pnut.driver.hid.parser import (
    ATTR_CONSTANT,
    TYPE_FEATURE,
    TYPE_INPUT,
    Descriptor,
    Field,
    get_value,
    set_value,
    to_logical,
    to_physical,
)
from pnut.driver.usbhid.quirks import DeviceQuirks
from pnut.driver.usbhid.subdrivers import (
    CONVERTERS,
    HU_ABSENT,
    HU_CMD,
    HU_ENUM,
    HU_QUICK_POLL,
    HU_SEMI_STATIC,
    HU_STATIC,
    REVERSERS,
    ST_RW,
    ST_STRING,
    Row,
    Subdriver,
)
from pnut.protocol.cnum import atoi

log = logging.getLogger("pnut.driver")

INIT, QUICK, FULL = "init", "quick", "full"
#: Buffer length NUT requests with the ``maxreport`` tweak (sizeof a pointer).
MAX_REPORT_REQUEST = 8

#: NUT's status bits, in its order; the value is the bit's name in the lookups.
STATUS_BITS = (
    "online", "dischrg", "chrg", "lowbatt", "overload", "replacebatt", "shutdownimm", "trim",
    "boost", "bypassauto", "bypassman", "off", "cal", "overheat", "commfault", "depleted",
    "timelimitexp", "fullycharged", "awaitingpower", "fanfail", "nobattery", "battvoltlo",
    "battvolthi", "chargerfail", "vrange", "frange",
)
ALARMS = (
    ("replacebatt", "Replace battery!"), ("shutdownimm", "Shutdown imminent!"),
    ("fanfail", "Fan failure!"), ("nobattery", "No battery installed!"),
    ("battvoltlo", "Battery voltage too low!"), ("battvolthi", "Battery voltage too high!"),
    ("chargerfail", "Battery charger fail!"), ("overheat", "Temperature too high!"),
    ("commfault", "Internal UPS fault!"), ("awaitingpower", "Awaiting power!"),
    ("bypassauto", "Automatic bypass mode!"), ("bypassman", "Manual bypass mode!"),
)


class HidError(Exception):
    """A transfer failed; the row is skipped."""


class DeviceGone(HidError, FrameworkDeviceGone):
    """The device disappeared (unplugged, reset, claimed by someone else)."""


class HidDevice(Protocol):
    def get_report(self, report_id: int, length: int) -> bytes: ...
    def set_report(self, report_id: int, data: bytes) -> None: ...
    def get_string(self, index: int, maxlen: int = 255) -> str: ...


@dataclass
class Active:
    """A mapping row bound to its report field (NUT's hid_info_t.hiddata)."""

    row: Row
    field: Field


class HidUps:
    """The NUT-side state of one HID UPS."""

    def __init__(self, sub: Subdriver, desc: Descriptor, dev: HidDevice, ds: DriverState,
                 quirks: DeviceQuirks, *, pollinterval: float = 2.0,
                 onlinedischarge: bool = False, interrupt_only: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.sub = sub
        self.desc = desc
        self.dev = dev
        self.ds = ds
        self.q = quirks
        quirks.report = self.raw_report
        self.age = int(pollinterval)
        self.onlinedischarge = onlinedischarge
        self.interrupt_only = interrupt_only
        self.clock = clock
        self.buffers: dict[int, bytearray] = {
            rid: bytearray(n + 1) for rid, n in desc.replen.items()}
        for rid, buf in self.buffers.items():
            buf[0] = rid
        self.stamps: dict[int, float] = {}
        self.active: dict[int, Active] = {}
        self.status_bits: set[str] = set()
        quirks.status_bits = self.status_bits
        self.data_has_changed = False
        self.warned_ol_dischrg = False
        self._fields: dict[int, Field | None] = {}

    # -- report buffer -----------------------------------------------------
    def raw_report(self, rid: int) -> bytes | None:
        """A report's buffer as last read, report ID first (None: not in the descriptor)."""
        buf = self.buffers.get(rid)
        return None if buf is None else bytes(buf)

    def invalidate(self) -> None:
        self.stamps.clear()

    def file_interrupt(self, data: bytes) -> list[Field]:
        """Store an interrupt-IN report; the Input fields it carries."""
        if not data:
            return []
        rid = data[0]
        buf = self.buffers.get(rid)
        if buf is None:
            return []
        n = min(len(data), len(buf))
        buf[:n] = data[:n]
        self.stamps[rid] = int(self.clock())
        return [f for f in self.desc.fields if f.report_id == rid and f.kind == TYPE_INPUT]

    def _refresh(self, rid: int, age: float) -> None:
        if self.interrupt_only or (rid in self.stamps and self.stamps[rid] + age > self.clock()):
            return
        buf = self.buffers.get(rid)
        if buf is None:
            raise HidError(f"report {rid} not in descriptor")
        want = MAX_REPORT_REQUEST if self.q.max_report else len(buf)
        data = self.dev.get_report(rid, want)
        if not data:
            raise HidError(f"report {rid}: empty answer")
        n = min(len(data), len(buf))
        buf[:n] = data[:n]
        if len(data) != len(buf):
            log.debug("report 0x%02x: expected %d bytes, got %d", rid, len(buf), len(data))
        self.stamps[rid] = int(self.clock())

    def read(self, f: Field, age: float | None = None) -> float:
        self._refresh(f.report_id, self.age if age is None else age)
        return to_physical(f, get_value(bytes(self.buffers[f.report_id]), f))

    def write(self, f: Field, value: float) -> bool:
        if f.attribute == ATTR_CONSTANT:
            return False
        logical = to_logical(f, value)
        buf = self.buffers[f.report_id]
        set_value(buf, f, logical)
        self.dev.set_report(f.report_id, bytes(buf))
        self.invalidate()
        return True

    # -- mapping -----------------------------------------------------------
    def field_for(self, row: Row) -> Field | None:
        key = id(row)
        if key not in self._fields:
            path = self.sub.string_to_path(row.path)
            kind = TYPE_INPUT if self.interrupt_only else TYPE_FEATURE
            self._fields[key] = None if path is None else self.desc.find(path, kind)
        return self._fields[key]

    def to_nut(self, row: Row, value: float) -> str | None:
        table = row.lookup
        if not table:
            return None
        fun = table[0][2]
        if fun is not None:
            conv = CONVERTERS.get(fun)
            return None if conv is None else conv(self.q, value)
        for hid_value, nut_value, _fun, _nuf in table:
            if nut_value is not None and hid_value == int(value):
                return nut_value
        return None

    def to_hid(self, row: Row, text: str | None) -> float:
        table = row.lookup
        if not table:
            return float(atoi(text or ""))  # C's atol
        nuf = table[0][3]
        if nuf is not None:
            rev = REVERSERS.get(nuf)
            return -1.0 if rev is None else rev(self.q, text)
        for hid_value, nut_value, _fun, _nuf in table:
            if nut_value == text:
                return float(hid_value)
        return -1.0

    def infoval_set(self, row: Row, value: float) -> int:
        if row.lookup is not None:
            text = self.to_nut(row, value)
            if text is None:
                return -1
            if row.var.startswith("BOOL"):
                self._boolean(text)
                return 0
            if row.var.startswith("ups.alarm"):
                self.ds.alarm_set(text)
                return 0
            self.ds.set_info(row.var, text)
            return 1
        fmt = row.dfl or "%.0f"
        try:
            self.ds.set_info(row.var, fmt % value if "%" in fmt else fmt)
        except (TypeError, ValueError):
            return -1
        return 1

    def _boolean(self, text: str) -> None:
        clear = text.startswith("!")
        name = text[1:] if clear else text
        if name.lower() not in STATUS_BITS:
            return
        if clear:
            self.status_bits.discard(name.lower())
        else:
            self.status_bits.add(name.lower())

    def _publish_flags(self, row: Row) -> None:
        flags = set()
        if row.flags & ST_RW:
            flags.add("RW")
        if row.flags & ST_STRING:
            flags.add("STRING")
        self.ds.set_flags(row.var, flags)
        if row.flags & ST_STRING:
            self.ds.set_aux(row.var, row.length)

    def walk(self, mode: str) -> None:
        """One pass over the mapping rows; DeviceGone propagates."""
        for index, row in enumerate(self.sub.rows):
            if mode == INIT:
                if index in self.active:
                    entry: Active | None = self.active[index]
                else:
                    f = self.field_for(row)
                    if f is None:
                        continue
                    if row.hidflags & HU_ABSENT:
                        self.active[index] = Active(row, f)
                        if self.ds.value(row.var) is None:
                            self.ds.set_info(row.var, row.dfl or "")
                            self._publish_flags(row)
                        continue
                    if not row.var.startswith("ups.alarm") and \
                            self.ds.value(row.var) is not None:
                        continue
                    entry = Active(row, f)
                    self.active[index] = entry
            else:
                entry = self.active.get(index)
                if entry is None:
                    continue
                if mode == QUICK and not row.hidflags & HU_QUICK_POLL:
                    continue
                if mode == FULL:
                    if row.hidflags & (HU_ABSENT | HU_CMD | HU_STATIC):
                        continue
                    if row.hidflags & HU_SEMI_STATIC and not self.data_has_changed:
                        continue
            assert entry is not None
            if (self.q.vendorid, self.q.productid) == (0x09AE, 0x1330) and \
                    entry.field.report_id == 0x54:
                continue  # NUT: this Tripp Lite's report 0x54 hangs the device
            try:
                value = self.read(entry.field)
            except DeviceGone:
                raise
            except HidError as exc:
                log.debug("%s: %s", row.path, exc)
                continue
            if row.hidflags & HU_CMD:
                self.ds.add_cmd(row.var)
                continue
            if self.infoval_set(row, value) != 1:
                continue
            if mode == INIT:
                self._publish_flags(row)
                if row.hidflags & HU_ENUM and row.flags & ST_RW and row.lookup:
                    for hid_value, nut_value, _f, _n in row.lookup:
                        if nut_value is not None and self.to_nut(row, hid_value) is not None:
                            self.ds.add_enum(row.var, nut_value)

    # -- status ------------------------------------------------------------
    def status_words(self) -> list[str]:
        bits = self.status_bits
        words = []
        if "online" not in bits:
            words.append("OB")
        elif "dischrg" in bits:
            if self.onlinedischarge:
                words.append("OB")
            else:
                if "cal" not in bits and not self.warned_ol_dischrg:
                    log.warning("UPS seems to be in OL+DISCHRG state now; set 'onlinedischarge' "
                                "if it reports this when on battery")
                    self.warned_ol_dischrg = True
                words.append("OL")
        else:
            words.append("OL")
        if "dischrg" in bits and "depleted" not in bits:
            words.append("DISCHRG")
        if "chrg" in bits and "fullycharged" not in bits:
            words.append("CHRG")
        if bits & {"lowbatt", "timelimitexp", "shutdownimm"}:
            words.append("LB")
        for bit, word in (("overload", "OVER"), ("replacebatt", "RB"), ("trim", "TRIM"),
                          ("boost", "BOOST")):
            if bit in bits:
                words.append(word)
        if bits & {"bypassauto", "bypassman"}:
            words.append("BYPASS")
        if "off" in bits:
            words.append("OFF")
        if "cal" in bits:
            words.append("CAL")
        return words

    def transfer_reason(self) -> str | None:
        if "vrange" in self.status_bits:
            return "input voltage out of range"
        if "frange" in self.status_bits:
            return "input frequency out of range"
        return None

    def alarms(self) -> list[str]:
        return [text for bit, text in ALARMS if bit in self.status_bits]

    # -- commands ----------------------------------------------------------
    def find_row(self, var: str) -> Active | None:
        for entry in self.active.values():
            if entry.row.var.lower() == var.lower():
                return entry
        return None

    def find_by_field(self, f: Field) -> Active | None:
        for entry in self.active.values():
            if not entry.row.hidflags & HU_ABSENT and entry.field == f:
                return entry
        return None
