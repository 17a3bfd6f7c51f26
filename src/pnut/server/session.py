"""One client connection of upsd, without any I/O: words in, reply text out.

How this works
--------------
:meth:`Session.handle` takes the words of one request line and returns the
exact reply text (one line, or a whole ``BEGIN LIST`` ... ``END LIST``
block).  Everything the session needs from the rest of the daemon sits in
a :class:`Context`: the UPS :class:`~pnut.server.store.Store`, the users,
the descriptions, the TRACKING table and the list of sessions (for LIST
CLIENT).  The asyncio layer feeds lines and writes replies; after each
reply it looks at :attr:`Session.closing` (LOGOUT/DETACH) and
:attr:`Session.start_tls` (STARTTLS accepted).

The order of checks is NUT 2.8.0's, because clients see it: unknown
command; USERNAME then PASSWORD for privileged commands (before the
arguments are even looked at); argument count; then per command the UPS
name (``UNKNOWN-UPS``), the driver (``DRIVER-NOT-CONNECTED``), freshness
(``DATA-STALE``) and only then the command's own checks.  Names are echoed
as the client typed them; values are escaped here and nowhere else.

Every refusal is a :class:`NutError` raised inside and turned into an
``ERR`` line at the one place in :meth:`Session.handle`.

Security (docs/upsd.md): with REQUIRE_TLS (``Context.require_tls``) a
connection without TLS gets ``ERR TLS-NOT-ENABLED`` for everything except
STARTTLS, VER, PROTVER/NETVER and HELP.  Every privileged command goes
through :meth:`Session._authorize`, which asks the
:class:`~pnut.server.guard.AddressGuard` whether the address has used up
its failed logins, and logs each failure or denial as ``user@address`` -
never the password.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pnut.config.users import User, Users
from pnut.protocol import requests as rq
from pnut.protocol.errors import ErrorName, NutError
from pnut.protocol.limits import (
    DESCRIPTION_UNAVAILABLE,
    HELP_TEXT,
    NUT_VERSION,
    PROTOCOL_VERSION,
    SERVER_INFO,
    UPSDESC_UNAVAILABLE,
)
from pnut.protocol.tokens import escape, quote, quote_word
from pnut.server.descriptions import Descriptions
from pnut.server.guard import AddressGuard
from pnut.server.store import Store, UpsEntry
from pnut.server.tracking import Tracker, new_id

log = logging.getLogger("pnut.upsd")

_ERR_UNKNOWN_COMMAND = "ERR UNKNOWN-COMMAND\n"
_ERR_TLS_NOT_ENABLED = "ERR TLS-NOT-ENABLED\n"
#: What a connection may say before STARTTLS when TLS is required.
PLAIN_TEXT_ALLOWED = frozenset({"STARTTLS", "VER", "PROTVER", "NETVER", "HELP"})


@dataclass
class Context:
    """The daemon-wide state every session reads."""

    store: Store = field(default_factory=Store)
    users: Users = field(default_factory=Users)
    descriptions: Descriptions = field(default_factory=Descriptions)
    tracker: Tracker = field(default_factory=lambda: Tracker(3600.0))
    #: Open sessions in connection order (a dict: O(1) add and remove).
    #: LIST CLIENT walks it backwards: NUT lists the newest client first.
    sessions: dict[Session, None] = field(default_factory=dict)
    #: True once a certificate is configured (STARTTLS then proceeds).
    tls_ready: bool = False
    #: REQUIRE_TLS: refuse everything but PLAIN_TEXT_ALLOWED before STARTTLS.
    require_tls: bool = False
    guard: AddressGuard = field(default_factory=AddressGuard)


def _atoi(text: str) -> int:
    """C's atoi, as NUT uses it to compare a SET value with a range."""
    s = text.lstrip(" \t\n\r\x0b\x0c")
    sign = -1 if s[:1] == "-" else 1
    if s[:1] in ("+", "-"):
        s = s[1:]
    n = 0
    for ch in s:
        if not "0" <= ch <= "9":
            break
        n = n * 10 + ord(ch) - 48
    return sign * n


class Session:
    """The protocol state of one client connection."""

    __slots__ = ("addr", "closing", "ctx", "loginups", "password", "plain_refused",
                 "start_tls", "tls", "tracking", "username")

    def __init__(self, ctx: Context, addr: str) -> None:
        self.ctx = ctx
        #: The peer's numeric IP address, as LIST CLIENT shows it.
        self.addr = addr
        self.username: str | None = None
        self.password: str | None = None
        #: The UPS (ups.conf spelling) this connection is logged into.
        self.loginups: str | None = None
        self.tracking = False
        self.tls = False
        #: Set by LOGOUT/DETACH: close once the reply is written.
        self.closing = False
        #: Set when STARTTLS was accepted: start the handshake after the reply.
        self.start_tls = False
        #: Requests refused for want of TLS (logged once per connection).
        self.plain_refused = 0

    # -- the one entry point ------------------------------------------------
    def handle(self, words: tuple[str, ...] | list[str]) -> str:
        """The reply text for one request line."""
        if self.ctx.require_tls and not self.tls and (
                not words or words[0].upper() not in PLAIN_TEXT_ALLOWED):
            self.plain_refused += 1
            if self.plain_refused == 1:  # the command word only if it is one: no secrets
                spec = rq.lookup(words[0]) if words else None
                log.info("Client %s sent %s before STARTTLS: refused (REQUIRE_TLS)",
                         self.addr, spec.word if spec else "an unknown command")
            return _ERR_TLS_NOT_ENABLED
        # Fast path for the request monitoring clients send most.
        if len(words) >= 4 and words[0].upper() == "GET" and words[1].upper() == "VAR":
            try:
                return self._get_var(words[2], words[3])
            except NutError as exc:
                return f"ERR {exc.name}\n"
        if not words:
            return _ERR_UNKNOWN_COMMAND
        spec = rq.lookup(words[0])
        if spec is None:
            return _ERR_UNKNOWN_COMMAND
        try:
            if spec.needs_auth:
                if self.username is None:
                    raise NutError(ErrorName.USERNAME_REQUIRED)
                if self.password is None:
                    raise NutError(ErrorName.PASSWORD_REQUIRED)
            req = rq.parse_request(words)
            return _DISPATCH[type(req)](self, req)
        except NutError as exc:
            return f"ERR {exc.name}\n"

    @property
    def unrestricted(self) -> bool:
        """True when replies depend on the request alone (no REQUIRE_TLS gate)."""
        return self.tls or not self.ctx.require_tls

    def close(self) -> None:
        """The connection is gone: give back its login."""
        if self.loginups is not None:
            entry = self.ctx.store.get(self.loginups)
            if entry is not None and entry.numlogins > 0:
                entry.numlogins -= 1
            self.loginups = None

    # -- helpers ------------------------------------------------------------
    def _ups(self, name: str) -> UpsEntry:
        entry = self.ctx.store.get(name)
        if entry is None:
            raise NutError(ErrorName.UNKNOWN_UPS)
        return entry

    def _available(self, name: str) -> UpsEntry:
        """The UPS, connected to its driver and with fresh data."""
        entry = self.ctx.store.get(name)
        if entry is None:
            raise NutError(ErrorName.UNKNOWN_UPS)
        if not entry.connected:
            raise NutError(ErrorName.DRIVER_NOT_CONNECTED)
        if entry.stale:
            raise NutError(ErrorName.DATA_STALE)
        return entry

    @property
    def who(self) -> str:
        return f"{self.username}@{self.addr}"

    def _authorize(self, what: str, granted: Callable[[User], bool]) -> None:
        """Check USERNAME/PASSWORD for ``what``; ACCESS-DENIED unless allowed.

        An address that used up its failed logins is refused without a
        check.  Failures and denials are logged without the password.
        """
        ctx = self.ctx
        guard = ctx.guard
        if guard.login_blocked(self.addr):
            log.debug("Refusing %s for %s unchecked: too many failed logins", what, self.who)
            raise NutError(ErrorName.ACCESS_DENIED)
        user = ctx.users.authenticate(self.username, self.password)
        if user is None:
            why = "wrong password" if self.username in ctx.users.users else "unknown user"
            log.warning("Authentication failed for %s (%s): %s", self.who, what, why)
            if guard.login_failed(self.addr):
                log.warning("Too many failed logins from %s (%d within %g s): its logins are "
                            "refused unchecked for up to %g s", self.addr, guard.max_failures,
                            guard.window, guard.window)
            raise NutError(ErrorName.ACCESS_DENIED)
        if not granted(user):
            log.warning("Access denied: %s may not %s", self.who, what)
            raise NutError(ErrorName.ACCESS_DENIED)

    # -- simple commands ----------------------------------------------------
    def _ver(self, req: rq.Ver) -> str:
        return SERVER_INFO + "\n"

    def _protver(self, req: rq.ProtVer) -> str:
        return PROTOCOL_VERSION + "\n"

    def _help(self, req: rq.Help) -> str:
        return HELP_TEXT + "\n"

    def _starttls(self, req: rq.StartTLS) -> str:
        if self.tls:
            raise NutError(ErrorName.ALREADY_SSL_MODE)
        if not self.ctx.tls_ready:
            raise NutError(ErrorName.FEATURE_NOT_CONFIGURED)
        self.start_tls = True
        return "OK STARTTLS\n"

    def _username(self, req: rq.Username) -> str:
        if self.username is not None:
            log.info("Client %s tried to set a username twice", self.who)
            raise NutError(ErrorName.ALREADY_SET_USERNAME)
        self.username = req.name
        return "OK\n"

    def _password(self, req: rq.Password) -> str:
        if self.password is not None:
            log.info("Client %s tried to set a password twice", self.who)
            raise NutError(ErrorName.ALREADY_SET_PASSWORD)
        self.password = req.password
        return "OK\n"

    # -- sessions and logins ------------------------------------------------
    def _login(self, req: rq.Login) -> str:
        if self.loginups is not None:
            log.info("Client %s tried to login twice", self.who)
            raise NutError(ErrorName.ALREADY_ATTACHED if req.word == "ATTACH"
                           else ErrorName.ALREADY_LOGGED_IN)
        entry = self._ups(req.ups)
        self._authorize(f"{req.word} {entry.name}", lambda u: u.may("login"))
        entry.numlogins += 1
        self.loginups = entry.name
        log.info("User %s logged into UPS [%s]%s", self.who, entry.name,
                 " (SSL)" if self.tls else "")
        return "OK\n"

    def _logout(self, req: rq.Logout) -> str:
        if self.loginups is not None:
            log.info("User %s logged out from UPS [%s]", self.who, self.loginups)
        self.closing = True
        return "OK Goodbye\n"

    def _primary(self, req: rq.Primary) -> str:
        entry = self._ups(req.ups)
        self._authorize(f"{req.word} {entry.name}",
                        lambda u: u.may("primary") or u.may("master"))
        return "OK MASTER-GRANTED\n" if req.word == "MASTER" else "OK PRIMARY-GRANTED\n"

    def _fsd(self, req: rq.Fsd) -> str:
        entry = self._ups(req.ups)
        self._authorize(f"FSD {entry.name}", lambda u: u.may("fsd"))
        log.info("Client %s set FSD on UPS [%s]", self.who, entry.name)
        entry.fsd = True
        return "OK FSD-SET\n"

    # -- GET ------------------------------------------------------------------
    def _get_var(self, ups: str, var: str) -> str:
        low = var.lower()
        if low.startswith("server."):  # answered for any UPS name
            if low == "server.info":
                return f"VAR {ups} server.info {quote(SERVER_INFO)}\n"
            if low == "server.version":
                return f'VAR {ups} server.version "{NUT_VERSION}"\n'
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        entry = self._available(ups)
        value = entry.state.value(var)
        if value is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        if entry.fsd and low == "ups.status":
            value = "FSD " + value
        return f'VAR {ups} {var} "{escape(value)}"\n'

    def _get_var_req(self, req: rq.GetVar) -> str:
        return self._get_var(req.ups, req.var)

    def _get_type(self, req: rq.GetType) -> str:
        variable = self._available(req.ups).state.get(req.var)
        if variable is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        return f"TYPE {req.ups} {req.var} {' '.join(variable.type_words())}\n"

    def _get_desc(self, req: rq.GetDesc) -> str:
        self._available(req.ups)
        text = self.ctx.descriptions.var(req.var) or DESCRIPTION_UNAVAILABLE
        return f"DESC {req.ups} {req.var} {quote(text)}\n"

    def _get_cmddesc(self, req: rq.GetCmdDesc) -> str:
        self._available(req.ups)
        text = self.ctx.descriptions.cmd(req.cmd) or DESCRIPTION_UNAVAILABLE
        return f"CMDDESC {req.ups} {req.cmd} {quote(text)}\n"

    def _get_upsdesc(self, req: rq.GetUpsDesc) -> str:
        entry = self._ups(req.ups)
        text = entry.desc if entry.desc is not None else UPSDESC_UNAVAILABLE
        return f"UPSDESC {req.ups} {quote(text)}\n"

    def _get_numlogins(self, req: rq.GetNumLogins) -> str:
        entry = self._available(req.ups)
        return f"{req.word} {req.ups} {entry.numlogins}\n"

    def _get_tracking(self, req: rq.GetTracking) -> str:
        if req.id is None:
            return "ON\n" if self.tracking else "OFF\n"
        if not self.tracking:
            raise NutError(ErrorName.FEATURE_NOT_CONFIGURED)
        return self.ctx.tracker.answer(req.id) + "\n"

    # -- LIST -----------------------------------------------------------------
    def _list_ups(self, req: rq.ListUps) -> str:
        body = [
            f"UPS {e.name} {quote(e.desc if e.desc is not None else DESCRIPTION_UNAVAILABLE)}\n"
            for e in self.ctx.store
        ]
        return f"BEGIN LIST UPS\n{''.join(body)}END LIST UPS\n"

    def _list_var(self, req: rq.ListVar) -> str:
        entry = self._available(req.ups)
        ups = req.ups
        body = []
        for v in entry.state.variables():
            value = v.value
            if entry.fsd and v.name.lower() == "ups.status":
                value = "FSD " + value
            body.append(f'VAR {ups} {v.name} "{escape(value)}"\n')
        return f"BEGIN LIST VAR {ups}\n{''.join(body)}END LIST VAR {ups}\n"

    def _list_rw(self, req: rq.ListRw) -> str:
        entry = self._available(req.ups)
        ups = req.ups
        body = [f'RW {ups} {v.name} "{escape(v.value)}"\n'
                for v in entry.state.variables() if v.writable]
        return f"BEGIN LIST RW {ups}\n{''.join(body)}END LIST RW {ups}\n"

    def _list_cmd(self, req: rq.ListCmd) -> str:
        entry = self._available(req.ups)
        ups = req.ups
        body = [f"CMD {ups} {c}\n" for c in entry.state.commands()]
        return f"BEGIN LIST CMD {ups}\n{''.join(body)}END LIST CMD {ups}\n"

    def _list_enum(self, req: rq.ListEnum) -> str:
        variable = self._available(req.ups).state.get(req.var)
        if variable is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        head = f"{req.ups} {req.var}"
        body = [f"ENUM {head} {quote(e)}\n" for e in variable.enums]
        return f"BEGIN LIST ENUM {head}\n{''.join(body)}END LIST ENUM {head}\n"

    def _list_range(self, req: rq.ListRange) -> str:
        variable = self._available(req.ups).state.get(req.var)
        if variable is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        head = f"{req.ups} {req.var}"
        body = [f'RANGE {head} "{lo}" "{hi}"\n' for lo, hi in variable.ranges]
        return f"BEGIN LIST RANGE {head}\n{''.join(body)}END LIST RANGE {head}\n"

    def _list_client(self, req: rq.ListClient) -> str:
        entry = self._ups(req.ups)
        key = entry.name.lower()
        body = [f"CLIENT {s.loginups} {s.addr}\n" for s in reversed(self.ctx.sessions)
                if s.loginups is not None and s.loginups.lower() == key]
        return f"BEGIN LIST CLIENT {req.ups}\n{''.join(body)}END LIST CLIENT {req.ups}\n"

    # -- SET and INSTCMD ----------------------------------------------------
    def _set_tracking(self, req: rq.SetTracking) -> str:
        self.tracking = req.on
        return "OK\n"

    def _set_var(self, req: rq.SetVar) -> str:
        entry = self._available(req.ups)
        self._authorize(f"SET {req.var} on {entry.name}", lambda u: u.may("set"))
        variable = entry.state.get(req.var)
        if variable is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        if not variable.writable:
            raise NutError(ErrorName.READONLY)
        value = req.value
        if variable.is_string:
            if variable.aux < 1:
                log.warning("UPS [%s]: auxdata for %s is invalid", entry.name, req.var)
                raise NutError(ErrorName.SET_FAILED)
            if len(value) > variable.aux:
                raise NutError(ErrorName.TOO_LONG)
        if variable.enums and value not in variable.enums:
            raise NutError(ErrorName.INVALID_VALUE)
        if variable.ranges:
            number = _atoi(value)
            if not any(lo <= number <= hi for lo, hi in variable.ranges):
                raise NutError(ErrorName.INVALID_VALUE)
        line = f"SET {req.var} {quote(value)}"
        return self._forward(entry, line, ErrorName.SET_FAILED,
                             f"Set variable: {self.who} set {req.var} on {entry.name} to {value}")

    def _instcmd(self, req: rq.InstCmd) -> str:
        entry = self._available(req.ups)
        if not entry.state.has_command(req.cmd):
            raise NutError(ErrorName.CMD_NOT_SUPPORTED)
        self._authorize(f"INSTCMD {req.cmd} on {entry.name}",
                        lambda u: u.may_instcmd(req.cmd))
        line = f"INSTCMD {req.cmd}"
        what = req.cmd
        if req.param is not None:
            line += " " + quote_word(req.param)
            what += f" with value {req.param}"
        return self._forward(entry, line, ErrorName.INSTCMD_FAILED,
                             f"Instant command: {self.who} did {what} on {entry.name}")

    def _forward(self, entry: UpsEntry, line: str, failure: ErrorName, message: str) -> str:
        """Send a SET/INSTCMD line to the driver; reply before it acts (as NUT)."""
        tracking_id = new_id() if self.tracking else None
        if tracking_id is not None:
            line += f" TRACKING {tracking_id}"
            self.ctx.tracker.add(tracking_id)
        log.info("%s (tracking ID: %s)", message, tracking_id or "disabled")
        if not entry.send(line + "\n"):
            log.info("Sending to the driver of UPS [%s] failed", entry.name)
            raise NutError(failure)
        return f"OK TRACKING {tracking_id}\n" if tracking_id else "OK\n"



#: Request type -> handler; every request type of pnut.protocol.requests.
_DISPATCH: dict[type, Callable[[Session, Any], str]] = {
    rq.Ver: Session._ver,
    rq.ProtVer: Session._protver,
    rq.Help: Session._help,
    rq.StartTLS: Session._starttls,
    rq.Username: Session._username,
    rq.Password: Session._password,
    rq.Login: Session._login,
    rq.Logout: Session._logout,
    rq.Primary: Session._primary,
    rq.Fsd: Session._fsd,
    rq.GetVar: Session._get_var_req,
    rq.GetType: Session._get_type,
    rq.GetDesc: Session._get_desc,
    rq.GetCmdDesc: Session._get_cmddesc,
    rq.GetUpsDesc: Session._get_upsdesc,
    rq.GetNumLogins: Session._get_numlogins,
    rq.GetTracking: Session._get_tracking,
    rq.ListUps: Session._list_ups,
    rq.ListVar: Session._list_var,
    rq.ListRw: Session._list_rw,
    rq.ListCmd: Session._list_cmd,
    rq.ListEnum: Session._list_enum,
    rq.ListRange: Session._list_range,
    rq.ListClient: Session._list_client,
    rq.SetTracking: Session._set_tracking,
    rq.SetVar: Session._set_var,
    rq.InstCmd: Session._instcmd,
}
