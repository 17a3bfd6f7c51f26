"""apcsmart's protocol logic: smart mode, what the UPS can do, polls, commands, SET.

How this works
--------------
NUT 2.8.0's apcsmart.c, rewritten over :class:`~.link.ApcLink`:

* start: ``Y`` until ``SM`` (smart mode), then find what the UPS knows.
  Old firmware is recognised by its ``V`` (or ``b``) answer in the
  compatibility table, which lists its command characters; newer firmware
  lists them itself (``a``: protocol.alerts.commands) and, when ``^Z`` is
  among them, tells the allowed values of its settings (capabilities:
  ``#`` then per setting: character, locale, count, length, values) — those
  become RW enumerations.  A UPS answering neither is "very old": a fixed
  handful of variables is tried.  Each command character is verified by
  reading it once; variables that answer ``NA`` are left out;
* poll: ``Q`` (status bits, hex) then every POLL variable; an hourly full
  read of all variables;
* alerts (``!`` on battery, ``$`` on line, ``%``/``+`` low battery...) change
  ``ups.status`` as soon as they are seen;
* SET cycles an enumeration with ``-`` until the wanted value comes round,
  or writes a string (``-`` plus 8 characters, CR padded);
* "nasty" commands (shutdowns, load.off) run only when sent twice 3..15 s
  apart, as NUT requires.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from pnut.driver.apc import tables as t
from pnut.driver.apc.link import AA, CC, CS, D1, HA, TO, ApcLink
from pnut.driver.apc.tables import Cmd, Var, convert
from pnut.driver.dstate import DriverState
from pnut.driver.sockproto import Stat
from pnut.driver.state import FLAG_RW, FLAG_STRING
from pnut.protocol.cnum import atoi, strtol

log = logging.getLogger("pnut.driver")

ST_CAL, ST_TRIM, ST_BOOST, ST_OL, ST_OB, ST_OVER, ST_LB, ST_RB = (1 << i for i in range(8))
_STATUS_WORDS = ((ST_CAL, "CAL"), (ST_TRIM, "TRIM"), (ST_BOOST, "BOOST"), (ST_OL, "OL"),
                 (ST_OB, "OB"), (ST_OVER, "OVER"), (ST_LB, "LB"), (ST_RB, "RB"))
_ALERT_BITS = {"!": (ST_OB, ST_OL), "$": (ST_OL, ST_OB), "%": (ST_LB, 0), "+": (0, ST_LB),
               "#": (ST_RB, 0), "?": (ST_OVER, 0), "=": (0, ST_OVER)}
STRLEN = 8
_HEX_STATUS = re.compile(r"[0-9A-Fa-f]{1,2}\Z")
MINCMDTIME, MAXCMDTIME = 3, 15


@dataclass
class ApcEngine:
    link: ApcLink
    dstate: DriverState
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vars = [v.copy() for v in t.VARS]
        self.cmds = [c.copy() for c in t.CMDS]
        self.status = 0
        self.last_full = 0.0
        self.last_nasty = 0.0
        self.link.on_alert = self.alert

    # -- lookups ----------------------------------------------------------------
    def by_char(self, ch: str) -> Var | None:
        return next((v for v in self.vars if v.flags & t.PRESENT and v.cmd == ch), None)

    def by_name(self, name: str) -> Var | None:
        low = name.lower()
        return next((v for v in self.vars if v.flags & t.PRESENT and v.name.lower() == low),
                    None)

    # -- status -------------------------------------------------------------------
    def publish_status(self) -> None:
        ds = self.dstate
        ds.status_init()
        for bit, word in _STATUS_WORDS:
            if self.status & bit:
                ds.status_set(word)
        if self.status == 0:
            ds.status_set("OFF")
        ds.status_commit()

    def alert(self, ch: str) -> None:
        on, off = _ALERT_BITS.get(ch, (0, 0))
        self.status = (self.status & ~off) | on
        self.publish_status()

    # -- values ---------------------------------------------------------------------
    def setinfo(self, var: Var, raw: str) -> None:
        """NUT's apc_dstate_setinfo: packed values fill name.1, name.2, ..."""
        if not var.flags & t.PACK:
            self.dstate.set_info(var.name, convert(var, raw))
            return
        fields = raw.split(",", t.PACK_MAX)[: t.PACK_MAX]
        if var.cnt > len(fields):
            self.delinfo(var, len(fields))
        var.cnt = len(fields)
        for i in reversed(range(len(fields))):
            name = var.name.replace(".0.", f".{i + 1}.", 1)
            self.dstate.set_info(name, convert(var, fields[i]) if fields[i] else "N/A")

    def delinfo(self, var: Var, skip: int = 0) -> None:
        if not var.flags & t.PACK:
            self.dstate.del_info(var.name)
            return
        for i in range(skip, var.cnt):
            self.dstate.del_info(var.name.replace(".0.", f".{i + 1}.", 1))
        var.cnt = 0

    async def preread(self, var: Var) -> str | None:
        await self.link.flush()
        self.link.write(var.cmd)
        n, text = await self.link.read(TO)
        if n < 1 or text == "NA":
            if n >= 0:
                log.info("%s [%r] timed out or not supported", var.name, var.cmd)
            return None
        return text

    async def poll(self, var: Var) -> bool:
        if not var.flags & t.PRESENT:
            return True
        await self.link.flush(AA)
        self.link.write(var.cmd)
        n, text = await self.link.read(AA)
        if n < 1:
            return False
        if text == "NA":
            log.warning("verified variable %s [%r] returned NA, removing", var.name, var.cmd)
            var.flags &= ~t.PRESENT
            self.delinfo(var)
        else:
            self.setinfo(var, text)
        return True

    async def update_status(self) -> bool:
        await self.link.flush(AA)
        self.link.write("Q")
        n, text = await self.link.read(AA)
        if n < 1 or text == "NA":
            if n >= 0:
                log.warning("update_status: failed")
            return False
        if not _HEX_STATUS.match(text):
            # NUT 2.8.0 takes whatever hex digits lead the reply, so line noise
            # can become a made-up OB or LB; pnut counts it as a failed poll.
            log.warning("update_status: not a status: %r", text[:20])
            return False
        self.status = strtol(text, 16)[0] & 0xFF
        self.publish_status()
        return True

    # -- discovery --------------------------------------------------------------------
    def _string_setup(self, var: Var) -> None:
        if var.flags & t.STRING:
            self.dstate.set_flags(var.name, {FLAG_RW, FLAG_STRING})
            self.dstate.set_aux(var.name, STRLEN)
            var.flags |= t.RW

    async def verify(self, var: Var) -> None:
        if var.flags & t.MULTI:
            var.flags |= t.PRESENT
            return
        raw = await self.preread(var)
        if raw is None or not var.matches(raw):
            log.warning("%s [%r] - variable invalid", var.name, var.cmd)
            return
        var.flags |= t.PRESENT
        self.setinfo(var, raw)
        self._string_setup(var)

    async def deprecate(self) -> None:
        """Of MULTI rows sharing a name or a character, keep the first that reads well."""
        for i, var in enumerate(self.vars):
            if not var.flags & t.MULTI or not var.flags & t.PRESENT:
                continue
            raw = await self.preread(var)
            if raw is None or not var.matches(raw):
                var.flags &= ~t.PRESENT
                continue
            for other in self.vars[i + 1:]:
                if other.name == var.name or other.cmd == var.cmd:
                    other.flags &= ~t.PRESENT
            self.setinfo(var, raw)
            self._string_setup(var)

    async def protocol_verify(self, ch: str) -> None:
        if ch in t.UNREAD:
            return
        found = [v for v in self.vars if v.cmd == ch]
        for var in found:
            await self.verify(var)
        if found:
            return
        cmds = [c for c in self.cmds if c.cmd == ch]
        for cmd in cmds:
            cmd.flags |= t.PRESENT
            self.dstate.add_cmd(cmd.name)
        if not cmds:
            log.info("[%r] unrecognized", ch)

    async def getcaps(self, overflow_ok: bool) -> None:
        fw = self.dstate.value("ups.firmware")
        locale = fw[-1] if fw else ""
        await self.link.flush()
        self.link.write("\x1a")
        n, text = await self.link.read(CC | TO)
        if n < 1 or text == "NA":
            if n >= 0:
                log.warning("APC cannot do capabilities but said it could !")
            return
        if text[0] != "#":
            log.warning("unknown capability start char [%s] !", text[0])
            return
        matrix = text[1:2] == "#"
        pos = 0 if matrix else 1
        while pos < len(text):
            if matrix:
                pos += 2
            if pos + 4 > len(text):
                if overflow_ok:
                    return
                log.error("capability string has overflowed; ignoring the rest")
                return
            ch, loc = text[pos], text[pos + 1]
            nument, entlen = ord(text[pos + 2]) - 48, ord(text[pos + 3]) - 48
            if nument < 0 or entlen < 0:
                log.error("capability string: count or length out of range; ignoring the rest")
                return
            var = self.by_char(ch)
            valid = var is not None and loc in (locale, "4") and not var.flags & t.PACK
            if var is not None and valid:
                self.dstate.set_flags(var.name, {FLAG_RW})
                var.flags |= t.RW | t.ENUM
            entries = pos + 4
            for i in range(nument):
                if var is not None and valid:
                    value = text[entries + i * entlen: entries + (i + 1) * entlen]
                    self.dstate.add_enum(var.name, convert(var, value))
            pos = entries + nument * entlen

    async def old_setup(self) -> None:
        for name in ("ups.temperature", "ups.load", "input.voltage", "output.voltage",
                     "battery.charge", "battery.voltage", "ups.model", "ups.serial",
                     "ups.firmware", "output.current"):
            for var in self.vars:
                if var.name == name:
                    await self.verify(var)
        await self.deprecate()
        if self.by_name("output.current"):
            self.dstate.set_info("ups.model", "Matrix-UPS")
        elif not self.by_name("ups.model"):
            self.dstate.set_info("ups.model", "Smart-UPS")

    async def firmware_lookup(self) -> int:
        await self.link.flush()
        self.link.write("V")
        n, text = await self.link.read(TO)
        if n < 0:
            return 0
        if not n or text == "NA":
            self.link.write("b")
            n, text = await self.link.read(TO)
            if n < 1:
                return 0
        if text == "451.2.I":
            return 2
        if re.search(r"^[a-fA-F0-9]{2}\Z", text):
            text = "set\x01"
        chars = t.COMPAT.get(text)
        if chars is None:
            return 0
        model = "Matrix-UPS" if text[:1] in "05" else "Smart-UPS"
        self.dstate.set_info("ups.model", model)
        for ch in chars:
            await self.protocol_verify(ch)
        await self.deprecate()
        return 1

    async def base_info(self) -> bool:
        qco = await self.firmware_lookup()
        if qco == 1:
            return True
        await self.link.flush()
        self.link.write("a")
        n, text = await self.link.read(CS | TO)
        if n < 0:
            return False
        if not n or text == "NA" or not re.search(t.CMDSET_FMT, text):
            log.info("very old or unknown APC model, support will be limited")
            await self.old_setup()
            return True
        cmds = text.split(".")[2]
        for ch in cmds:
            await self.protocol_verify(ch)
        await self.deprecate()
        if "\x1a" in cmds:
            await self.getcaps(qco == 2)
        return True

    async def smartmode(self, tries: int) -> bool:
        for _ in range(tries):
            await self.link.flush()
            self.link.write("Y")
            n, text = await self.link.read(TO | D1)
            if n > 0 and text == "SM":
                return True
            if n < 0:
                await asyncio.sleep(1)
            self.link.write("\x1b")
            await self.link.read(TO | D1)
        return False

    async def update(self, all_vars: bool) -> bool:
        """One poll: status, then the POLL variables (every variable when ``all_vars``)."""
        if not await self.update_status():
            return False
        for var in self.vars:
            if (all_vars or var.flags & t.POLL) and not await self.poll(var):
                return False
        return True

    # -- SET ---------------------------------------------------------------------------
    async def setvar(self, name: str, value: str) -> int:
        var = self.by_name(name)
        if var is None:
            return Stat.UNKNOWN
        if not var.flags & t.RW:
            log.warning("setvar: [%s] is not writable", name)
            return Stat.UNKNOWN
        if var.flags & t.ENUM:
            return await self._set_enum(var, value)
        if var.flags & t.STRING:
            return await self._set_string(var, value)
        return Stat.UNKNOWN

    async def _set_enum(self, var: Var, value: str) -> int:
        link = self.link
        await link.flush(AA)
        link.write(var.cmd)
        n, orig = await link.read(AA)
        if n < 1 or orig == "NA":
            return Stat.FAILED
        if convert(var, orig) == value:
            return Stat.HANDLED
        for _ in range(32):
            link.write("-")
            n, text = await link.read(AA)
            if n < 1 or text != "OK":
                return Stat.FAILED
            link.write(var.cmd)
            n, text = await link.read(AA)
            if n < 1 or text == "NA":
                return Stat.FAILED
            now = convert(var, text)
            if now == value:
                log.info("setvar: SET %s='%s'", var.name, value)
                await self.poll(var)
                return Stat.HANDLED
            if now == orig:
                log.error("setvar: variable %s wrapped", var.name)
                return Stat.FAILED
        await self.poll(var)
        return Stat.FAILED

    async def _set_string(self, var: Var, value: str) -> int:
        link = self.link
        if len(value) > STRLEN:
            return Stat.FAILED
        await link.flush(AA)
        link.write(var.cmd)
        n, text = await link.read(AA)
        if n < 1 or text == "NA":
            return Stat.FAILED
        if text == value:
            return Stat.HANDLED
        if await link.write_long("-" + value + "\r" * (STRLEN - len(value))) != STRLEN + 1:
            return Stat.FAILED
        n, text = await link.read(AA)
        if n < 1 or text == "NO":
            return Stat.FAILED
        await self.poll(var)
        log.info("setvar: SET %s='%s'", var.name, value)
        return Stat.HANDLED

    # -- instant commands -------------------------------------------------------------------
    def _find_cmd(self, name: str, ext: str | None) -> Cmd | None:
        for cmd in self.cmds:
            if cmd.name.lower() != name.lower():
                continue
            if cmd.ext is not None:
                if re.search(cmd.ext, ext or "") is None:
                    continue
            elif ext is not None:
                continue
            return cmd
        return None

    def _in_window(self) -> bool:
        now = float(int(time.time()))
        elapsed, self.last_nasty = now - self.last_nasty, now
        return MINCMDTIME <= elapsed <= MAXCMDTIME

    async def instcmd(self, name: str, ext: str | None) -> int:
        cmd = self._find_cmd(name, ext)
        if cmd is None:
            log.warning("instcmd: unknown command [%s %s]", name, ext or "")
            return Stat.INVALID
        if not cmd.flags & t.PRESENT:
            log.warning("instcmd: command [%s] not supported by your UPS model", name)
            return Stat.INVALID
        if cmd.flags & t.NASTY and not self._in_window():
            log.info("instcmd: %s must be sent again within %d-%d s to run", name,
                     MINCMDTIME, MAXCMDTIME)
            return Stat.HANDLED
        low = name.lower()
        if low in ("calibrate.start", "calibrate.stop"):
            return await self._calibrate(low == "calibrate.start")
        if low == "load.on":
            await self.link.flush()
            return Stat.HANDLED if await self.link.write_rep("\x0e") == 2 else Stat.FAILED
        if low == "load.off":
            return await self.sd_z()
        if low == "shutdown.stayoff":
            return await self.sd_k()
        if low == "shutdown.return":
            if not ext:
                return await self.sd_s()
            if ext[:1].upper() == "A":
                return await self.sd_at(ext[3:])
            if ext[:1].upper() == "C":
                return await self.sd_cs()
        return await self._do_cmd(cmd)

    async def _do_cmd(self, cmd: Cmd) -> int:
        link = self.link
        await link.flush(AA)
        if cmd.flags & t.REPEAT:
            ok = await link.write_rep(cmd.cmd) == 2
        else:
            ok = link.write(cmd.cmd) == 1
        if not ok:
            return Stat.FAILED
        n, text = await link.read(AA)
        if n < 1 or text != "OK":
            log.warning("instcmd: got [%s] after command [%s]", text, cmd.name)
            return Stat.FAILED
        return Stat.HANDLED

    async def _calibrate(self, start: bool) -> int:
        link = self.link
        await link.flush(AA)
        link.write("Q")
        n, text = await link.read(AA)
        if n < 1 or text == "NA":
            return Stat.HANDLED
        running = bool(strtol(text, 16)[0] & ST_CAL)
        if running == start:
            return Stat.HANDLED
        link.write("D")
        await link.read(AA)
        return Stat.HANDLED

    # -- shutdowns ------------------------------------------------------------------------------
    async def sdok(self, ignore_timeout: bool) -> int:
        n, text = await self.link.read(HA | D1 | TO)
        if n < 0:
            return Stat.FAILED
        return Stat.HANDLED if (not n and ignore_timeout) or text == "OK" else Stat.FAILED

    async def sd_s(self) -> int:
        await self.link.flush()
        self.link.write("S")
        return await self.sdok(False)

    async def sd_cs(self) -> int:
        delay = float(self.settings.get("cshdelay", "3.5") or 0)
        if self.status & ST_OL:
            await self.link.flush()
            self.link.write("U")
            n, _ = await self.link.read(D1 | TO)
            if n < 0:
                return Stat.FAILED
            await asyncio.sleep(delay)
        # NUT 2.8.0 never sends the S here (a bug: its soft hibernate is skipped).
        return await self.sd_s()

    async def sd_at(self, awd: str | None) -> int:
        awd = awd or "000"
        width = 2 if len(awd) == 2 else 3
        text = "@" + awd.rjust(width, "0")
        await self.link.flush()
        if await self.link.write_long(text) != width + 1:
            log.error("issuing [@] with %d digits failed", width)
            return Stat.FAILED
        ret = await self.sdok(False)
        if ret == Stat.HANDLED or width == 3:
            return ret
        self.link.write("Y")
        await self.link.read(D1 | TO)
        return Stat.FAILED

    async def sd_k(self) -> int:
        await self.link.flush()
        if await self.link.write_rep("K") != 2:
            return Stat.FAILED
        return await self.sdok(False)

    async def sd_z(self) -> int:
        await self.link.flush()
        if await self.link.write_rep("Z") != 2:
            return Stat.FAILED
        return await self.sdok(True)

    async def shutdown(self) -> None:
        """NUT's upsdrv_shutdown: simple (``sdtype``) or ``advorder`` methods."""
        if not await self.smartmode(1):
            log.warning("shutdown: setting SmartMode failed !")
        self.link.write("Q")
        n, text = await self.link.read(D1)
        # NUT 2.8.0 accepts only a one-character answer here, so the usual "08"
        # reads as a failure and it assumes OB+LB (sending S, which a UPS on
        # mains ignores); pnut reads the status as every poll does.
        ok = n >= 1 and _HEX_STATUS.match(text) is not None
        self.status = strtol(text, 16)[0] if ok else ST_LB | ST_OB
        order = self.settings.get("advorder")
        if order and order[0].upper() != "N":
            methods = [self.sd_s, lambda: self.sd_at(self.settings.get("awd")), self.sd_k,
                       self.sd_z, self.sd_cs]
            for digit in order:
                if await methods[int(digit)]() == Stat.HANDLED:
                    break
            return
        sdtype = atoi(self.settings.get("sdtype", "0"))
        awd = self.settings.get("awd")
        if sdtype == 5:
            await self.sd_at(awd)
        elif sdtype == 4:
            await self.sd_cs()
        elif sdtype == 3:
            await self.sd_k()
        elif sdtype == 2:
            await self.sd_z()
        elif sdtype == 1:
            if not self.status & ST_OB or await self.sd_s() != Stat.HANDLED:
                await self.sd_at(awd)
        elif self.status & ST_OL:
            await self.sd_at(awd)
        else:
            await self.sd_s()
