"""Home Assistant MQTT discovery: which NUT variable becomes which entity.

One HA device per UPS; its entities are built from :data:`SENSORS` (a
table: NUT variable -> name, device_class, unit, state_class), a text
sensor for ``ups.status``, binary sensors read from the state JSON's
status flags, and one button per instant command when commands are
enabled.  Every entity is available only while both the bridge's
server topic and the UPS's own availability topic say ``online``
(``availability_mode: all``): MQTT allows one last will per connection,
so the will sits on the server topic and covers every UPS behind it.

Config topics: ``<prefix>/<component>/<node>/<object>/config`` where
``node`` is :func:`node_id` (only ``[A-Za-z0-9_-]``, as HA requires).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from pnut.mqtt.names import NAME_SAFE, escape_part


@dataclass(frozen=True)
class Sensor:
    name: str
    device_class: str | None
    unit: str | None
    state_class: str | None = "measurement"
    icon: str | None = None


#: NUT variable -> HA sensor.  Units as NUT documents them (docs/nut-names).
SENSORS: Final[dict[str, Sensor]] = {
    "battery.charge": Sensor("Battery charge", "battery", "%"),
    "battery.charge.low": Sensor("Battery charge low", "battery", "%", None),
    "battery.runtime": Sensor("Battery runtime", "duration", "s"),
    "battery.runtime.low": Sensor("Battery runtime low", "duration", "s", None),
    "battery.voltage": Sensor("Battery voltage", "voltage", "V"),
    "battery.voltage.nominal": Sensor("Battery nominal voltage", "voltage", "V", None),
    "battery.current": Sensor("Battery current", "current", "A"),
    "battery.temperature": Sensor("Battery temperature", "temperature", "°C"),
    "input.voltage": Sensor("Input voltage", "voltage", "V"),
    "input.voltage.nominal": Sensor("Input nominal voltage", "voltage", "V", None),
    "input.frequency": Sensor("Input frequency", "frequency", "Hz"),
    "input.current": Sensor("Input current", "current", "A"),
    "input.transfer.low": Sensor("Input transfer low", "voltage", "V", None),
    "input.transfer.high": Sensor("Input transfer high", "voltage", "V", None),
    "output.voltage": Sensor("Output voltage", "voltage", "V"),
    "output.voltage.nominal": Sensor("Output nominal voltage", "voltage", "V", None),
    "output.frequency": Sensor("Output frequency", "frequency", "Hz"),
    "output.current": Sensor("Output current", "current", "A"),
    "ups.load": Sensor("Load", None, "%", icon="mdi:gauge"),
    "ups.realpower": Sensor("Real power", "power", "W"),
    "ups.realpower.nominal": Sensor("Nominal real power", "power", "W", None),
    "ups.power": Sensor("Apparent power", "apparent_power", "VA"),
    "ups.power.nominal": Sensor("Nominal apparent power", "apparent_power", "VA", None),
    "ups.temperature": Sensor("Temperature", "temperature", "°C"),
    "ambient.temperature": Sensor("Ambient temperature", "temperature", "°C"),
    "ambient.humidity": Sensor("Ambient humidity", "humidity", "%"),
    "ups.beeper.status": Sensor("Beeper", None, None, None, "mdi:volume-high"),
    "ups.alarm": Sensor("Alarm", None, None, None, "mdi:alert"),
    "ups.test.result": Sensor("Self-test result", None, None, None, "mdi:clipboard-check"),
}

#: Binary sensors over the state JSON's status flags: object, name, flag, class.
BINARY: Final = (
    ("on_battery", "On battery", "OB", None, "mdi:battery-arrow-down"),
    ("low_battery", "Low battery", "LB", "battery", None),
    ("replace_battery", "Replace battery", "RB", "problem", None),
    ("overload", "Overload", "OVER", "problem", None),
)

_NODE_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def node_id(server_key: str, ups: str) -> str:
    """An HA node id for one UPS: readable, and unique through a short hash."""
    digest = hashlib.sha256(f"{server_key}/{ups}".encode()).hexdigest()[:8]
    readable = _NODE_BAD.sub("_", f"{server_key}_{ups}").strip("_")[:48]
    return f"pnut_{readable}_{digest}"


def object_id(name: str) -> str:
    return _NODE_BAD.sub("_", name)


@dataclass(frozen=True)
class Topics:
    """The MQTT topics of one UPS (built by :class:`pnut.mqtt.feed.Feed`)."""

    base: str
    server_availability: str

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    def var(self, name: str) -> str:
        return f"{self.base}/var/{escape_part(name, NAME_SAFE)}"

    def command(self, cmd: str) -> str:
        return f"{self.base}/command/{escape_part(cmd, NAME_SAFE)}"


def configs(
    prefix: str,
    node: str,
    topics: Topics,
    ups: str,
    server: str,
    variables: dict[str, str],
    commands: tuple[str, ...] | None,
    origin_version: str,
) -> dict[str, str]:
    """Every discovery config of one UPS: config topic -> JSON payload."""
    device: dict[str, Any] = {
        "identifiers": [node],
        "name": f"{ups} on {server}",
    }
    for key, nut in (("manufacturer", ("device.mfr", "ups.mfr")),
                     ("model", ("device.model", "ups.model")),
                     ("serial_number", ("device.serial", "ups.serial")),
                     ("sw_version", ("ups.firmware",))):
        value = next((variables[n] for n in nut if variables.get(n)), None)
        if value:
            device[key] = value
    common: dict[str, Any] = {
        "device": device,
        "origin": {"name": "pnut", "sw_version": origin_version},
        "availability": [{"topic": topics.server_availability}, {"topic": topics.availability}],
        "availability_mode": "all",
    }
    out: dict[str, str] = {}

    def add(component: str, obj: str, body: dict[str, Any]) -> None:
        payload = {"unique_id": f"{node}_{obj}", **body, **common}
        out[f"{prefix}/{component}/{node}/{obj}/config"] = json.dumps(payload, sort_keys=True)

    add("sensor", "ups_status", {"name": "Status", "state_topic": topics.var("ups.status"),
                                 "icon": "mdi:power-plug"})
    for var, sensor in SENSORS.items():
        if var not in variables:
            continue
        body: dict[str, Any] = {"name": sensor.name, "state_topic": topics.var(var)}
        for key, value in (("device_class", sensor.device_class),
                           ("unit_of_measurement", sensor.unit),
                           ("state_class", sensor.state_class), ("icon", sensor.icon)):
            if value is not None:
                body[key] = value
        add("sensor", object_id(var), body)
    for obj, name, flag, device_class, icon in BINARY:
        body = {
            "name": name, "state_topic": topics.state,
            "value_template": f"{{{{ 'ON' if '{flag}' in value_json.status else 'OFF' }}}}",
            "payload_on": "ON", "payload_off": "OFF",
        }
        if device_class:
            body["device_class"] = device_class
        if icon:
            body["icon"] = icon
        add("binary_sensor", obj, body)
    for cmd in commands or ():
        add("button", object_id(cmd), {"name": cmd, "command_topic": topics.command(cmd),
                                       "payload_press": "PRESS", "icon": "mdi:console"})
    return out
