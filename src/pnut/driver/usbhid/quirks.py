"""Per-device state that NUT keeps in its subdrivers' static variables."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

#: mge-hid.c's model type for line-interactive and online units (the default).
MGE_DEFAULT = 0x200
ABM_UNKNOWN = -1
COUNTRY_UNKNOWN = -1


def c_long(value: float) -> int:
    """C's (long) cast of a double: truncation toward zero."""
    return int(value) if math.isfinite(value) else 0


@dataclass
class DeviceQuirks:
    """Per-device state some conversions need."""

    vendorid: int = 0
    productid: int = 0
    product: str = ""
    #: Reads the current value of a NUT variable (battery.voltage.nominal).
    getinfo: Callable[[str], str | None] = lambda _name: None
    #: Reads a USB string descriptor.
    get_string: Callable[[int], str] = lambda _index: ""
    battery_scale: float = 1.0
    might_need_battery_scale: bool = False
    battery_scale_checked: bool = False
    max_report: bool = False
    interrupt_pipe: bool = True
    #: Tripp Lite's per-model scale factors (tripplite-hid.c).
    io_voltage_scale: float = 1.0
    io_frequency_scale: float = 1.0
    io_current_scale: float = 1.0
    #: mge-hid.c: model type (from its model table), country, ABM state, nominal output.
    mge_type: int = MGE_DEFAULT
    country_code: int = COUNTRY_UNKNOWN
    abm: int = ABM_UNKNOWN
    nominal_output: int = -1
    #: belkin-hid.c's Liebert voltage multipliers (wrong exponents fixed on the fly).
    liebert_config_mult: float = 1.0
    liebert_line_mult: float = 1.0
    #: openups-hid.c's input/output voltage and charge/discharge current scales.
    openups_scales: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    #: The raw bytes of a report as last read (report ID first), None if not in the
    #: descriptor: ever-hid.c reads some reports whole, by fixed IDs.
    report: Callable[[int], bytes | None] = lambda _rid: None
    #: ever-hid.c's call counters (which of four reports the next call reads).
    ever_ip_counter: int = 1
    ever_packets_counter: int = 1
    #: The status bits collected so far (eaton_converter_online_fun looks at "off").
    status_bits: set[str] = field(default_factory=set)
