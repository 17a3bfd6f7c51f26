"""upsd's zeroconf announcement: ``_nut._tcp`` over multicast DNS.

NUT ships an avahi service file that announces ``_nut._tcp`` on upsd's
port under the host's name; Home Assistant and other clients find NUT
servers that way.  pnut's upsd announces the same service itself, with
python-zeroconf (the ``zeroconf`` extra), when it listens beyond loopback
(a service nobody else can reach is not worth announcing).  upsd.conf
``ZEROCONF no`` turns it off; ``ZEROCONF yes`` announces even on loopback
(containers, tests).  Without python-zeroconf upsd logs once at debug
level and goes on.

:func:`plan` decides what to announce (no I/O); :class:`Announcer` does it
in the background, so a slow network never delays upsd's start, and says
goodbye on stop.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pnut.config.upsd_conf import WILDCARDS, UpsdConf, is_loopback_host

if TYPE_CHECKING:
    import asyncio

    from zeroconf.asyncio import AsyncZeroconf

log = logging.getLogger("pnut.upsd")

SERVICE_TYPE: Final = "_nut._tcp.local."
#: Seconds a goodbye may take at stop.
STOP_TIMEOUT: Final = 3.0


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    addresses: tuple[str, ...]


def _local_addresses(loopback: bool) -> list[str]:
    """This host's addresses (for LISTEN * / 0.0.0.0 / ::)."""
    import ifaddr  # comes with python-zeroconf

    out: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            addr = ipaddress.ip_address(text)
            if addr.is_link_local or (addr.is_loopback and not loopback):
                continue
            out.append(str(addr))
    return out


def plan(conf: UpsdConf, hostname: str, local: list[str] | None = None) -> list[Service]:
    """The services to announce for this upsd.conf (one per distinct port)."""
    if conf.zeroconf is False:
        return []
    forced = conf.zeroconf is True
    by_port: dict[int, list[str]] = {}
    for host, port in conf.addresses():
        if is_loopback_host(host) and not forced:
            continue
        if host in WILDCARDS:
            pool = local if local is not None else _local_addresses(forced)
            family = 6 if ":" in host else 4
            addrs = [a for a in pool if ipaddress.ip_address(a).version == family]
        else:
            try:
                addrs = [str(ipaddress.ip_address(host))]
            except ValueError:  # a name: announce what it resolves to
                addrs = sorted({str(i[4][0]) for i in socket.getaddrinfo(host, port)})
        bucket = by_port.setdefault(port, [])
        bucket.extend(a for a in addrs if a not in bucket)
    name = hostname.split(".", 1)[0] or "upsd"
    out = []
    for i, (port, addrs) in enumerate(sorted(by_port.items())):
        if addrs:
            out.append(Service(name if i == 0 else f"{name} ({port})", port, tuple(addrs)))
    return out


def _wanted(conf: UpsdConf) -> bool:
    if conf.zeroconf is False:
        return False
    if conf.zeroconf is None and all(
            is_loopback_host(host) for host, _port in conf.addresses()):
        return False  # nothing to announce: do not load python-zeroconf (~8 MB resident)
    if importlib.util.find_spec("zeroconf") is None:
        log.debug("python-zeroconf is not installed: not announcing _nut._tcp")
        return False
    return True


class Announcer:
    """Registers the planned services in the background; :meth:`stop` withdraws them."""

    def __init__(self, conf: UpsdConf) -> None:
        self.conf = conf
        self._zc: AsyncZeroconf | None = None
        self._infos: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        #: Whether :meth:`start` will announce (it needs an asyncio loop then).
        self.wanted = _wanted(conf)

    def start(self) -> None:
        """Announce in the background (call from a running asyncio loop)."""
        import asyncio

        if not self.wanted:
            return
        try:
            services = plan(self.conf, socket.gethostname())
        except OSError as exc:
            log.warning("zeroconf: cannot list this host's addresses: %s", exc)
            return
        if services:
            self._task = asyncio.get_running_loop().create_task(self._register(services))

    async def _register(self, services: list[Service]) -> None:
        from zeroconf import ServiceInfo
        from zeroconf.asyncio import AsyncZeroconf

        addresses = sorted({a for s in services for a in s.addresses})
        try:
            self._zc = AsyncZeroconf(interfaces=addresses)
            for svc in services:
                info = ServiceInfo(
                    SERVICE_TYPE, f"{svc.name}.{SERVICE_TYPE}", port=svc.port,
                    parsed_addresses=list(svc.addresses), properties={},
                    server=f"{socket.gethostname().split('.', 1)[0]}.local.",
                )
                await self._zc.async_register_service(info, allow_name_change=True)
                self._infos.append(info)
                log.info("zeroconf: announcing %s on port %d (%s)", info.name, svc.port,
                         ", ".join(svc.addresses))
        except Exception as exc:  # the announcement is a courtesy: upsd goes on
            log.warning("zeroconf: cannot announce _nut._tcp: %s", exc)

    async def stop(self) -> None:
        import asyncio

        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        zc, self._zc = self._zc, None
        if zc is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(STOP_TIMEOUT):
                await zc.async_unregister_all_services()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(STOP_TIMEOUT):
                await zc.async_close()
