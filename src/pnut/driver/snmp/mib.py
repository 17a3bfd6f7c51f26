"""What a MIB-to-NUT mapping is (the mappings themselves: :mod:`.mibs`).

How this works
--------------
Each ``mib_*.py`` module is one of NUT's ``*-mib.c`` tables as data: an
ordered tuple of :class:`Entry` rows (NUT name, NUT flags, length or
multiplier, OID, default, snmp-ups flags, value lookup).  The order of the
rows matters exactly as in NUT: several rows may feed the same variable
(the first ``UNIQUE`` row that answers silences the others), and all rows
named ``ups.status`` contribute one word each to the status.

:data:`pnut.driver.snmp.mibs.MIBS` lists the mappings in the order NUT's
``mib2nut[]`` tries them, which decides auto-detection when no sysObjectID
matches.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- NUT's ST_FLAG_* (state flags published to upsd) -------------------------
RW = 0x1
STRING = 0x2

# -- NUT's SU_* flags (snmp-ups.h) ------------------------------------------
OK = 1 << 0
STATIC = 1 << 1
ABSENT = 1 << 2
STALE = 1 << 3
NEGINVALID = 1 << 4
UNIQUE = 1 << 5
ZEROINVALID = 1 << 6
NAINVALID = 1 << 7
CMD_OFFSET = 1 << 8
SEMI_STATIC = 1 << 9
OUTLET_GROUP = 1 << 10
OUTLET = 1 << 11
INPUT_1 = 1 << 12
INPUT_3 = 1 << 13
OUTPUT_1 = 1 << 14
OUTPUT_3 = 1 << 15
BYPASS_1 = 1 << 16
BYPASS_3 = 1 << 17
TYPE_INT = 1 << 18
TYPE_TIME = 1 << 19
TYPE_CMD = 1 << 20
AMBIENT_TEMPLATE = 1 << 26
STATUS_PWR = 1 << 28
STATUS_BATT = 1 << 29
STATUS_CAL = 1 << 30
STATUS_RB = 1 << 31

INPHASES = INPUT_1 | INPUT_3
OUTPHASES = OUTPUT_1 | OUTPUT_3
BYPPHASES = BYPASS_1 | BYPASS_3
TYPE_MASK = TYPE_INT | TYPE_TIME | TYPE_CMD
#: Rows pnut does not expand (outlet/ambient templates; none in pnut's MIBs).
TEMPLATE = OUTLET | OUTLET_GROUP | AMBIENT_TEMPLATE

#: NUT's SU_INFOSIZE: longest string value read from an agent, plus one.
INFOSIZE = 128

Lookup = tuple[tuple[int, "str | None"], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a NUT ``snmp_info_t`` table."""

    name: str
    #: ``RW`` / ``STRING`` published with the variable.
    info_flags: int
    #: String length (STRING rows) or the multiplier applied to numbers.
    length: float
    oid: str | None
    default: str | None
    flags: int
    lookup: Lookup | None = None

    @property
    def is_cmd(self) -> bool:
        return bool(self.flags & TYPE_CMD)


@dataclass(frozen=True, slots=True)
class MibInfo:
    """One ``mib2nut_info_t``: a mapping and how to recognise its devices."""

    name: str
    version: str
    oid_pwr_status: str | None
    oid_auto_check: str | None
    table: tuple[Entry, ...]
    sysoid: str | None


def lookup_value(lookup: Lookup | None, value: int) -> str | None:
    """NUT's su_find_infoval: the NUT text for a number (None: publish nothing).

    A "NULL" row means "no text for this number".  NUT 2.8.0 stops the
    search there, and CyberPower's power-status table starts with one, so
    NUT never reports OL or OB for CyberPower cards (nut#2994, fixed in
    NUT 2.8.1 by moving the row last); pnut skips the row instead.
    """
    if lookup is None:
        return None
    for number, text in lookup:
        if text is None:
            return None
        if number == value and text != "NULL":
            return text
    return None


def lookup_number(lookup: Lookup, text: str) -> int | None:
    """NUT's su_find_valinfo: the number for a NUT text (for SET)."""
    for number, name in lookup:
        if name is None:
            return None
        if name == text and name != "NULL":
            return number
    return None


def lookup_texts(lookup: Lookup) -> list[str]:
    out: list[str] = []
    for _, name in lookup:
        if name is None:
            break
        if name != "NULL":
            out.append(name)
    return out


def normalize_oid(oid: str) -> str:
    """Numeric OID without the leading dot (NUT writes both forms)."""
    return oid.strip().lstrip(".")
