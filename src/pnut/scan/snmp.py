"""SNMP agents on a list of addresses: sysObjectID → snmp-ups ``mibs``.

As nut-scanner does (scan_snmp.c): a mapping whose sysObjectID equals the
agent's is confirmed by reading its check OID (the value becomes
``desc``); when none matches, the mappings' check OIDs are tried in
snmp-ups' order and the first that answers is the one listed (the mapping
``mibs=auto`` would pick; nut-scanner lists every one that answers, so one
APC card shows up twice, as apcc and as ietf).  The mappings are
snmp-ups' own (:data:`pnut.driver.snmp.mibs.MIBS`).
Agents are asked concurrently (at most :data:`CONCURRENCY` at once), each
request with the scan's timeout and no retry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import Iterable

from pnut.driver.snmp.client import SnmpClient, SnmpSettings, SnmpTimeout
from pnut.driver.snmp.mib import MibInfo, normalize_oid
from pnut.driver.snmp.mibs import MIBS
from pnut.scan import Found

SYSOID = ".1.3.6.1.2.1.1.2.0"
CONCURRENCY = 64
#: Largest range one scan accepts (a /16).
MAX_ADDRESSES = 65536


class ScanError(Exception):
    """Bad scan arguments (a one-line message for the user)."""


def address_range(start: str | None, end: str | None, cidr: str | None) -> list[str]:
    """nut-scanner's ``-s``/``-e``/``-m``: every address, in order."""
    try:
        if cidr:
            net = ipaddress.ip_network(cidr, strict=False)
            if net.num_addresses > MAX_ADDRESSES:
                raise ScanError(f"{cidr}: more than {MAX_ADDRESSES} addresses")
            hosts = list(net.hosts()) or [net.network_address]
            return [str(h) for h in hosts]
        if not start:
            return []
        first = ipaddress.ip_address(start)
        last = ipaddress.ip_address(end or start)
    except ValueError as exc:
        raise ScanError(str(exc)) from None
    if first.version != last.version or int(last) < int(first):
        raise ScanError(f"bad range {start} - {end}")
    if int(last) - int(first) >= MAX_ADDRESSES:
        raise ScanError(f"{start} - {end}: more than {MAX_ADDRESSES} addresses")
    return [str(ipaddress.ip_address(n)) for n in range(int(first), int(last) + 1)]


def _text(value: object) -> str | None:
    from pnut.driver.snmp.client import Value

    if isinstance(value, Value) and value.kind == "str" and isinstance(value.data, bytes):
        return value.data.decode("latin-1")
    if isinstance(value, Value):
        return str(value.data)
    return None


async def _probe(host: str, settings: SnmpSettings, display_port: bool) -> list[Found]:
    client = SnmpClient(settings)
    try:
        try:
            reply = await client.get(SYSOID)
        except SnmpTimeout:
            return []
        port = f"{host}:{settings.port}" if display_port else host
        if ":" in host and display_port:
            port = f"[{host}]:{settings.port}"
        sysoid = None
        if reply.value is not None and reply.value.kind == "oid":
            sysoid = normalize_oid(str(reply.value.data))
        found: list[Found] = []
        matched = [m for m in MIBS if m.sysoid and normalize_oid(m.sysoid) == sysoid]
        for mib in matched:
            answers, desc = await _check(client, mib)
            if answers:
                found.append(_device(port, mib, desc, settings))
                return found
        for mib in MIBS:
            if mib.oid_auto_check is None:
                continue
            answers, desc = await _check(client, mib)
            if answers:
                found.append(_device(port, mib, desc, settings))
                break
        return found
    except SnmpTimeout:
        return []
    finally:
        client.close()


async def _check(client: SnmpClient, mib: MibInfo) -> tuple[bool, str | None]:
    """Does the mapping's check OID answer, and its text (None when it has no check OID)."""
    if mib.oid_auto_check is None:
        return True, None
    reply = await client.get(mib.oid_auto_check)
    if reply.error or reply.value is None:
        return False, None
    return True, _text(reply.value)


def _device(port: str, mib: MibInfo, desc: str | None, s: SnmpSettings) -> Found:
    dev = Found("SNMP", "snmp-ups", port)
    if desc is not None:
        dev.add("desc", desc)
    dev.add("mibs", mib.name)
    if s.version == "v3":
        dev.add("snmp_version", "v3").add("secLevel", s.sec_level).add("secName", s.sec_name)
        if s.sec_level != "noAuthNoPriv":
            dev.add("authPassword", s.auth_password).add("authProtocol", s.auth_protocol)
        if s.sec_level == "authPriv":
            dev.add("privPassword", s.priv_password).add("privProtocol", s.priv_protocol)
    else:
        if s.version != "v1":
            dev.add("snmp_version", s.version)
        dev.add("community", s.community)
    return dev


async def scan_snmp(hosts: Iterable[str], template: SnmpSettings) -> list[Found]:
    """Every agent among ``hosts`` (``template`` gives port, version, credentials, timeout)."""
    sem = asyncio.Semaphore(CONCURRENCY)
    show_port = template.port != 161

    async def one(host: str) -> list[Found]:
        async with sem:
            settings = dataclasses.replace(template, host=host, retries=0)
            return await _probe(host, settings, show_port)

    results = await asyncio.gather(*(one(h) for h in hosts))
    return [dev for devs in results for dev in devs]
