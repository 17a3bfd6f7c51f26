"""When to try a lost device again: a capped back-off, no I/O, clock passed in.

How this works
--------------
A driver that loses its device (USB unplugged, serial line silent, agent
unreachable) raises :class:`~pnut.driver.base.DeviceGone`; the runner then
calls :meth:`Backoff.lost` and, at every :attr:`Backoff.next_at`, asks the
driver to reopen the device.  Each failed attempt doubles the wait, from
:data:`FIRST_DELAY` up to :data:`MAX_DELAY`, so a device that comes back
is read again within ``MAX_DELAY`` plus one attempt — never "after a
restart".  ``reconnect_max_tries`` (NUT's ups.conf setting, newer than
2.8.0) bounds the attempts: -1 (the default) tries forever, 0 gives up at
once, N gives up after N failed attempts; giving up ends the driver.

Invariants: ``count`` is the number of failed attempts since the loss;
``next_at`` never lies further than ``MAX_DELAY`` after the last failure.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Seconds from the loss to the first attempt.
FIRST_DELAY = 0.5
#: The longest wait between two attempts.
MAX_DELAY = 5.0
#: Failed attempts between two log lines once the first few are logged.
LOG_EVERY = 20


@dataclass
class Backoff:
    """Reconnection bookkeeping of one driver."""

    max_tries: int = -1
    first: float = FIRST_DELAY
    cap: float = MAX_DELAY
    active: bool = False
    count: int = 0
    next_at: float = 0.0

    def lost(self, now: float) -> None:
        """The device is gone; the first attempt is due soon."""
        if not self.active:
            self.active = True
            self.count = 0
            self.next_at = now + self.first

    def failed(self, now: float) -> None:
        """One more attempt failed; wait longer (up to the cap)."""
        self.count += 1
        self.next_at = now + self.delay(self.count)

    def delay(self, failures: int) -> float:
        return min(self.cap, self.first * 2.0 ** min(failures, 32))

    def succeeded(self) -> None:
        self.active = False
        self.count = 0

    @property
    def exhausted(self) -> bool:
        """True once ``reconnect_max_tries`` attempts have failed."""
        return self.max_tries >= 0 and self.count >= self.max_tries

    def should_log(self) -> bool:
        """Log the first few failures, then one in :data:`LOG_EVERY`."""
        return self.count <= 3 or self.count % LOG_EVERY == 0
