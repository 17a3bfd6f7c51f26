"""What every pnut driver is: a small class the framework calls.

The framework (:mod:`pnut.driver.runner`) reads ups.conf, publishes the
``driver.*`` variables, serves the socket and runs the poll loop; a driver
only fills in the hooks below, writing its state through
:class:`~pnut.driver.dstate.DriverState` (``self.dstate``).  The order of
calls is NUT's (drivers/main.c): ``init_ups`` → (``shutdown`` and exit for
``-k``) → ``init_info`` → ``update_info`` → socket opens → ``update_info``
every ``pollinterval`` seconds, or earlier when :meth:`Driver.wake_at` says
so.  Every hook runs under one lock, so a SET never interleaves with a poll.

Devices that come and go
------------------------
When the device stops answering (USB unplugged, serial line silent, SNMP
agent unreachable), raise :class:`DeviceGone` — from ``update_info``,
``instcmd`` or ``setvar``; an ``OSError`` escaping those hooks (pyserial's
and pyusb's errors are ``OSError``) counts the same.  The framework then:

* marks the data stale at once (``DATASTALE`` on the socket: upsd answers
  ``ERR DATA-STALE``, upsmon reports ``NOCOMM``) and leaves every value as
  it was — no made-up ``OB``/``LB`` on the way;
* sets ``driver.state`` to ``reconnect.trying`` and calls
  :meth:`Driver.reconnect` with a capped back-off (:mod:`pnut.driver.reconnect`:
  0.5 s, 1 s, 2 s, 4 s, then every 5 s) for ever, unless ups.conf's
  ``reconnect_max_tries`` says otherwise; INSTCMD and SET answer FAILED
  meanwhile;
* once ``reconnect`` returns, sets ``reconnect.updateinfo`` and polls;
  ``update_info`` calls ``dstate.data_ok()`` as usual and the driver is back
  (``driver.state`` ``quiet``).  A ``DeviceGone`` from that poll just
  continues the loop.

So a driver plugs in with a few lines::

    async def update_info(self) -> None:
        reply = await self.port.ask(b"Q1\r")
        if reply is None:
            raise DeviceGone("no reply to Q1")
        ...
        self.dstate.data_ok()

    async def reconnect(self) -> None:   # only if cleanup()+init_ups() is wrong
        self.port = await open_port(self.config.port)   # raises OSError if absent

For one bad reply that is not a lost device, a driver may keep the old
values and return; NUT's drivers also tolerate a few failures in a row.

``driver.state`` follows NUT 2.8.1+ (drivers/main.c): ``init.starting``,
``init.device``, ``init.quiet``, ``init.info``, ``init.updateinfo``,
``quiet``, ``updateinfo`` (during each poll), ``dumping`` (``-d``),
``reloading``, ``fsd.killpower`` (``-k``), ``reconnect.trying``,
``reconnect.updateinfo``, ``cleanup.upsdrv``, ``cleanup.exit``.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pnut.driver.dstate import DriverState
from pnut.driver.sockproto import Stat

log = logging.getLogger("pnut.driver")


class DriverError(Exception):
    """A fatal problem at start-up: the driver prints it and exits non-zero."""


class DeviceGone(Exception):
    """The device stopped answering; the framework goes stale and reconnects."""


@dataclass(frozen=True, slots=True)
class VarSpec:
    """One ``key = value`` (or bare flag) a driver accepts in ups.conf / -x."""

    name: str
    desc: str
    flag: bool = False
    #: Kept out of ``driver.parameter.*`` (passwords, SNMP communities).
    sensitive: bool = False


@dataclass
class DriverConfig:
    """The driver's settings, merged from ups.conf and ``-x``."""

    progname: str
    upsname: str
    port: str
    confdir: Path
    statepath: Path
    pollinterval: float = 2.0
    values: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    #: Where each value came from (``file:line`` or ``-x``), for errors.
    origins: dict[str, str] = field(default_factory=dict)

    def where(self, key: str) -> str:
        return self.origins.get(key, "ups.conf")

    def error(self, key: str, problem: str) -> DriverError:
        return DriverError(f"{self.where(key)}: {key}: {problem}")

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)

    def get_float(self, key: str, default: float, minimum: float | None = None,
                  maximum: float | None = None) -> float:
        raw = self.values.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.error(key, f"expected a number, got {raw!r}") from None
        if value != value or (minimum is not None and value < minimum) or (
            maximum is not None and value > maximum
        ):
            raise self.error(key, f"{raw} is out of range [{minimum}, {maximum}]")
        return value

    def get_int(self, key: str, default: int, minimum: int | None = None,
                maximum: int | None = None) -> int:
        raw = self.values.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:  # NUT's drivers read their numbers with atoi: 5s is 5
            from pnut.protocol.cnum import strtol

            value, used = strtol(raw)
            if not used:  # atoi's 0 is no value the admin wrote
                log.warning("%s: %s: %r is not a number: using the default %d",
                            self.where(key), key, raw, default)
                return default
            log.warning("%s: %s: %r is read as %d, as NUT reads it", self.where(key), key, raw,
                        value)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(key, f"{raw} is out of range [{minimum}, {maximum}]")
        return value

    def resolve_file(self, name: str) -> Path:
        """NUT 2.8.0's rule for a data file named in ups.conf: absolute, else in confdir."""
        return Path(name) if name.startswith("/") else self.confdir / name


class Driver:
    """Base class of pnut's drivers; override the hooks you need."""

    #: Program name: the ``driver =`` value in ups.conf and the socket prefix.
    name: ClassVar[str] = ""
    #: ``driver.version.internal``.
    version: ClassVar[str] = "0.1"
    description: ClassVar[str] = ""
    #: Settings accepted in ups.conf and with ``-x`` besides the common ones.
    vartab: ClassVar[tuple[VarSpec, ...]] = ()
    #: Publish ``driver.state`` (NUT 2.8.1+); off only where a driver must
    #: stay line-for-line identical to its NUT 2.8.0 counterpart.
    publish_state: ClassVar[bool] = True

    def __init__(self, config: DriverConfig, dstate: DriverState) -> None:
        self.config = config
        self.dstate = dstate

    async def init_ups(self) -> None:
        """Check the settings and open the device; raise DriverError if impossible."""

    async def init_info(self) -> None:
        """Publish the variables and commands the device has."""

    async def update_info(self) -> None:
        """One poll: refresh the variables, call data_ok or data_stale."""

    async def instcmd(self, name: str, param: str | None) -> int:
        log.info("instcmd: unknown command [%s] [%s]", name, param or "")
        return Stat.UNKNOWN

    async def setvar(self, name: str, value: str) -> int:
        log.info("setvar: unknown variable [%s]", name)
        return Stat.UNKNOWN

    async def shutdown(self) -> None:
        """Kill power (``-k``); called right after init_ups, in a fresh process."""
        raise DriverError("shutdown not supported")

    async def reconnect(self) -> None:
        """Reopen a lost device; raise DeviceGone (or OSError) while it is still away.

        The default closes what is left (``cleanup``) and runs ``init_ups``
        again.  The next ``update_info`` follows a successful return.
        """
        await self.cleanup()
        try:
            await self.init_ups()
        except DriverError as exc:
            raise DeviceGone(str(exc)) from None

    async def reload(self, config: DriverConfig) -> None:
        """SIGHUP: new settings from ups.conf (same UPS, same driver)."""
        self.config = config

    async def cleanup(self) -> None:
        """Release the device; called once at exit."""

    def wake_at(self) -> float | None:
        """A monotonic time before the next poll when the driver needs a poll."""
        return None


#: Drivers shipped with pnut: ups.conf ``driver`` name -> "module:Class".
BUILTIN_DRIVERS: dict[str, str] = {
    "sim": "pnut.driver.drivers.sim:SimDriver",
    "dummy-ups": "pnut.driver.drivers.dummy:DummyUps",
    "usbhid-ups": "pnut.driver.drivers.usbhid_ups:UsbHidUps",
    "nutdrv_qx": "pnut.driver.drivers.nutdrv_qx:NutdrvQx",
    "blazer_ser": "pnut.driver.drivers.nutdrv_qx:BlazerSer",
    "blazer_usb": "pnut.driver.drivers.nutdrv_qx:BlazerUsb",
    "snmp-ups": "pnut.driver.drivers.snmp_ups:SnmpUps",
    "apcsmart": "pnut.driver.drivers.apcsmart:ApcSmart",
}


def load_driver(name: str) -> type[Driver]:
    """The class of a built-in driver; DriverError if pnut has none by that name."""
    target = BUILTIN_DRIVERS.get(name)
    if target is None:
        known = ", ".join(sorted(BUILTIN_DRIVERS))
        raise DriverError(f"pnut has no driver named {name!r} (built-in drivers: {known})")
    module_name, _, cls_name = target.partition(":")
    cls: type[Driver] = getattr(importlib.import_module(module_name), cls_name)
    return cls
