"""NUT servers announced over multicast DNS (``_nut._tcp``), python-zeroconf.

Browses for ``timeout`` seconds, resolves each service to its addresses
and port, and lists each server's UPSes (:func:`pnut.scan.nut.list_server`)
as nut-scanner's avahi scan does.  Without python-zeroconf (the
``zeroconf`` extra) the scan says so and finds nothing.
"""

from __future__ import annotations

import asyncio
import logging

from pnut.scan import Found
from pnut.scan.nut import list_server

log = logging.getLogger("pnut.scan")
SERVICE_TYPE = "_nut._tcp.local."


async def browse(timeout: float, interfaces: list[str] | None = None) -> list[tuple[str, int]]:
    """(address, port) of every ``_nut._tcp`` service seen within ``timeout``."""
    try:
        from zeroconf import IPVersion, ServiceStateChange
        from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf
    except ImportError:
        log.error("mDNS scan needs python-zeroconf (pip install 'pnut[zeroconf]')")
        return []
    names: list[str] = []

    def on_change(zeroconf: object, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added and name not in names:
            names.append(name)

    azc = AsyncZeroconf(interfaces=interfaces or "all", ip_version=IPVersion.V4Only)
    try:
        browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[on_change])
        await asyncio.sleep(timeout)
        await browser.async_cancel()
        out: list[tuple[str, int]] = []
        for name in names:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if await info.async_request(azc.zeroconf, 3000) and info.port:
                for addr in info.parsed_addresses():
                    out.append((addr, info.port))
        return out
    finally:
        await azc.async_close()


async def scan_mdns(timeout: float = 3.0, interfaces: list[str] | None = None) -> list[Found]:
    found: list[Found] = []
    for addr, port in await browse(timeout, interfaces):
        found.extend(await list_server(addr, port, timeout, bus="AVAHI"))
    return found
