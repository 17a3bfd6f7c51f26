"""upsmon's decisions, without sockets or clocks: events in, actions out.

How this works
--------------
The daemon feeds :class:`Machine` one event per poll result
(:meth:`Machine.poll_ok` with the ``ups.status`` text, or
:meth:`Machine.poll_failed`), then calls :meth:`Machine.recalc` once per
cycle.  Each returns a list of actions — :class:`Notify`, :class:`Log` and,
when the power left is below MINSUPPLIES, one :class:`StartShutdown` — which
the daemon carries out.  Time is an argument (``now``, seconds), so tests
can replay any sequence.

Invariants, as in NUT 2.8.0 (clients/upsmon.c):

* Status tokens are matched case-insensitively, one handler per token
  (:data:`TOKEN_HANDLERS`); LB, FSD and CAL are cleared silently when their
  text is no longer in the status.
* COMMOK and ONLINE do not fire on the first sighting after start-up
  (tri-states start at "unknown"); ONBATT, LOWBATT, FSD, CAL and REPLBATT do.
* COMMBAD fires once when polling starts to fail (also if it never worked);
  NOCOMM repeats every NOCOMMWARNTIME while it keeps failing that long.
* A UPS not heard from for more than DEADTIME whose last status was OB is
  treated as OB+LB.
* Critical (:data:`CRITICAL_RULES`, first match wins): FSD; else not OB+LB
  is fine; OB+LB while calibrating is fine; OB+LB is critical for the
  primary at once and for a secondary once it lasted HOSTSYNC seconds
  (giving the primary time to set FSD).
* The power value of every non-critical UPS counts (an unreachable UPS last
  seen on line keeps counting); below MINSUPPLIES means shut down.
  :class:`StartShutdown` is emitted once; after it the machine is inert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from pnut.config.notify import NotifyType


class Tri(IntEnum):
    """NUT's commstate/linestate: unknown at start, then down or up."""

    UNKNOWN = -1
    DOWN = 0
    UP = 1


@dataclass
class UpsTrack:
    """Everything upsmon remembers about one monitored UPS."""

    system: str
    power_value: int
    primary: bool
    online: bool = False
    onbatt: bool = False
    lowbatt: bool = False
    fsd: bool = False
    cal: bool = False
    commstate: Tri = Tri.UNKNOWN
    linestate: Tri = Tri.UNKNOWN
    #: Times in seconds; None = never (counts as infinitely long ago).
    lastpoll: float | None = None
    lastnoncrit: float | None = None
    lastrbwarn: float | None = None
    lastncwarn: float | None = None
    last_status: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    minsupplies: int = 1
    hostsync: float = 15
    deadtime: float = 15
    rbwarntime: float = 43200
    nocommwarntime: float = 300


# -- actions --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notify:
    type: NotifyType
    system: str | None


@dataclass(frozen=True, slots=True)
class Log:
    level: str  # "debug" | "info" | "warning" | "error" | "critical"
    text: str


@dataclass(frozen=True, slots=True)
class StartShutdown:
    """Power left is below MINSUPPLIES (or the user asked): shut down now."""

    reason: str
    power: int
    minsupplies: int


Action = Notify | Log | StartShutdown


def _since(now: float, then: float | None) -> float:
    return float("inf") if then is None else now - then


# -- status tokens -----------------------------------------------------------------
# Each handler sees the UPS after the earlier tokens of the same status were
# applied, and returns the notifications it raises.

TokenHandler = Callable[[UpsTrack, float, Settings], list[Action]]


def _on_line(ups: UpsTrack, now: float, s: Settings) -> list[Action]:
    if ups.online:
        return []
    out: list[Action] = []
    if ups.linestate is not Tri.UNKNOWN:
        out.append(Notify(NotifyType.ONLINE, ups.system))
    ups.linestate = Tri.UP
    ups.online, ups.onbatt = True, False
    return out


def _on_batt(ups: UpsTrack, now: float, s: Settings) -> list[Action]:
    if ups.onbatt:
        return []
    ups.linestate = Tri.DOWN
    ups.onbatt, ups.online = True, False
    return [Notify(NotifyType.ONBATT, ups.system)]


def _low_batt(ups: UpsTrack, now: float, s: Settings) -> list[Action]:
    if ups.lowbatt:
        return []
    ups.lowbatt = True
    return [Notify(NotifyType.LOWBATT, ups.system)]


def _repl_batt(ups: UpsTrack, now: float, s: Settings) -> list[Action]:
    if _since(now, ups.lastrbwarn) <= s.rbwarntime:
        return []
    ups.lastrbwarn = now
    return [Notify(NotifyType.REPLBATT, ups.system)]


def _cal(ups: UpsTrack, now: float, s: Settings) -> list[Action]:
    if ups.cal:
        return []
    ups.cal = True
    return [Notify(NotifyType.CAL, ups.system)]


def _fsd(ups: UpsTrack, now: float, s: Settings) -> list[Action]:
    if ups.fsd:
        return []
    ups.fsd = True
    return [Notify(NotifyType.FSD, ups.system)]


#: ups.status token (upper-case) -> handler. Other tokens (HB, CHRG, OFF,
#: BYPASS, ...) are known to NUT 2.8.0's drivers but ignored by its upsmon.
TOKEN_HANDLERS: Final[dict[str, TokenHandler]] = {
    "OL": _on_line,
    "OB": _on_batt,
    "LB": _low_batt,
    "RB": _repl_batt,
    "CAL": _cal,
    "FSD": _fsd,
}

#: Flags cleared (silently) when this text no longer occurs in the status.
#: NUT uses a substring test here, and so does pnut.
CLEARED_WHEN_ABSENT: Final[tuple[tuple[str, str], ...]] = (
    ("LB", "lowbatt"), ("FSD", "fsd"), ("CAL", "cal"),
)


# -- the critical decision -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    applies: Callable[[UpsTrack, float, Settings], bool]
    critical: bool


def _ob_lb(u: UpsTrack) -> bool:
    return u.onbatt and u.lowbatt


#: First rule that applies decides; the last one always applies.
CRITICAL_RULES: Final[tuple[Rule, ...]] = (
    Rule("forced shutdown (FSD) set", lambda u, now, s: u.fsd, True),
    Rule("not on battery with low battery", lambda u, now, s: not _ob_lb(u), False),
    Rule("OB+LB but calibrating", lambda u, now, s: u.cal, False),
    Rule("OB+LB and we are its primary", lambda u, now, s: u.primary, True),
    Rule("OB+LB for longer than HOSTSYNC, giving up on the primary",
         lambda u, now, s: _since(now, u.lastnoncrit) > s.hostsync, True),
    Rule("OB+LB, waiting for the primary to set FSD", lambda u, now, s: True, False),
)


def critical_rule(ups: UpsTrack, now: float, settings: Settings) -> Rule:
    return next(r for r in CRITICAL_RULES if r.applies(ups, now, settings))


@dataclass
class Machine:
    """The state of every monitored UPS and the shutdown decision."""

    settings: Settings
    upses: dict[str, UpsTrack] = field(default_factory=dict)
    shutting_down: bool = False

    @classmethod
    def create(cls, settings: Settings, monitors: list[tuple[str, int, bool]]) -> Machine:
        """``monitors``: (system, power value, primary) per MONITOR line."""
        upses = {sys_: UpsTrack(sys_, pv, primary) for sys_, pv, primary in monitors}
        return cls(settings, upses)

    # -- events ------------------------------------------------------------
    def poll_ok(self, system: str, status: str, now: float) -> list[Action]:
        """A successful ``GET VAR <ups> ups.status``; empty text means gone."""
        if self.shutting_down:
            return []
        ups = self.upses[system]
        if not status:
            return self._gone(ups, now)
        out = self._alive(ups, now)
        ups.last_status = status
        upper = status.upper()
        for text, attr in CLEARED_WHEN_ABSENT:
            if text not in upper:
                setattr(ups, attr, False)
        for word in upper.split(" "):
            handler = TOKEN_HANDLERS.get(word)
            if handler is not None:
                out.extend(handler(ups, now, self.settings))
            self._update_crittimer(ups, now)
        return out

    def poll_failed(self, system: str, now: float, dropped: bool = False) -> list[Action]:
        """The poll (or the connection before it) failed.

        ``dropped``: the connection is gone; its re-establishment will count
        as a change of line state (NUT's drop_connection).
        """
        if self.shutting_down:
            return []
        ups = self.upses[system]
        out = self._gone(ups, now)
        if dropped:
            ups.commstate = Tri.DOWN
            ups.linestate = Tri.DOWN
        return out

    def recalc(self, now: float) -> list[Action]:
        """Once per cycle: DEADTIME promotion, critical check, power sum."""
        if self.shutting_down:
            return []
        out: list[Action] = []
        power = 0
        for ups in self.upses.values():
            dead = _since(now, ups.lastpoll) > self.settings.deadtime
            if dead and ups.onbatt and not ups.lowbatt:
                out.append(Log("warning", f"UPS {ups.system}: no answer for more than "
                                          f"DEADTIME while on battery; assuming low battery"))
                ups.lowbatt = True
            rule = critical_rule(ups, now, self.settings)
            if rule.critical:
                out.append(Log("debug", f"Critical UPS: {ups.system} ({rule.name})"))
            else:
                power += ups.power_value
        if power < self.settings.minsupplies:
            self.shutting_down = True
            out.append(StartShutdown("power value below MINSUPPLIES", power,
                                     self.settings.minsupplies))
        return out

    def user_fsd(self) -> list[Action]:
        """``upsmon -c fsd`` / SIGUSR1: shut down as if power ran out."""
        if self.shutting_down:
            return []
        self.shutting_down = True
        reason = "requested by the user (upsmon -c fsd)"
        return [Log("info", "User requested FSD"),
                StartShutdown(reason, 0, self.settings.minsupplies)]

    # -- queries -------------------------------------------------------------
    def on_alert(self) -> bool:
        """Poll at POLLFREQALERT while any UPS is on battery."""
        return any(u.onbatt for u in self.upses.values())

    def power_value(self, now: float) -> int:
        return sum(u.power_value for u in self.upses.values()
                   if not critical_rule(u, now, self.settings).critical)

    # -- helpers ---------------------------------------------------------------
    def _alive(self, ups: UpsTrack, now: float) -> list[Action]:
        ups.lastpoll = now
        previous, ups.commstate = ups.commstate, Tri.UP
        return [Notify(NotifyType.COMMOK, ups.system)] if previous is Tri.DOWN else []

    def _gone(self, ups: UpsTrack, now: float) -> list[Action]:
        if ups.commstate is not Tri.DOWN:
            ups.commstate = Tri.DOWN
            return [Notify(NotifyType.COMMBAD, ups.system)]
        if _since(now, ups.lastpoll) < self.settings.nocommwarntime:
            return []
        if _since(now, ups.lastncwarn) > self.settings.nocommwarntime:
            ups.lastncwarn = now
            return [Notify(NotifyType.NOCOMM, ups.system)]
        return []

    @staticmethod
    def _update_crittimer(ups: UpsTrack, now: float) -> None:
        if not _ob_lb(ups) or ups.cal:
            ups.lastnoncrit = now


@dataclass
class HostSync:
    """The primary's wait for secondaries to log out (NUMLOGINS <= 1).

    Feed :meth:`update` the NUMLOGINS answers of one round (None for a
    failed query); it says whether to keep waiting.
    """

    started: float
    hostsync: float

    def update(self, now: float, logins: list[int | None]) -> str:
        """``"alone"`` (all gone), ``"expired"`` (HOSTSYNC over) or ``"wait"``."""
        if max((n for n in logins if n is not None), default=0) <= 1:
            return "alone"
        if now - self.started > self.hostsync:
            return "expired"
        return "wait"
