"""Per-address limits of upsd: connections held and failed logins, no I/O.

How this works
--------------
:class:`AddressGuard` counts, per client address, the connections open
now and the times of the last failed logins.  The daemon asks
:meth:`~AddressGuard.connect` before it serves a new connection (and calls
:meth:`~AddressGuard.disconnect` when it ends); the session asks
:meth:`~AddressGuard.login_blocked` before it checks a password and reports
each wrong one with :meth:`~AddressGuard.login_failed`.

An address is blocked while it has ``max_failures`` failures within the
last ``window`` seconds.  Refusals of a blocked address are not counted, so
a client that keeps retrying is checked again as soon as its oldest failure
is a minute old; a configuration reload forgets every failure.  Loopback
clients are exempt unless ``limit_loopback`` is set: the limits are there
for clients on the network.  Memory is bounded: at most ``max_failures``
timestamps per address and :data:`MAX_TRACKED` addresses with failures.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable
from typing import Final

#: Addresses with recent failures kept at most; beyond, the stalest go first.
MAX_TRACKED: Final = 65536


class AddressGuard:
    def __init__(
        self,
        max_per_address: int = 256,
        max_failures: int = 10,
        window: float = 60.0,
        limit_loopback: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_per_address = max_per_address
        self.max_failures = max_failures
        self.window = window
        self.limit_loopback = limit_loopback
        self.clock = clock
        self.open: dict[str, int] = {}
        self._failures: dict[str, deque[float]] = {}
        self._loopback: dict[str, bool] = {}

    def configure(self, max_per_address: int, max_failures: int, limit_loopback: bool) -> None:
        """New limits (a reload); failures are forgotten, open connections kept."""
        self.max_per_address = max_per_address
        self.max_failures = max_failures
        self.limit_loopback = limit_loopback
        self._failures.clear()

    def exempt(self, addr: str) -> bool:
        if self.limit_loopback:
            return False
        known = self._loopback.get(addr)
        if known is None:
            try:
                known = ipaddress.ip_address(addr.split("%", 1)[0]).is_loopback
            except ValueError:
                known = False
            if len(self._loopback) >= MAX_TRACKED:
                self._loopback.clear()
            self._loopback[addr] = known
        return known

    # -- connections ----------------------------------------------------------
    def connect(self, addr: str) -> bool:
        """Count a new connection from ``addr``; False if it is one too many."""
        count = self.open.get(addr, 0)
        if self.max_per_address and count >= self.max_per_address and not self.exempt(addr):
            return False
        self.open[addr] = count + 1
        return True

    def disconnect(self, addr: str) -> None:
        count = self.open.get(addr, 0) - 1
        if count > 0:
            self.open[addr] = count
        else:
            self.open.pop(addr, None)

    # -- failed logins ----------------------------------------------------------
    def login_blocked(self, addr: str) -> bool:
        """True while ``addr`` has used up its failed logins for the window."""
        times = self._failures.get(addr)
        if times is None or not self.max_failures or len(times) < self.max_failures:
            return False
        return self.clock() - times[0] < self.window

    def login_failed(self, addr: str) -> bool:
        """Record a wrong password; True if ``addr`` is now blocked."""
        if not self.max_failures or self.exempt(addr):
            return False
        times = self._failures.get(addr)
        if times is None:
            if len(self._failures) >= MAX_TRACKED:
                self.purge()
                if len(self._failures) >= MAX_TRACKED:
                    del self._failures[next(iter(self._failures))]
            times = self._failures[addr] = deque(maxlen=self.max_failures)
        times.append(self.clock())
        return self.login_blocked(addr)

    def purge(self) -> None:
        """Forget addresses whose last failure is older than the window."""
        limit = self.clock() - self.window
        for addr in [a for a, t in self._failures.items() if not t or t[-1] < limit]:
            del self._failures[addr]


class LogLimiter:
    """At most ``burst`` log lines, refilled at ``rate`` a second; counts the rest.

    A flood of dropped connections must not become a flood of log lines:
    the caller logs only when :meth:`allow` says so, and adds the number of
    lines suppressed since the last one it wrote.
    """

    def __init__(self, rate: float = 5.0, burst: int = 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self.suppressed = 0

    def allow(self) -> int | None:
        """None: stay silent; else log, mentioning this many suppressed lines."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            self.suppressed += 1
            return None
        self._tokens -= 1.0
        told, self.suppressed = self.suppressed, 0
        return told
