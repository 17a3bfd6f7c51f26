"""A small SNMP client on pysnmp 7 (asyncio): GET and SET of single OIDs.

How this works
--------------
:class:`SnmpSettings` is NUT's ups.conf options for snmp-ups, checked once
(a bad value is a :class:`~pnut.driver.base.DriverError` naming the key).
:class:`SnmpClient` sends one request per call; pysnmp does the timeout
and retries (``snmp_timeout`` seconds, ``snmp_retries`` times, NUT's
defaults 1 and 5).  Replies come back as :class:`Value` (the four ASN.1
kinds NUT decodes) so the walk logic never sees pysnmp types; an agent
that does not answer raises :class:`SnmpTimeout`.  Secrets (community,
passwords) are kept only in the pysnmp auth object and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

from pnut.driver.base import DriverConfig, DriverError

log = logging.getLogger("pnut.driver")

DEFAULT_PORT = 161
DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT = 1.0

Kind = Literal["str", "int", "ticks", "oid"]


class SnmpTimeout(Exception):
    """The agent did not answer (after the configured retries)."""


@dataclass(frozen=True, slots=True)
class Value:
    """A decoded varbind: octets, an integer (INTEGER/Counter/Gauge), timeticks or an OID."""

    kind: Kind
    data: bytes | int | str


@dataclass(frozen=True, slots=True)
class Reply:
    """One GET answer: ``error`` when the agent refused (v1 noSuchName & co)."""

    error: bool
    value: Value | None


AUTH_PROTOCOLS = ("MD5", "SHA", "SHA256", "SHA384", "SHA512")
PRIV_PROTOCOLS = ("DES", "AES", "AES192", "AES256")
SEC_LEVELS = ("noAuthNoPriv", "authNoPriv", "authPriv")


@dataclass(frozen=True)
class SnmpSettings:
    host: str
    port: int
    version: str = "v1"
    community: str = "public"
    sec_level: str = "noAuthNoPriv"
    sec_name: str = ""
    auth_password: str = ""
    priv_password: str = ""
    auth_protocol: str = "MD5"
    priv_protocol: str = "DES"
    retries: int = DEFAULT_RETRIES
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:  # never show secrets
        return f"SnmpSettings({self.host}:{self.port}, {self.version})"

    @classmethod
    def from_config(cls, config: DriverConfig) -> SnmpSettings:
        host, port = split_host_port(config.port, config)
        version = config.get("snmp_version") or "v1"
        if version not in ("v1", "v2c", "v3"):
            raise config.error("snmp_version", f"{version!r} is not one of v1, v2c, v3")
        level = config.get("secLevel") or "noAuthNoPriv"
        if level not in SEC_LEVELS:
            raise config.error("secLevel", f"{level!r} is not one of {', '.join(SEC_LEVELS)}")
        auth_proto = config.get("authProtocol") or "MD5"
        if auth_proto not in AUTH_PROTOCOLS:
            raise config.error("authProtocol", f"{auth_proto!r} is not one of "
                                               f"{', '.join(AUTH_PROTOCOLS)}")
        priv_proto = config.get("privProtocol") or "DES"
        if priv_proto not in PRIV_PROTOCOLS:
            raise config.error("privProtocol", f"{priv_proto!r} is not one of "
                                               f"{', '.join(PRIV_PROTOCOLS)}")
        settings = cls(
            host=host, port=port, version=version,
            community=config.get("community") or "public",
            sec_level=level, sec_name=config.get("secName") or "",
            auth_password=config.get("authPassword") or "",
            priv_password=config.get("privPassword") or "",
            auth_protocol=auth_proto, priv_protocol=priv_proto,
            retries=config.get_int("snmp_retries", DEFAULT_RETRIES, 0, 100),
            timeout=config.get_float("snmp_timeout", DEFAULT_TIMEOUT, 0.01, 600.0),
        )
        if version == "v3":
            if not settings.sec_name:
                raise config.error("secName", "SNMPv3 needs a secName")
            if level != "noAuthNoPriv" and len(settings.auth_password) < 8:
                raise config.error("authPassword", f"secLevel {level} needs an authPassword "
                                                   "of at least 8 characters")
            if level == "authPriv" and len(settings.priv_password) < 8:
                raise config.error("privPassword", "secLevel authPriv needs a privPassword "
                                                   "of at least 8 characters")
        return settings


def split_host_port(port: str, config: DriverConfig | None = None) -> tuple[str, int]:
    """NUT's ``port = host[:port]`` (``[v6addr]:port`` for IPv6)."""
    text = port.strip()
    host, sep, tail = text, "", ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        sep, tail = (":", rest[1:]) if rest.startswith(":") else ("", "")
    elif text.count(":") == 1:
        host, sep, tail = text.partition(":")
    if not host:
        problem = "empty host name"
        raise config.error("port", problem) if config else DriverError(f"port: {problem}")
    if not sep:
        return host, DEFAULT_PORT
    try:
        number = int(tail)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        problem = f"bad UDP port in {text!r}"
        raise config.error("port", problem) if config else DriverError(f"port: {problem}")
    return host, number


def _auth_data(s: SnmpSettings) -> Any:
    from pysnmp.hlapi.v3arch import asyncio as hl

    if s.version != "v3":
        return hl.CommunityData(s.community, mpModel=0 if s.version == "v1" else 1)
    auth = {
        "MD5": hl.usmHMACMD5AuthProtocol, "SHA": hl.usmHMACSHAAuthProtocol,
        "SHA256": hl.usmHMAC192SHA256AuthProtocol, "SHA384": hl.usmHMAC256SHA384AuthProtocol,
        "SHA512": hl.usmHMAC384SHA512AuthProtocol,
    }[s.auth_protocol]
    priv = {
        "DES": hl.usmDESPrivProtocol, "AES": hl.usmAesCfb128Protocol,
        "AES192": hl.usmAesCfb192Protocol, "AES256": hl.usmAesCfb256Protocol,
    }[s.priv_protocol]
    if s.sec_level == "noAuthNoPriv":
        return hl.UsmUserData(s.sec_name)
    if s.sec_level == "authNoPriv":
        return hl.UsmUserData(s.sec_name, authKey=s.auth_password, authProtocol=auth)
    return hl.UsmUserData(s.sec_name, authKey=s.auth_password, privKey=s.priv_password,
                          authProtocol=auth, privProtocol=priv)


def _decode(value: Any) -> Value | None:
    from pyasn1.type import univ
    from pysnmp.proto import rfc1902, rfc1905

    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView,
                          rfc1902.Counter64, rfc1902.IpAddress, rfc1902.Bits)):
        return None  # NUT decodes none of these either
    if isinstance(value, rfc1902.TimeTicks):
        return Value("ticks", int(value))
    if isinstance(value, univ.Integer):
        return Value("int", int(value))
    if isinstance(value, univ.OctetString):
        return Value("str", bytes(value))
    if isinstance(value, univ.ObjectIdentifier):
        return Value("oid", "." + ".".join(str(x) for x in value))
    return None


class SnmpClient:
    """GET/SET against one agent; one request in flight at a time."""

    def __init__(self, settings: SnmpSettings) -> None:
        self.settings = settings
        self._engine: Any = None
        self._target: Any = None
        self._auth: Any = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> None:
        if self._engine is not None:
            return
        from pysnmp.hlapi.v3arch import asyncio as hl

        s = self.settings
        self._engine = hl.SnmpEngine()
        self._auth = _auth_data(s)
        target_cls = hl.Udp6TransportTarget if ":" in s.host else hl.UdpTransportTarget
        try:
            self._target = await target_cls.create((s.host, s.port), timeout=s.timeout,
                                                   retries=s.retries)
        except Exception as exc:
            self.close()
            raise SnmpTimeout(f"cannot resolve {s.host}: {exc}") from None

    async def get(self, oid: str) -> Reply:
        from pysnmp.hlapi.v3arch import asyncio as hl

        async with self._lock:
            await self._ensure()
            try:
                err_ind, err_stat, _, binds = await hl.get_cmd(
                    self._engine, self._auth, self._target, hl.ContextData(),
                    hl.ObjectType(hl.ObjectIdentity(oid.lstrip("."))), lookupMib=False)
            except Exception as exc:  # malformed OID, encoder trouble: not the agent's fault
                log.debug("get %s: %s", oid, exc)
                return Reply(True, None)
        if err_ind:
            raise SnmpTimeout(str(err_ind))
        if err_stat or not binds:
            return Reply(True, None)
        return Reply(False, _decode(binds[0][1]))

    async def set(self, oid: str, kind: Literal["i", "s", "t"], value: str | int) -> bool:
        from pysnmp.hlapi.v3arch import asyncio as hl

        asn: Any
        if kind == "s":
            asn = hl.OctetString(str(value))
        elif kind == "t":
            asn = hl.TimeTicks(int(value))
        else:
            asn = hl.Integer(int(value))
        async with self._lock:
            await self._ensure()
            try:
                err_ind, err_stat, _, _ = await hl.set_cmd(
                    self._engine, self._auth, self._target, hl.ContextData(),
                    hl.ObjectType(hl.ObjectIdentity(oid.lstrip(".")), asn), lookupMib=False)
            except Exception as exc:
                log.warning("set %s: %s", oid, exc)
                return False
        if err_ind:
            raise SnmpTimeout(str(err_ind))
        if err_stat:
            log.warning("can't set %s: %s", oid, err_stat.prettyPrint())
            return False
        return True

    def close(self) -> None:
        if self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.close_dispatcher()
        self._engine = None
        self._target = None
