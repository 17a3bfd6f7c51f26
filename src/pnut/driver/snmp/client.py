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
    if s.version != "v3":
        from pysnmp.hlapi.v1arch import asyncio as v1

        return v1.CommunityData(s.community, mpModel=0 if s.version == "v1" else 1)
    from pysnmp.hlapi.v3arch import asyncio as hl

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
    from pysnmp.proto import rfc1155, rfc1902, rfc1905

    # SNMPv1 replies decode to RFC 1155 types, v2c/v3 to RFC 1902 ones.
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView,
                          rfc1902.Counter64, rfc1902.IpAddress, rfc1902.Bits,
                          rfc1155.IpAddress, rfc1155.NetworkAddress, univ.Null)):
        return None  # NUT decodes none of these either (pyasn1's Null is an OctetString)
    if isinstance(value, (rfc1902.TimeTicks, rfc1155.TimeTicks)):
        return Value("ticks", int(value))
    if isinstance(value, univ.Integer):
        return Value("int", int(value))
    if isinstance(value, univ.OctetString):
        return Value("str", bytes(value))
    if isinstance(value, univ.ObjectIdentifier):
        return Value("oid", "." + ".".join(str(x) for x in value))
    return None


#: Objects asked in one GET by :meth:`SnmpClient.get_many` (agents answer tooBig
#: beyond what they can carry; pnut then asks one by one).
BATCH = 16
NO_SUCH_NAME = 2


class SnmpClient:
    """GET/SET against one agent; one request in flight at a time.

    SNMP v1/v2c go through pysnmp's light v1arch dispatcher, v3 through its
    full engine (USM); both return the same ``(indication, status, index,
    varbinds)`` tuple, which is all this class looks at.
    """

    def __init__(self, settings: SnmpSettings) -> None:
        self.settings = settings
        self._engine: Any = None
        self._target: Any = None
        self._auth: Any = None
        self._v3 = settings.version == "v3"
        self._lock = asyncio.Lock()

    async def _ensure(self) -> None:
        if self._engine is not None:
            return
        s = self.settings
        hl: Any
        if self._v3:
            from pysnmp.hlapi.v3arch import asyncio as v3

            hl = v3
            self._engine = v3.SnmpEngine()
        else:
            from pysnmp.hlapi.v1arch import asyncio as v1

            hl = v1
            self._engine = v1.SnmpDispatcher()
        self._auth = _auth_data(s)
        target_cls = hl.Udp6TransportTarget if ":" in s.host else hl.UdpTransportTarget
        try:
            self._target = await target_cls.create((s.host, s.port), timeout=s.timeout,
                                                   retries=s.retries)
        except Exception as exc:
            self.close()
            raise SnmpTimeout(f"cannot resolve {s.host}: {exc}") from None

    async def _request(self, kind: str, binds: list[tuple[str, Any]]) -> tuple[Any, Any, Any, Any]:
        await self._ensure()
        if self._v3:
            from pysnmp.hlapi.v3arch import asyncio as v3

            cmd = v3.get_cmd if kind == "get" else v3.set_cmd
            objs = [v3.ObjectType(v3.ObjectIdentity(oid), value) if value is not None
                    else v3.ObjectType(v3.ObjectIdentity(oid)) for oid, value in binds]
            result: tuple[Any, Any, Any, Any] = await cmd(
                self._engine, self._auth, self._target, v3.ContextData(), *objs,
                lookupMib=False)
            return result
        from pysnmp.hlapi.v1arch import asyncio as v1

        cmd = v1.get_cmd if kind == "get" else v1.set_cmd
        result = await cmd(self._engine, self._auth, self._target, *binds, lookupMib=False)
        return result

    async def get(self, oid: str) -> Reply:
        async with self._lock:
            try:
                err_ind, err_stat, _, binds = await self._request("get", [(oid.lstrip("."), None)])
            except SnmpTimeout:
                raise
            except Exception as exc:  # malformed OID, encoder trouble: not the agent's fault
                log.debug("get %s: %s", oid, exc)
                return Reply(True, None)
        if err_ind:
            raise SnmpTimeout(str(err_ind))
        if err_stat or not binds:
            return Reply(True, None)
        return Reply(False, _decode(binds[0][1]))

    async def get_many(self, oids: list[str]) -> dict[str, Reply]:
        """Several objects in one request; the same answers :meth:`get` gives one by one.

        SNMPv1 refuses a whole request for one missing object (noSuchName and
        its index): that object is marked absent and the rest asked again.
        """
        out: dict[str, Reply] = {}
        pending = list(dict.fromkeys(oids))
        while pending:
            async with self._lock:
                try:
                    err_ind, err_stat, err_idx, binds = await self._request(
                        "get", [(oid.lstrip("."), None) for oid in pending])
                except SnmpTimeout:
                    raise
                except Exception as exc:
                    log.debug("get_many: %s", exc)
                    err_ind, err_stat, err_idx, binds = None, 5, 0, []
            if err_ind:
                raise SnmpTimeout(str(err_ind))
            index = int(err_idx or 0)
            if err_stat and int(err_stat) == NO_SUCH_NAME and 1 <= index <= len(pending):
                out[pending.pop(index - 1)] = Reply(True, None)
                continue
            if err_stat or len(binds) != len(pending):
                for oid in pending:  # tooBig, genErr...: one by one
                    out[oid] = await self.get(oid)
                break
            for oid, (_, value) in zip(pending, binds, strict=True):
                out[oid] = Reply(False, _decode(value))
            break
        return out

    async def set(self, oid: str, kind: Literal["i", "s", "t"], value: str | int) -> bool:
        from pysnmp.proto import rfc1902

        asn: Any
        if kind == "s":
            asn = rfc1902.OctetString(str(value))
        elif kind == "t":
            asn = rfc1902.TimeTicks(int(value))
        else:
            asn = rfc1902.Integer(int(value))
        async with self._lock:
            try:
                err_ind, err_stat, _, _ = await self._request("set", [(oid.lstrip("."), asn)])
            except SnmpTimeout:
                raise
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
                if self._v3:
                    self._engine.close_dispatcher()
                else:
                    self._engine.transport_dispatcher.close_dispatcher()
        self._engine = None
        self._target = None
