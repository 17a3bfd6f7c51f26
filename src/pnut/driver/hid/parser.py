"""HID report descriptor parser and report field codec, sans I/O.

How this works
--------------
:func:`parse` walks the short items of a report descriptor (HID 1.11,
6.2.2) keeping the global state (usage page, report ID/size/count, logical
and physical extents, unit, exponent) and the local usage list, and emits
one :class:`Field` per data element of every Input, Output and Feature main
item.  A field's *path* is the chain of collection usages down to its own
usage; collections of a vendor type (value >= 0x80) add an extra
``0x00FF00nn`` node, as NUT does, so NUT's path strings such as
``UPS.Flow.[4].ConfigVoltage`` name the same field here.

NUT's quirks are kept on purpose, because the differential tests compare
against NUT and real devices depend on them: the bit offset inside a
report is an 8-bit counter; a Logical Maximum below the Logical Minimum is
read as the unsigned value of its bytes (APC and others ship such
descriptors); a data element with no usage still takes its bits but yields
no field.  Everything is bounded: a truncated item ends the parse, item
counts are limited by :data:`MAX_FIELDS`.

:func:`get_value`/:func:`set_value` read and write a field in a report
buffer (byte 0 is the report ID), and :func:`to_physical`/:func:`to_logical`
apply the logical/physical scaling and unit exponent exactly as NUT's
libhid does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: At most this many fields are kept (NUT: MAX_REPORT = 500).
MAX_FIELDS = 500
#: Deepest collection nesting accepted.
MAX_DEPTH = 32

TYPE_INPUT = 0x80
TYPE_OUTPUT = 0x90
TYPE_FEATURE = 0xB0
TYPE_NAMES = {TYPE_INPUT: "Input", TYPE_OUTPUT: "Output", TYPE_FEATURE: "Feature"}
#: Main-item attribute bit 0: Constant.
ATTR_CONSTANT = 0x01

_SIZE = (0, 1, 2, 4)

#: HID Power Device units and the exponent NUT removes for them (HID PDC 3.2.3).
UNIT_EXPONENTS: dict[int, int] = {
    0x00F0D121: 7,  # volt
    0x0000D121: 7,  # VA / watt
}


@dataclass(frozen=True, slots=True)
class Field:
    """One data element of a report."""

    path: tuple[int, ...]
    report_id: int
    kind: int
    offset: int
    size: int
    logmin: int
    logmax: int
    phymin: int | None = None
    phymax: int | None = None
    unit: int = 0
    unit_exp: int = 0
    attribute: int = 0

    @property
    def kind_name(self) -> str:
        return TYPE_NAMES.get(self.kind, "?")


@dataclass
class Descriptor:
    """The parsed descriptor: fields in descriptor order, report lengths in bytes."""

    fields: list[Field] = field(default_factory=list)
    #: report ID -> data bytes (without the ID byte), NUT's ``replen``.
    replen: dict[int, int] = field(default_factory=dict)

    def find(self, path: tuple[int, ...], kind: int) -> Field | None:
        """The first field of ``kind`` whose path starts with ``path`` (NUT compares
        only as many nodes as the wanted path has)."""
        n = len(path)
        for f in self.fields:
            if f.kind == kind and f.path[:n] == path:
                return f
        return None

    def find_by_id_node(self, report_id: int, node: int) -> int | None:
        """Index of the first field of ``report_id`` whose last path node is ``node``."""
        for i, f in enumerate(self.fields):
            if f.report_id == report_id and f.path and f.path[-1] == node:
                return i
        return None

    def patch(self, index: int, *, logmin: int | None = None, logmax: int | None = None) -> None:
        f = self.fields[index]
        self.fields[index] = replace(f, logmin=f.logmin if logmin is None else logmin,
                                     logmax=f.logmax if logmax is None else logmax)


def _signed(value: int, nbytes: int) -> int:
    bits = nbytes * 8
    if nbytes in (1, 2, 4) and value & (1 << (bits - 1)):
        return value - (1 << bits)
    return value


def parse(data: bytes) -> Descriptor:
    """Parse ``data``; never raises on malformed input (it stops at the damage)."""
    desc = Descriptor()
    page = 0
    report_id = 0
    size = 0
    count = 0
    logmin = logmax = 0
    phymin: int | None = None
    phymax: int | None = None
    unit = unit_exp = 0
    usages: list[int] = []
    path: list[int] = []
    offsets: dict[tuple[int, int], int] = {}
    pos = 0
    n = len(data)
    while pos < n:
        head = data[pos]
        pos += 1
        if head == 0xFE:  # long item: skip it
            if pos + 1 >= n:
                break
            pos += 2 + data[pos]
            continue
        nbytes = _SIZE[head & 3]
        if pos + nbytes > n:
            break
        raw = int.from_bytes(data[pos:pos + nbytes], "little")
        pos += nbytes
        tag = head & 0xFC
        if tag == 0x04:
            page = raw & 0xFFFF
        elif tag == 0x08:  # usage
            usages.append(raw if nbytes > 2 else (page << 16) | (raw & 0xFFFF))
        elif tag == 0xA0:  # collection
            if len(path) >= MAX_DEPTH:
                break
            path.append(usages.pop(0) if usages else 0)
            if raw >= 0x80:
                path.append(0x00FF0000 | (raw & 0x7F))
            usages = []
        elif tag == 0xC0:  # end collection
            removed = path.pop() if path else 0
            if path and (removed & 0xFFFF0000) == 0x00FF0000:
                path.pop()
            usages = []
        elif tag in (TYPE_INPUT, TYPE_OUTPUT, TYPE_FEATURE):
            key = (report_id, tag)
            for _ in range(count):
                usage = usages.pop(0) if usages else 0
                off = offsets.get(key, 0)
                if usage and len(desc.fields) < MAX_FIELDS:
                    desc.fields.append(Field(
                        (*path, usage), report_id, tag, off, size, logmin, logmax,
                        phymin, phymax, unit, unit_exp, raw & 0xFF))
                # NUT sizes a report by every element, padding included.
                end = (off + size + 7) >> 3
                if end > desc.replen.get(report_id, 0):
                    desc.replen[report_id] = end
                offsets[key] = (off + size) & 0xFF
            usages = []
        elif tag == 0x84:
            report_id = raw & 0xFF
        elif tag == 0x74:
            size = raw & 0xFF
        elif tag == 0x94:
            count = raw & 0xFF
        elif tag == 0x54:
            unit_exp = raw & 0xFF
            unit_exp = unit_exp - 256 if unit_exp > 127 else unit_exp
            if unit_exp > 7:
                unit_exp -= 16
        elif tag == 0x64:
            unit = raw
        elif tag == 0x14:
            logmin = _signed(raw, nbytes)
        elif tag == 0x24:
            logmax = _signed(raw, nbytes)
            if logmax < logmin:
                logmax = raw
        elif tag == 0x34:
            phymin = _signed(raw, nbytes)
        elif tag == 0x44:
            phymax = _signed(raw, nbytes)
    return desc


def _hibit(x: int) -> int:
    return x.bit_length()


def get_value(buf: bytes, f: Field) -> int:
    """The logical value of ``f`` in ``buf`` (NUT's masking and clamping)."""
    value = 0
    bit = f.offset + 8
    for weight in range(f.size):
        index = bit >> 3
        if index < len(buf) and buf[index] & (1 << (bit & 7)):
            value |= 1 << weight
        bit += 1
    mag_max = f.logmax if f.logmax >= 0 else -(f.logmax + 1)
    mag_min = f.logmin if f.logmin >= 0 else -(f.logmin + 1)
    signbit = 1 << _hibit(max(mag_max, mag_min))
    mask = (signbit - 1) | (signbit if f.logmin < 0 else 0)
    value &= mask
    if f.logmin < 0 and value & signbit:
        value -= mask + 1
    return max(f.logmin, min(f.logmax, value))


def set_value(buf: bytearray, f: Field, value: int) -> None:
    """Write the logical ``value`` of ``f`` into ``buf`` (two's complement bits)."""
    bit = f.offset + 8
    for weight in range(f.size):
        index = bit >> 3
        if index < len(buf):
            if value & (1 << weight):
                buf[index] |= 1 << (bit & 7)
            else:
                buf[index] &= ~(1 << (bit & 7)) & 0xFF
        bit += 1


def _exponent(f: Field) -> int:
    return f.unit_exp - UNIT_EXPONENTS.get(f.unit, 0)


def _scaled(f: Field) -> bool:
    if f.phymin is None or f.phymax is None or (f.phymin == 0 and f.phymax == 0):
        return False
    return f.phymax > f.phymin and f.logmax > f.logmin


def to_physical(f: Field, logical: int) -> float:
    """NUT's logical_to_physical followed by the unit exponent."""
    value = float(logical)
    if _scaled(f):
        assert f.phymin is not None and f.phymax is not None
        factor = (f.phymax - f.phymin) / (f.logmax - f.logmin)
        value = (logical - f.logmin) * factor + f.phymin
        value = min(max(value, f.phymin), f.phymax)
    return value * (10.0 ** _exponent(f)) if _exponent(f) >= 0 else value * _neg_pow(_exponent(f))


def _neg_pow(exp: int) -> float:
    """(1/10)^n computed as NUT does (repeated multiplication), for equal rounding."""
    result = 1.0
    for _ in range(-exp):
        result = 0.1 * result
    return result


def to_logical(f: Field, physical: float) -> int:
    """NUT's inverse: remove the exponent, then physical_to_logical (truncating)."""
    exp = _exponent(f)
    value = physical / (10.0 ** exp if exp >= 0 else _neg_pow(exp))
    if not _scaled(f):
        return int(value)
    assert f.phymin is not None and f.phymax is not None
    factor = (f.logmax - f.logmin) / (f.phymax - f.phymin)
    logical = int((value - f.phymin) * factor) + f.logmin
    return max(f.logmin, min(f.logmax, logical))
