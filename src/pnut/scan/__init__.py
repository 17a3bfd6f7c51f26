"""``pnut scan``: find UPSes and print ready ups.conf sections (nut-scanner's job).

How this works
--------------
Each bus has its own module (:mod:`.snmp`, :mod:`.nut`, :mod:`.mdns`,
:mod:`.serial`, :mod:`.usb`) that returns :class:`Found` records; this
module only formats them: nut-scanner's ``[nutdevN]`` sections (``-N``, the
default), its one-line parsable form (``-P``) or JSON.  Option values are
printed as nut-scanner prints them (``key = "value"``, in the order found),
so the output pastes into ups.conf.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Found:
    """One device: bus (SNMP, USB, NUT, AVAHI, SERIAL), driver, port and options."""

    bus: str
    driver: str
    port: str
    options: list[tuple[str, str | None]] = field(default_factory=list)

    def add(self, key: str, value: str | None) -> Found:
        self.options.append((key, value))
        return self

    def as_dict(self) -> dict[str, object]:
        return {"type": self.bus, "driver": self.driver, "port": self.port,
                "options": {k: v for k, v in self.options}}


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def format_ups_conf(found: list[Found], start: int = 1) -> str:
    """nut-scanner's default output: one ``[nutdevN]`` section per device."""
    out = []
    for n, dev in enumerate(found, start):
        out.append(f'[nutdev{n}]\n\tdriver = "{dev.driver}"\n\tport = "{_quote(dev.port)}"\n')
        for key, value in dev.options:
            out.append(f'\t{key} = "{_quote(value)}"\n' if value is not None else f"\t{key}\n")
    return "".join(out)


def format_parsable(found: list[Found]) -> str:
    """nut-scanner's ``-P``: ``BUS:driver="...",port="...",key="value"``."""
    lines = []
    for dev in found:
        parts = [f'{dev.bus}:driver="{dev.driver}"', f'port="{_quote(dev.port)}"']
        parts += [f'{k}="{_quote(v)}"' if v is not None else k for k, v in dev.options]
        lines.append(",".join(parts) + "\n")
    return "".join(lines)


def format_json(found: list[Found]) -> str:
    return json.dumps([d.as_dict() for d in found], indent=2) + "\n"
