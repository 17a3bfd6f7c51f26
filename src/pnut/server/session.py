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

Security (docs/security.md): with REQUIRE_TLS (``Context.require_tls``) a
connection without TLS gets ``ERR TLS-NOT-ENABLED`` for everything except
STARTTLS, VER, PROTVER/NETVER and HELP.  When upsd has no certificate
(``Context.tls_ready`` false: STARTTLS cannot succeed), the commands the
table marks ``public`` (GET, LIST, ...) are answered too, and the rest -
USERNAME, PASSWORD and everything that needs a login - is still refused,
so no login ever happens in clear text.  Every privileged command goes
through :meth:`Session._authorize`, which asks the
:class:`~pnut.server.guard.AddressGuard` whether the address has used up
its failed logins, and logs each failure or denial as ``user@address`` -
never the password.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from pnut.config.cmdvartab import Descriptions
from pnut.config.users import User, Users
from pnut.protocol import driversock as ds
from pnut.protocol import replies as rp
from pnut.protocol import requests as rq
from pnut.protocol.cnum import atoi
from pnut.protocol.commands import BY_NAME, TABLE, VERBS, Command, Verb, parse_args
from pnut.protocol.errors import ErrorName, NutError
from pnut.protocol.limits import (
    DESCRIPTION_UNAVAILABLE,
    HELP_TEXT,
    NUT_VERSION,
    PROTOCOL_VERSION,
    SERVER_INFO,
    UPSDESC_UNAVAILABLE,
)
from pnut.server.guard import AddressGuard
from pnut.server.store import Store, UpsEntry
from pnut.server.tracking import Tracker, new_id

log = logging.getLogger("pnut.upsd")

_ERR_UNKNOWN_COMMAND: Final = rp.format_err(ErrorName.UNKNOWN_COMMAND)
_ERR_TLS_NOT_ENABLED: Final = rp.format_err(ErrorName.TLS_NOT_ENABLED)
_GET_VAR: Final = BY_NAME["GET VAR"]


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
    #: REQUIRE_TLS: refuse every command not marked ``before_tls`` before STARTTLS
    #: (without ``tls_ready``, every command not marked ``public``).
    require_tls: bool = False
    guard: AddressGuard = field(default_factory=AddressGuard)


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
        return self.respond(words)[1]

    def respond(self, words: tuple[str, ...] | list[str]) -> tuple[Command | None, str]:
        """The command row that answered (None: refused before one was known) and the reply."""
        return self.answer(VERBS.get(words[0].upper()) if words else None, words)

    def answer(self, verb: Verb | None,
               words: tuple[str, ...] | list[str]) -> tuple[Command | None, str]:
        """:meth:`respond` once the first word is looked up (``verb``: its row, None: unknown)."""
        if self.ctx.require_tls and not self.tls and (verb is None or not verb.before_tls) \
                and (verb is None or not verb.public or self.ctx.tls_ready):
            self.plain_refused += 1
            if self.plain_refused == 1:  # the command word only if it is one: no secrets
                log.info("Client %s sent %s before STARTTLS: refused (REQUIRE_TLS%s)",
                         self.addr, verb.word if verb else "an unknown command",
                         "" if self.ctx.tls_ready else ", and upsd has no certificate")
            return None, _ERR_TLS_NOT_ENABLED
        if verb is None:
            return None, _ERR_UNKNOWN_COMMAND
        try:
            if verb.needs_login:
                if self.username is None:
                    raise NutError(ErrorName.USERNAME_REQUIRED)
                if self.password is None:
                    raise NutError(ErrorName.PASSWORD_REQUIRED)
            row, req = parse_args(verb, words)
            return row, _DISPATCH[row.handler](self, req)
        except NutError as exc:
            return None, rp.format_err(exc)

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
        return _VER

    def _protver(self, req: rq.ProtVer) -> str:
        return _PROTVER

    def _help(self, req: rq.Help) -> str:
        return _HELP

    def _starttls(self, req: rq.StartTLS) -> str:
        if self.tls:
            raise NutError(ErrorName.ALREADY_SSL_MODE)
        if not self.ctx.tls_ready:
            raise NutError(ErrorName.FEATURE_NOT_CONFIGURED)
        self.start_tls = True
        return rp.OK_STARTTLS

    def _username(self, req: rq.Username) -> str:
        if self.username is not None:
            log.info("Client %s tried to set a username twice", self.who)
            raise NutError(ErrorName.ALREADY_SET_USERNAME)
        self.username = req.name
        return rp.OK

    def _password(self, req: rq.Password) -> str:
        if self.password is not None:
            log.info("Client %s tried to set a password twice", self.who)
            raise NutError(ErrorName.ALREADY_SET_PASSWORD)
        self.password = req.password
        return rp.OK

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
        return rp.OK

    def _logout(self, req: rq.Logout) -> str:
        if self.loginups is not None:
            log.info("User %s logged out from UPS [%s]", self.who, self.loginups)
        self.closing = True
        return rp.OK_GOODBYE

    def _primary(self, req: rq.Primary) -> str:
        entry = self._ups(req.ups)
        self._authorize(f"{req.word} {entry.name}",
                        lambda u: u.may("primary") or u.may("master"))
        return rp.format_ok(f"{req.word}-GRANTED")

    def _fsd(self, req: rq.Fsd) -> str:
        entry = self._ups(req.ups)
        self._authorize(f"FSD {entry.name}", lambda u: u.may("fsd"))
        log.info("Client %s set FSD on UPS [%s]", self.who, entry.name)
        entry.fsd = True
        return rp.OK_FSD_SET

    # -- GET ------------------------------------------------------------------
    def _get_var(self, req: rq.GetVar) -> str:
        ups, var = req.ups, req.var
        low = var.lower()
        if low.startswith("server."):  # answered for any UPS name
            if low == "server.info":
                return rp.format_var(ups, "server.info", SERVER_INFO)
            if low == "server.version":
                return rp.format_var(ups, "server.version", NUT_VERSION)
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        entry = self._available(ups)
        value = entry.state.value(var)
        if value is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        if entry.fsd and low == "ups.status":
            value = "FSD " + value
        return rp.format_var(ups, var, value)

    def _get_type(self, req: rq.GetType) -> str:
        variable = self._available(req.ups).state.get(req.var)
        if variable is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        return rp.format_type(req.ups, req.var, variable.type_words())

    def _get_desc(self, req: rq.GetDesc) -> str:
        self._available(req.ups)
        text = self.ctx.descriptions.var(req.var) or DESCRIPTION_UNAVAILABLE
        return rp.format_desc("DESC", req.ups, req.var, text)

    def _get_cmddesc(self, req: rq.GetCmdDesc) -> str:
        self._available(req.ups)
        text = self.ctx.descriptions.cmd(req.cmd) or DESCRIPTION_UNAVAILABLE
        return rp.format_desc("CMDDESC", req.ups, req.cmd, text)

    def _get_upsdesc(self, req: rq.GetUpsDesc) -> str:
        entry = self._ups(req.ups)
        text = entry.desc if entry.desc is not None else UPSDESC_UNAVAILABLE
        return rp.format_upsdesc(req.ups, text)

    def _get_numlogins(self, req: rq.GetNumLogins) -> str:
        entry = self._available(req.ups)
        return rp.format_count(req.word, req.ups, entry.numlogins)

    def _get_tracking(self, req: rq.GetTracking) -> str:
        if req.id is None:
            return rp.format_text("ON" if self.tracking else "OFF")
        if not self.tracking:
            raise NutError(ErrorName.FEATURE_NOT_CONFIGURED)
        return rp.format_text(self.ctx.tracker.answer(req.id))

    # -- LIST -----------------------------------------------------------------
    def _list_ups(self, req: rq.ListUps) -> str:
        body = [rp.format_ups(e.name, e.desc if e.desc is not None else DESCRIPTION_UNAVAILABLE)
                for e in self.ctx.store]
        return rp.format_list("UPS", body)

    def _list_var(self, req: rq.ListVar) -> str:
        entry = self._available(req.ups)
        ups = req.ups
        body = []
        for v in entry.state.variables():
            value = v.value
            if entry.fsd and v.name.lower() == "ups.status":
                value = "FSD " + value
            body.append(rp.format_var(ups, v.name, value))
        return rp.format_list(f"VAR {ups}", body)

    def _list_rw(self, req: rq.ListRw) -> str:
        entry = self._available(req.ups)
        ups = req.ups
        body = [rp.format_var(ups, v.name, v.value, "RW")
                for v in entry.state.variables() if v.writable]
        return rp.format_list(f"RW {ups}", body)

    def _list_cmd(self, req: rq.ListCmd) -> str:
        entry = self._available(req.ups)
        ups = req.ups
        body = [rp.format_cmd(ups, c) for c in entry.state.commands()]
        return rp.format_list(f"CMD {ups}", body)

    def _list_enum(self, req: rq.ListEnum) -> str:
        variable = self._available(req.ups).state.get(req.var)
        if variable is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        head = f"{req.ups} {req.var}"
        body = [rp.format_var(req.ups, req.var, e, "ENUM") for e in variable.enums]
        return rp.format_list(f"ENUM {head}", body)

    def _list_range(self, req: rq.ListRange) -> str:
        variable = self._available(req.ups).state.get(req.var)
        if variable is None:
            raise NutError(ErrorName.VAR_NOT_SUPPORTED)
        head = f"{req.ups} {req.var}"
        body = [rp.format_range(req.ups, req.var, str(lo), str(hi)) for lo, hi in variable.ranges]
        return rp.format_list(f"RANGE {head}", body)

    def _list_client(self, req: rq.ListClient) -> str:
        entry = self._ups(req.ups)
        key = entry.name.lower()
        body = [rp.format_client(s.loginups, s.addr) for s in reversed(self.ctx.sessions)
                if s.loginups is not None and s.loginups.lower() == key]
        return rp.format_list(f"CLIENT {req.ups}", body)

    # -- SET and INSTCMD ----------------------------------------------------
    def _set_tracking(self, req: rq.SetTracking) -> str:
        self.tracking = req.on
        return rp.OK

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
            number = atoi(value)
            if not any(lo <= number <= hi for lo, hi in variable.ranges):
                raise NutError(ErrorName.INVALID_VALUE)
        return self._forward(entry, lambda tid: ds.SetVar(req.var, value, tid),
                             ErrorName.SET_FAILED,
                             f"Set variable: {self.who} set {req.var} on {entry.name} to {value}")

    def _instcmd(self, req: rq.InstCmd) -> str:
        entry = self._available(req.ups)
        if not entry.state.has_command(req.cmd):
            raise NutError(ErrorName.CMD_NOT_SUPPORTED)
        self._authorize(f"INSTCMD {req.cmd} on {entry.name}",
                        lambda u: u.may_instcmd(req.cmd))
        what = req.cmd
        if req.param is not None:
            what += f" with value {req.param}"
        return self._forward(entry, lambda tid: ds.InstCmd(req.cmd, req.param, tid),
                             ErrorName.INSTCMD_FAILED,
                             f"Instant command: {self.who} did {what} on {entry.name}")

    def _forward(self, entry: UpsEntry, build: Callable[[str | None], ds.SockCommand],
                 failure: ErrorName, message: str) -> str:
        """Send a SET/INSTCMD request to the driver; reply before it acts (as NUT)."""
        tracking_id = new_id() if self.tracking else None
        if tracking_id is not None:
            self.ctx.tracker.add(tracking_id)
        log.info("%s (tracking ID: %s)", message, tracking_id or "disabled")
        if not entry.send(build(tracking_id)):
            log.info("Sending to the driver of UPS [%s] failed", entry.name)
            raise NutError(failure)
        return rp.format_ok(f"TRACKING {tracking_id}") if tracking_id else rp.OK



_VER: Final = rp.format_text(SERVER_INFO)
_PROTVER: Final = rp.format_text(PROTOCOL_VERSION)
_HELP: Final = rp.format_text(HELP_TEXT)

#: Handler name of the command table -> session method (every row has one).
_DISPATCH: Final[dict[str, Callable[[Session, Any], str]]] = {
    row.handler: getattr(Session, "_" + row.handler) for row in TABLE
}
