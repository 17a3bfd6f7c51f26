"""A small asyncio SNMP client: GET (one or a batch of OIDs) and SET.

How this works
--------------
:class:`SnmpSettings` is NUT's ups.conf options for snmp-ups, checked once
(a bad value is a :class:`~pnut.driver.base.DriverError` naming the key).
:class:`SnmpClient` has two back-ends with one shape: v1/v2c on pnut's
codec (:mod:`.wire`) over a connected UDP socket, v3 on pysnmp 7's engine
(USM).  Both resend ``snmp_retries`` times after ``snmp_timeout`` seconds
(NUT's defaults 5 and 1).  Replies come back as :class:`Value` (the four
ASN.1 kinds NUT decodes) so the walk logic never sees pysnmp types; an
agent that does not answer raises :class:`SnmpTimeout`.  Secrets
(community, passwords) live only in the codec and the pysnmp user object,
and are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
    """The pysnmp USM user for SNMPv3."""
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
#: Datagrams kept while a request waits (late answers, strays).
QUEUE_BOUND = 64

#: (indication, error status, error index, varbinds): what both back-ends return.
Outcome = tuple[str | None, int, int, list[tuple[str, Any]]]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_BOUND)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        """ICMP unreachable and the like: the request simply times out."""


class _V1Backend:
    """SNMP v1/v2c on :mod:`.wire` over one connected UDP socket; retries as net-snmp."""

    def __init__(self, s: SnmpSettings) -> None:
        from pnut.driver.snmp.wire import Codec

        self.settings = s
        self.codec = Codec(s.version, s.community)
        self.transport: asyncio.DatagramTransport | None = None
        self.proto = _Datagrams()

    async def _open(self) -> None:
        if self.transport is not None:
            return
        s = self.settings
        loop = asyncio.get_running_loop()
        try:
            self.transport, _ = await loop.create_datagram_endpoint(
                lambda: self.proto, remote_addr=(s.host, s.port))
        except OSError as exc:
            raise SnmpTimeout(f"cannot reach {s.host}: {exc}") from None

    async def _exchange(self, build: Any) -> Outcome:
        from pnut.driver.snmp.wire import next_request_id

        await self._open()
        assert self.transport is not None
        rid = next_request_id()
        data: bytes = build(rid)
        queue = self.proto.queue
        while not queue.empty():  # answers to requests that already timed out
            queue.get_nowait()
        for _attempt in range(self.settings.retries + 1):
            self.transport.sendto(data)
            deadline = time.monotonic() + self.settings.timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    datagram = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                reply = self.codec.parse(datagram)
                if reply is not None and reply.request_id == rid:
                    return None, reply.error_status, reply.error_index, reply.varbinds
        return "No SNMP response received before timeout", 0, 0, []

    async def get(self, oids: list[str]) -> Outcome:
        return await self._exchange(lambda rid: self.codec.get(rid, oids))

    async def set(self, oid: str, kind: str, value: str | int) -> Outcome:
        return await self._exchange(lambda rid: self.codec.set(rid, oid, kind, value))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.transport = None


class _V3Backend:
    """SNMPv3 (USM) through pysnmp's full engine."""

    def __init__(self, s: SnmpSettings) -> None:
        self.settings = s
        self.engine: Any = None
        self.target: Any = None
        self.auth: Any = None

    async def _open(self) -> None:
        if self.engine is not None:
            return
        from pysnmp.hlapi.v3arch import asyncio as v3

        s = self.settings
        self.engine = v3.SnmpEngine()
        self.auth = _auth_data(s)
        target_cls = v3.Udp6TransportTarget if ":" in s.host else v3.UdpTransportTarget
        try:
            self.target = await target_cls.create((s.host, s.port), timeout=s.timeout,
                                                  retries=s.retries)
        except Exception as exc:
            self.close()
            raise SnmpTimeout(f"cannot resolve {s.host}: {exc}") from None

    async def _run(self, kind: str, objs: list[Any]) -> Outcome:
        from pysnmp.hlapi.v3arch import asyncio as v3

        await self._open()
        cmd = v3.get_cmd if kind == "get" else v3.set_cmd
        err_ind, err_stat, err_idx, binds = await cmd(
            self.engine, self.auth, self.target, v3.ContextData(), *objs, lookupMib=False)
        return (str(err_ind) if err_ind else None, int(err_stat or 0), int(err_idx or 0),
                [(str(oid), value) for oid, value in binds])

    async def get(self, oids: list[str]) -> Outcome:
        from pysnmp.hlapi.v3arch import asyncio as v3

        return await self._run("get", [v3.ObjectType(v3.ObjectIdentity(o.lstrip(".")))
                                       for o in oids])

    async def set(self, oid: str, kind: str, value: str | int) -> Outcome:
        from pysnmp.hlapi.v3arch import asyncio as v3
        from pysnmp.proto import rfc1902

        asn: Any = (rfc1902.OctetString(str(value)) if kind == "s" else
                    rfc1902.TimeTicks(int(value)) if kind == "t" else rfc1902.Integer(int(value)))
        return await self._run("set", [v3.ObjectType(v3.ObjectIdentity(oid.lstrip(".")), asn)])

    def close(self) -> None:
        if self.engine is not None:
            with contextlib.suppress(Exception):
                self.engine.close_dispatcher()
        self.engine = None
        self.target = None


class SnmpClient:
    """GET/SET against one agent; one request in flight at a time.

    SNMP v1/v2c use pnut's own small transport on :mod:`.wire`; v3 goes
    through pysnmp's engine (USM).  Both give ``(indication, status,
    index, varbinds)``, which is all this class looks at.
    """

    def __init__(self, settings: SnmpSettings) -> None:
        self.settings = settings
        self._backend: _V1Backend | _V3Backend = (
            _V3Backend(settings) if settings.version == "v3" else _V1Backend(settings))
        self._lock = asyncio.Lock()

    async def get(self, oid: str) -> Reply:
        async with self._lock:
            try:
                err_ind, err_stat, _, binds = await self._backend.get([oid])
            except SnmpTimeout:
                raise
            except Exception as exc:  # malformed OID, encoder trouble: not the agent's fault
                log.debug("get %s: %s", oid, exc)
                return Reply(True, None)
        if err_ind:
            raise SnmpTimeout(err_ind)
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
                    err_ind, err_stat, index, binds = await self._backend.get(pending)
                except SnmpTimeout:
                    raise
                except Exception as exc:
                    log.debug("get_many: %s", exc)
                    err_ind, err_stat, index, binds = None, 5, 0, []
            if err_ind:
                raise SnmpTimeout(err_ind)
            if err_stat == NO_SUCH_NAME and 1 <= index <= len(pending):
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
        async with self._lock:
            try:
                err_ind, err_stat, _, _ = await self._backend.set(oid, kind, value)
            except SnmpTimeout:
                raise
            except Exception as exc:
                log.warning("set %s: %s", oid, exc)
                return False
        if err_ind:
            raise SnmpTimeout(err_ind)
        if err_stat:
            log.warning("can't set %s: error status %d", oid, err_stat)
            return False
        return True

    def close(self) -> None:
        self._backend.close()
