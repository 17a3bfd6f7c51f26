"""The invariants a chaos run must keep, checked on what the run recorded.

How this works
--------------
The harness fills a :class:`RunRecord`: the truth it created (the status it
published over time, the moment the battery was empty, which daemons and
links were down when) and what the machines did (SHUTDOWNCMD times,
notifications, process lives, what a probe client read from upsd, when the
POWERDOWNFLAG appeared).  :func:`check` returns every broken invariant as a
:class:`Violation`.  Pure functions, no I/O: ``test_invariants.py`` feeds
hand-made records.

A machine is *blind* while it cannot learn the UPS's state: its upsmon is
not running, its link is cut or lossy, upsd is killed or stopped, or the
driver is killed or stopped.  Timing slack comes from :class:`Timing`
(the upsmon/upsd settings both stacks run with):

* ``lag`` — the longest legitimate delay from a cause to SHUTDOWNCMD: a
  poll hanging for the network timeout, DEADTIME, HOSTSYNC, FINALDELAY and
  two poll cycles.
* ``notice`` — how stale a notification may be: MAXAGE of stale data being
  served, a poll hanging for the network timeout, a poll cycle.

Invariants (names as reported):

* ``needless-shutdown`` — SHUTDOWNCMD at t needs, within [t-lag, t], the UPS
  on battery with low battery, or FSD set on upsd, or the UPS on battery
  while this machine was blind (NUT's dead-on-battery rule).  Without any
  of these it is needless if the UPS was on line power all that time, and
  ``early-shutdown`` if it was on battery (neither is allowed).
* ``late-shutdown`` — when the battery ran empty at E, every machine ran
  SHUTDOWNCMD before E, unless it was blind at some time from
  ``net_timeout + 2`` seconds before LB to ``2 * see`` after it (it could
  not know), or its upsmon was dead at some time after LB.
* ``after-killpower`` — secondaries (same excuse) finish before the primary's
  kill-power: its SHUTDOWNCMD plus the UPS's shutdown delay.
* ``pdflag`` — POWERDOWNFLAG appears only after the primary decided to shut
  down (its SHUTDOWN notification), and only on the primary.
* ``daemon-died`` / ``not-recovered`` — no process ends that the harness did
  not kill (a upsmon may exit 0 after its SHUTDOWNCMD); a restarted driver or
  upsd serves fresh data again within ``recover`` seconds.
* ``stale-served`` — every answer upsd gives as fresh is a status the UPS
  really had within the last MAXAGE (+ the driver's poll interval + 2 s for
  the once-a-second checks): a stopped or killed driver's data goes stale,
  and so must data a driver stopped refreshing for any other reason.
* ``notify-*`` — per upsmon life, as NUT defines occurrences: ONBATT/ONLINE
  alternate (a change of line state), COMMBAD/COMMOK alternate (a change of
  communication state, COMMOK never first), at most one SHUTDOWN and it goes
  with SHUTDOWNCMD; each ONBATT/ONLINE/LOWBATT/COMMBAD/NOCOMM has a cause in
  the truth within ``notice``; and an outage, a low battery or a loss of
  communication that a machine could see plainly was notified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Timing:
    pollfreq: float = 1
    deadtime: float = 5
    hostsync: float = 3
    finaldelay: float = 1
    maxage: float = 3
    nocommwarntime: float = 8
    net_timeout: float = 10
    #: The driver's poll interval (how late a file change reaches upsd).
    driver_poll: float = 1
    #: Seconds from the primary's SHUTDOWNCMD to the UPS cutting its outlets.
    kill_delay: float = 6
    #: A restarted driver/upsd must serve fresh data within this long.
    recover: float = 8

    @property
    def lag(self) -> float:
        return (self.net_timeout + self.deadtime + self.hostsync + self.finaldelay
                + 2 * self.pollfreq + self.driver_poll + 2)

    @property
    def notice(self) -> float:
        return self.maxage + self.net_timeout + self.pollfreq + self.driver_poll + 2

    @property
    def see(self) -> float:
        """A poll cycle, the driver's poll and slack: a healthy machine knows by then."""
        return self.pollfreq + self.driver_poll + 1.5


@dataclass
class Life:
    """One run of a process: started, then killed, exited or still running."""

    start: float
    end: float | None = None
    how: str = "running"  # "killed" | "exited" | "running" | "stopped" (ended by the harness)
    rc: int | None = None


@dataclass
class RunRecord:
    timing: Timing
    primary: str
    secondaries: list[str]
    end: float
    #: (time, ups.status published) each time it changed; piecewise constant.
    status: list[tuple[float, str]] = field(default_factory=list)
    empty_at: float | None = None
    #: Down intervals per component: "driver", "upsd", "upsmon:<node>",
    #: "link:<node>" (cut or lossy).
    down: dict[str, list[Interval]] = field(default_factory=dict)
    shutdowns: dict[str, list[float]] = field(default_factory=dict)
    notifies: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    lives: dict[str, list[Life]] = field(default_factory=dict)
    #: What the probe client got: (time, "fresh" | "stale" | "down", status).
    probe: list[tuple[float, str, str]] = field(default_factory=list)
    #: Restarts of driver / upsd (component, time).
    restarts: list[tuple[str, float]] = field(default_factory=list)
    flag_seen: float | None = None
    #: Problems the harness saw itself (error lines, a process it could not start).
    problems: list[str] = field(default_factory=list)

    @property
    def nodes(self) -> list[str]:
        return [self.primary, *self.secondaries]


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    detail: str


# -- intervals and truth ------------------------------------------------------------


def union(ivs: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(ivs):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def overlaps(ivs: Iterable[Interval], a: float, b: float) -> bool:
    return any(x < b and a < y for x, y in ivs)


def blind(rec: RunRecord, node: str) -> list[Interval]:
    parts = [*rec.down.get("driver", []), *rec.down.get("upsd", []),
             *rec.down.get(f"upsmon:{node}", []), *rec.down.get(f"link:{node}", [])]
    return union(parts)


def _words(status: str) -> set[str]:
    return set(status.upper().split())


def status_spans(rec: RunRecord) -> list[tuple[float, float, set[str]]]:
    """(start, end, words) for each published status."""
    out = []
    for i, (t, st) in enumerate(rec.status):
        end = rec.status[i + 1][0] if i + 1 < len(rec.status) else rec.end
        out.append((t, end, _words(st)))
    return out


def truth_any(rec: RunRecord, a: float, b: float, want: set[str]) -> bool:
    """Did the published status hold every word of ``want`` at some time in [a, b]?"""
    return any(s <= b and a <= e and want <= w for s, e, w in status_spans(rec))


def spans_with(rec: RunRecord, want: set[str], without: set[str] = frozenset()  # type: ignore[assignment]
               ) -> list[Interval]:
    """Maximal intervals where the status held ``want`` and none of ``without``."""
    return union((s, e) for s, e, w in status_spans(rec) if want <= w and not (w & without))


def lb_onset(rec: RunRecord) -> float | None:
    """Start of the OB+LB stretch that ended in the empty battery."""
    spans = spans_with(rec, {"OB", "LB"})
    if rec.empty_at is None or not spans:
        return None
    before = [s for s in spans if s[0] <= rec.empty_at]
    return before[-1][0] if before else None


def fsd_times(rec: RunRecord) -> list[float]:
    """Times the probe saw FSD appear in ups.status."""
    out, prev = [], False
    for t, kind, st in rec.probe:
        now = kind == "fresh" and "FSD" in _words(st)
        if now and not prev:
            out.append(t)
        if kind == "fresh":
            prev = now
    return out


def life_of(rec: RunRecord, name: str, t: float, slack: float = 0.5) -> int | None:
    for i, life in enumerate(rec.lives.get(name, [])):
        end = rec.end if life.end is None else life.end
        if life.start - slack <= t <= end + slack:
            return i
    return None


# -- the invariants -------------------------------------------------------------------


def check(rec: RunRecord) -> list[Violation]:
    out: list[Violation] = []
    for fn in (check_needless, check_late, check_killpower, check_pdflag, check_daemons,
               check_stale, check_notifications):
        out.extend(fn(rec))
    out.extend(Violation("harness", p) for p in rec.problems)
    return out


def check_needless(rec: RunRecord) -> list[Violation]:
    tm, out = rec.timing, []
    fsd = fsd_times(rec)
    ob_spans = spans_with(rec, {"OB"})
    for node in rec.nodes:
        bl = blind(rec, node)
        for t in rec.shutdowns.get(node, []):
            a = t - tm.lag
            if truth_any(rec, a, t, {"OB", "LB"}) or any(f <= t for f in fsd):
                continue
            if any(overlaps(bl, max(s, a), min(e, t)) for s, e in ob_spans if s < t and a < e):
                continue  # on battery while it could not see: NUT's dead-on-battery rule
            if truth_any(rec, a, t, {"OB"}):
                out.append(Violation("early-shutdown",
                                     f"{node} ran SHUTDOWNCMD at {t:.2f} on battery but with "
                                     "neither low battery, FSD nor a loss of communication"))
            else:
                out.append(Violation("needless-shutdown",
                                     f"{node} ran SHUTDOWNCMD at {t:.2f} on line power, not "
                                     f"critical, in the {tm.lag:.0f} s before"))
    return out


def _excused(rec: RunRecord, node: str, deadline: float) -> bool:
    """Could ``node`` not know in time?  Blind around LB, or its upsmon dead later.

    Blindness after ``2 * see`` past LB does not excuse: by then the machine
    has seen LB or FSD and decided (a link or upsd lost after the decision
    does not stop SHUTDOWNCMD); a killed upsmon still does.
    """
    lb = lb_onset(rec)
    if lb is None:
        return True
    tm = rec.timing
    if overlaps(blind(rec, node), lb - tm.net_timeout - 2,
                min(lb + 2 * tm.see + 1, deadline)):
        return True
    return overlaps(rec.down.get(f"upsmon:{node}", []), lb, deadline)


def excused_nodes(rec: RunRecord) -> list[str]:
    """Machines the run could not hold to the battery deadline (they were blind)."""
    if rec.empty_at is None:
        return []
    return [n for n in rec.nodes if _excused(rec, n, rec.empty_at)]


def check_late(rec: RunRecord) -> list[Violation]:
    if rec.empty_at is None:
        return []
    out = []
    for node in rec.nodes:
        if _excused(rec, node, rec.empty_at):
            continue
        first = min(rec.shutdowns.get(node, []), default=None)
        if first is None or first >= rec.empty_at:
            when = "never" if first is None else f"at {first:.2f}"
            out.append(Violation("late-shutdown", f"{node}: SHUTDOWNCMD {when}, battery empty "
                                                  f"at {rec.empty_at:.2f}"))
    return out


def kill_power_at(rec: RunRecord) -> float | None:
    first = min(rec.shutdowns.get(rec.primary, []), default=None)
    return None if first is None else first + rec.timing.kill_delay


def check_killpower(rec: RunRecord) -> list[Violation]:
    k = kill_power_at(rec)
    if k is None:
        return []
    out = []
    deadline = k if rec.empty_at is None else min(k, rec.empty_at)
    for node in rec.secondaries:
        lb = lb_onset(rec)
        if lb is None:
            # Power came back (or FSD came first): only machines that saw FSD plainly count.
            fsd = fsd_times(rec)
            if not fsd or overlaps(blind(rec, node), fsd[0] - rec.timing.see, k):
                continue
        elif _excused(rec, node, deadline):
            continue
        first = min(rec.shutdowns.get(node, []), default=None)
        if first is None or first >= k:
            when = "never" if first is None else f"at {first:.2f}"
            out.append(Violation("after-killpower", f"{node}: SHUTDOWNCMD {when}, primary's "
                                                    f"kill-power at {k:.2f}"))
    return out


def check_pdflag(rec: RunRecord) -> list[Violation]:
    if rec.flag_seen is None:
        return []
    decided = [t for t, what in rec.notifies.get(rec.primary, []) if what == "SHUTDOWN"]
    decided += rec.shutdowns.get(rec.primary, [])
    if not decided or min(decided) > rec.flag_seen + 0.3:
        return [Violation("pdflag", f"POWERDOWNFLAG appeared at {rec.flag_seen:.2f} before "
                                    "any shutdown decision of the primary")]
    return []


def check_daemons(rec: RunRecord) -> list[Violation]:
    out = []
    for name, lives in rec.lives.items():
        for life in lives:
            if life.how != "exited":
                continue
            node = name.removeprefix("upsmon:")
            ok_exit = (name.startswith("upsmon:") and life.rc == 0
                       and any(t <= (life.end or rec.end) + 0.5
                               for t in rec.shutdowns.get(node, [])))
            if not ok_exit:
                out.append(Violation("daemon-died", f"{name} exited (status {life.rc}) at "
                                                    f"{life.end:.2f} without being killed"))
    tm = rec.timing
    for comp, r in rec.restarts:
        window_end = r + tm.recover
        if window_end > rec.end:
            continue
        later = [iv for c in ("driver", "upsd") for iv in rec.down.get(c, [])
                 if iv[1] > r and iv[0] < window_end]
        if later:
            continue
        if not any(r <= t <= window_end and kind == "fresh" for t, kind, _ in rec.probe):
            out.append(Violation("not-recovered", f"{comp} restarted at {r:.2f}: no fresh data "
                                                  f"from upsd within {tm.recover:.0f} s"))
    return out


def check_stale(rec: RunRecord) -> list[Violation]:
    """Every fresh answer must be a status the UPS really had within MAXAGE (+ slack).

    The slack is the driver's poll interval and 2 s (upsd checks ages once a
    second); the FSD flag is upsd's own and is ignored.
    """
    tm, out = rec.timing, []
    window = tm.maxage + tm.driver_poll + 2
    bad = [(t, st) for t, kind, st in rec.probe
           if kind == "fresh" and rec.status and t > window
           and not _had_status(rec, t - window, t, _words(st) - {"FSD", "WAIT"})]
    if bad:
        t, st = bad[0]
        out.append(Violation("stale-served", f"upsd answered {st!r} as fresh at {t:.2f}, a "
                                             f"status the UPS did not have in the {window:.0f} "
                                             f"s before ({len(bad)} such answers)"))
    return out


def _had_status(rec: RunRecord, a: float, b: float, words: set[str]) -> bool:
    if not words:
        return True  # WAIT (no data yet) is not data
    return any(s <= b and a <= e and w == words for s, e, w in status_spans(rec))


# -- notifications ------------------------------------------------------------------------

PAIRS = (("ONBATT", "ONLINE"), ("COMMBAD", "COMMOK"))


def check_notifications(rec: RunRecord) -> list[Violation]:
    out: list[Violation] = []
    for node in rec.nodes:
        name = f"upsmon:{node}"
        per_life: dict[int, list[tuple[float, str]]] = {}
        for t, what in rec.notifies.get(node, []):
            i = life_of(rec, name, t)
            if i is None:
                out.append(Violation("notify-orphan", f"{node}: {what} at {t:.2f} while no "
                                                      "upsmon ran"))
                continue
            per_life.setdefault(i, []).append((t, what))
        for i, life in enumerate(rec.lives.get(name, [])):
            evs = per_life.get(i, [])
            out += _alternation(node, evs)
            out += _shutdown_notes(rec, node, life, evs)
            out += _causes(rec, node, evs)
            out += _seen_plainly(rec, node, life, evs)
    return out


def _alternation(node: str, evs: list[tuple[float, str]]) -> list[Violation]:
    out = []
    for first, second in PAIRS:
        prev: str | None = None
        for t, what in evs:
            if what not in (first, second):
                continue
            if what == prev:
                out.append(Violation("notify-twice", f"{node}: {what} at {t:.2f} again with no "
                                                     f"{first if what == second else second} "
                                                     "between"))
            if prev is None and what == "COMMOK":
                out.append(Violation("notify-twice", f"{node}: COMMOK at {t:.2f} with no "
                                                     "COMMBAD before it"))
            prev = what
    return out


def _shutdown_notes(rec: RunRecord, node: str, life: Life,
                    evs: list[tuple[float, str]]) -> list[Violation]:
    out = []
    notes = [t for t, what in evs if what == "SHUTDOWN"]
    end = rec.end if life.end is None else life.end
    cmds = [t for t in rec.shutdowns.get(node, []) if life.start - 0.5 <= t <= end + 0.5]
    if len(notes) > 1:
        out.append(Violation("notify-twice", f"{node}: SHUTDOWN notified {len(notes)} times"))
    for t in cmds:
        if not any(n <= t + 0.5 for n in notes):
            out.append(Violation("notify-missing", f"{node}: SHUTDOWNCMD at {t:.2f} without a "
                                                   "SHUTDOWN notification"))
    for n in notes:
        killed_soon = life.how == "killed" and end - n < rec.timing.finaldelay + 3
        if not cmds and not killed_soon and end - n > rec.timing.finaldelay + 3:
            out.append(Violation("notify-without-shutdown",
                                 f"{node}: SHUTDOWN notified at {n:.2f}, no SHUTDOWNCMD"))
    return out


def _causes(rec: RunRecord, node: str, evs: list[tuple[float, str]]) -> list[Violation]:
    tm, out = rec.timing, []
    disturbed = blind(rec, node)
    for t, what in evs:
        a = t - tm.notice
        if what == "ONBATT":
            ok = truth_any(rec, a, t, {"OB"})
        elif what == "ONLINE":
            ok = truth_any(rec, a, t, {"OL"})
        elif what == "LOWBATT":
            ok = truth_any(rec, a, t, {"LB"}) or overlaps(disturbed, a, t)
        elif what in ("COMMBAD", "NOCOMM"):
            ok = overlaps(disturbed, a - (tm.nocommwarntime if what == "NOCOMM" else 0), t)
        else:
            continue
        if not ok:
            out.append(Violation("notify-no-cause", f"{node}: {what} at {t:.2f} with no cause "
                                                    f"in the {tm.notice:.0f} s before"))
    return out


def _last_line_event(evs: list[tuple[float, str]], before: float) -> str | None:
    last = None
    for t, what in evs:
        if t <= before and what in ("ONBATT", "ONLINE"):
            last = what
    return last


def _seen_plainly(rec: RunRecord, node: str, life: Life,
                  evs: list[tuple[float, str]]) -> list[Violation]:
    """Occurrences a machine could not miss must have been notified."""
    tm, out = rec.timing, []
    bl = blind(rec, node)
    end = rec.end if life.end is None else life.end
    # upsmon stops listening once it decides (the primary's SHUTDOWN comes
    # after FSD and the wait for secondaries).
    decided = min([t - tm.hostsync - 1 for t, w in evs if w == "SHUTDOWN"], default=end)
    settle = tm.see + 1.0
    line = sorted([(s, e, "OB") for s, e in spans_with(rec, {"OB"})]
                  + [(s, e, "OL") for s, e in spans_with(rec, {"OL"})])
    seen_ob = False
    for s, e, state in line:
        check_at = s + settle
        plain = (e - s >= settle + 0.5 and check_at < decided and s >= life.start + tm.see
                 and not overlaps(bl, s - tm.net_timeout - 1, check_at))
        if plain:
            last = _last_line_event(evs, check_at)
            if state == "OB" and last != "ONBATT":
                out.append(Violation("notify-missing", f"{node}: on battery from {s:.2f} to "
                                                       f"{e:.2f}, no ONBATT"))
            if state == "OL" and seen_ob and last == "ONBATT":
                out.append(Violation("notify-missing", f"{node}: back on line from {s:.2f} "
                                                       f"to {e:.2f}, no ONLINE"))
        seen_ob = seen_ob or (state == "OB" and s >= life.start)
    for s, e in spans_with(rec, {"LB"}):
        check_at = s + settle
        if e - s < settle + 0.5 or check_at >= decided or s < life.start + tm.see:
            continue
        if overlaps(bl, s - tm.net_timeout - 1, check_at):
            continue
        if not any(s - tm.notice <= t <= check_at + 1 for t, w in evs if w == "LOWBATT"):
            out.append(Violation("notify-missing", f"{node}: low battery from {s:.2f}, "
                                                   "no LOWBATT"))
    comm = union([*rec.down.get("upsd", []), *rec.down.get(f"cut:{node}", []),
                  *rec.down.get("driver", [])])
    for s, e in comm:
        long_enough = e - s >= tm.net_timeout + tm.maxage + tm.pollfreq + 2
        if not long_enough or s < life.start + tm.see or e + 2 > min(end, decided):
            continue
        if not any(s <= t <= e + 2 for t, w in evs if w == "COMMBAD"):
            out.append(Violation("notify-missing", f"{node}: no answer from {s:.2f} to "
                                                   f"{e:.2f}, no COMMBAD"))
    return out
