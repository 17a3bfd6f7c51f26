"""dummy-ups repeater mode: mirror a UPS served by another upsd.

How this works
--------------
``port = ups@host[:port]``.  The repeater is an ordinary network client
(:class:`pnut.client.AsyncClient`).  Every poll it sends ``LIST VAR`` and
``LIST CMD`` and brings the local tree in step.  NUT 2.8.0 copies only the
values (and marks them all RW STRING); pnut deliberately does better
(docs/compat.md):

* each variable's real flags come from ``GET TYPE`` (RW, STRING:n), its
  ``LIST ENUM`` / ``LIST RANGE`` are copied, and so is ``LIST CMD`` — for new
  variables at once, for all of them at every (re)connection and every
  :data:`META_EVERY` polls;
* variables and commands that disappear upstream disappear here;
* while the remote upsd is unreachable (or says its data is stale) the
  driver reports DATASTALE, and it reconnects on the next poll;
* with ``username``/``password`` set, SET and INSTCMD are forwarded to the
  remote upsd (with TRACKING, so the answer to our upsd is the remote
  driver's real result); without them they answer UNKNOWN.

The remote's ``driver.*`` variables are never copied; this driver has its
own.  Start-up fails if the remote cannot be read, unless the
``repeater_disable_strict_start`` flag is set (NUT 2.8.1's option).
"""

from __future__ import annotations

import logging

from pnut.client import AsyncClient
from pnut.client.errors import (
    ClientError,
    DataStale,
    DriverNotConnected,
    ServerError,
)
from pnut.client.models import TrackingStatus, VarType
from pnut.client.tls import settings_from
from pnut.driver.base import DriverConfig, DriverError
from pnut.driver.dstate import DriverState
from pnut.driver.sockproto import Stat
from pnut.driver.state import FLAG_RW, FLAG_STRING
from pnut.protocol.upsname import UpsNameError, parse_upsname

log = logging.getLogger("pnut.driver")

#: Seconds for any one exchange with the remote upsd.
REMOTE_TIMEOUT = 5.0
#: Seconds to wait for the remote driver's TRACKING result.
TRACKING_WAIT = 5.0
#: Polls between full refreshes of flags, enums, ranges.
META_EVERY = 30
#: ERR names that mean "your request was wrong", not "it failed".
_INVALID_ERRS = frozenset({"READONLY", "VAR-NOT-SUPPORTED", "INVALID-VALUE", "TOO-LONG",
                           "CMD-NOT-SUPPORTED", "INVALID-ARGUMENT", "UNKNOWN-INSTCMD"})
_TRACKING_RESULTS = {
    TrackingStatus.SUCCESS: Stat.HANDLED,
    TrackingStatus.UNKNOWN: Stat.UNKNOWN,
    TrackingStatus.INVALID_ARGUMENT: Stat.INVALID,
    TrackingStatus.FAILED: Stat.FAILED,
}


def _flags(vtype: VarType) -> set[str]:
    flags = {FLAG_RW} if vtype.rw else set()
    if vtype.kind == "STRING":
        flags.add(FLAG_STRING)
    return flags


class Repeater:
    """The network side of dummy-ups in repeater mode."""

    def __init__(self, config: DriverConfig, dstate: DriverState) -> None:
        try:
            target = parse_upsname(config.port)
        except UpsNameError as exc:
            raise config.error("port", f"invalid UPS definition ({exc}); "
                                       "required format: upsname[@hostname[:port]]") from None
        self.ups = target.name
        self.host = target.host
        self.port = target.port
        self.dstate = dstate
        self.username = config.get("username")
        self.password = config.get("password")
        try:  # STARTTLS as NUT's repeater (tried; pnut: or required, verified, pinned)
            self.tls = settings_from(config.get("tls"), config.get("cafile"),
                                     config.get("certpin"), config.get("certfile"), environ={})
        except ValueError as exc:
            raise config.error("tls", str(exc)) from None
        self.strict = "repeater_disable_strict_start" not in config.flags
        self.client: AsyncClient | None = None
        self.tracking = False
        self._vars: set[str] = set()
        self._cmds: set[str] = set()
        self._polls = 0
        self._full_meta = True

    @property
    def where(self) -> str:
        return f"{self.ups}@{self.host}:{self.port}"

    # -- connection ----------------------------------------------------------------
    async def _connect(self) -> AsyncClient:
        if self.client is not None and self.client.connected:
            return self.client
        client = AsyncClient(self.host, self.port, timeout=REMOTE_TIMEOUT)
        await client.open()
        try:
            secure = await client.secure(self.tls)
        except BaseException:
            await client.close()
            raise
        if self.username is not None and self.password is not None:
            await client.authenticate(self.username, self.password)
        self.client = client
        self.tracking = False
        self._full_meta = True
        log.info("repeater: connected to %s%s", self.where, " (TLS)" if secure else "")
        return client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def start(self) -> None:
        try:
            await self._sync()
        except (ClientError, OSError) as exc:
            if self.strict:
                raise DriverError(f"repeater: cannot read {self.where}: {exc}") from None
            log.warning("repeater: cannot read %s yet (%s); will keep trying", self.where, exc)
            self.dstate.data_stale()

    async def update(self) -> None:
        try:
            await self._sync()
        except (DataStale, DriverNotConnected) as exc:
            log.info("repeater: %s: %s", self.where, exc)
            self.dstate.data_stale()
        except (ClientError, OSError) as exc:
            if not self.dstate.stale:
                log.warning("repeater: lost %s: %s", self.where, exc)
            await self.close()
            self.dstate.data_stale()

    # -- mirroring -------------------------------------------------------------------
    async def _sync(self) -> None:
        client = await self._connect()
        remote = {k: v for k, v in (await client.list_var(self.ups)).items()
                  if not k.lower().startswith("driver.")}
        commands = set(await client.list_cmd(self.ups))
        self._polls += 1
        full = self._full_meta or self._polls % META_EVERY == 0
        ds = self.dstate
        for name in sorted(self._vars - set(remote)):
            ds.del_info(name)
        for name, value in remote.items():
            is_new = ds.get(name) is None or name not in self._vars
            ds.set_info(name, value)
            if is_new or full:
                await self._copy_meta(client, name)
        self._vars = set(remote)
        for cmd in sorted(self._cmds - commands):
            ds.del_cmd(cmd)
        for cmd in sorted(commands):
            ds.add_cmd(cmd)
        self._cmds = commands
        self._full_meta = False
        ds.data_ok()

    async def _copy_meta(self, client: AsyncClient, name: str) -> None:
        ds = self.dstate
        try:
            vtype = await client.get_type(self.ups, name)
        except ServerError as exc:
            log.debug("repeater: GET TYPE %s: %s", name, exc)
            return
        ds.set_flags(name, _flags(vtype))
        if vtype.kind == "STRING" and vtype.max_length is not None:
            ds.set_aux(name, vtype.max_length)
        var = ds.get(name)
        assert var is not None
        enums = await client.list_enum(self.ups, name) if vtype.enum else []
        for old in [e for e in var.enums if e not in enums]:
            ds.del_enum(name, old)
        for value in enums:
            ds.add_enum(name, value)
        ranges: list[tuple[int, int]] = []
        if vtype.range:
            for rng in await client.list_range(self.ups, name):
                try:
                    ranges.append((int(rng.low), int(rng.high)))
                except ValueError:
                    log.debug("repeater: %s: odd range %s..%s", name, rng.low, rng.high)
        for low, high in [r for r in var.ranges if r not in ranges]:
            ds.del_range(name, low, high)
        for low, high in ranges:
            ds.add_range(name, low, high)

    # -- forwarding ---------------------------------------------------------------------
    def _may_forward(self, what: str) -> bool:
        if self.username is None or self.password is None:
            log.info("repeater: %s not forwarded: no username/password configured", what)
            return False
        return True

    async def _tracked(self, client: AsyncClient, ident: str | None) -> int:
        if ident is None:
            return Stat.HANDLED
        status = await client.wait_tracking(ident, timeout=TRACKING_WAIT, interval=0.1)
        return _TRACKING_RESULTS.get(status, Stat.UNKNOWN)

    async def _ensure_tracking(self, client: AsyncClient) -> None:
        if self.tracking:
            return
        try:
            await client.set_tracking(True)
            self.tracking = True
        except ServerError as exc:
            log.debug("repeater: remote has no TRACKING (%s); results will be optimistic", exc)

    async def forward_set(self, name: str, value: str) -> int:
        if not self._may_forward(f"SET {name}"):
            return Stat.UNKNOWN
        try:
            client = await self._connect()
            await self._ensure_tracking(client)
            result = await self._tracked(client, await client.set_var(self.ups, name, value))
            if result == Stat.HANDLED:
                self.dstate.set_info(name, await client.get_var(self.ups, name))
            return result
        except ServerError as exc:
            log.info("repeater: SET %s refused by %s: %s", name, self.where, exc)
            return Stat.INVALID if exc.name in _INVALID_ERRS else Stat.FAILED
        except (ClientError, OSError) as exc:
            log.warning("repeater: SET %s: %s", name, exc)
            await self.close()
            return Stat.FAILED

    async def forward_instcmd(self, name: str, param: str | None) -> int:
        if not self._may_forward(f"INSTCMD {name}"):
            return Stat.UNKNOWN
        try:
            client = await self._connect()
            await self._ensure_tracking(client)
            return await self._tracked(client, await client.instcmd(self.ups, name, param))
        except ServerError as exc:
            log.info("repeater: INSTCMD %s refused by %s: %s", name, self.where, exc)
            return Stat.INVALID if exc.name in _INVALID_ERRS else Stat.FAILED
        except (ClientError, OSError) as exc:
            log.warning("repeater: INSTCMD %s: %s", name, exc)
            await self.close()
            return Stat.FAILED

