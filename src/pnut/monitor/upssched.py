"""upssched's timer table and its socket protocol, without I/O.

The timer daemon keeps :class:`Timers`: each START adds a timer (several
with the same name may run, as in NUT), CANCEL removes the oldest one of
that name, and :meth:`Timers.due` hands out the names whose time came.
Requests on the daemon's socket are one line each — ``START <name>
<seconds>`` or ``CANCEL <name> [<command>]``, words quoted as NUT's
parseconf reads them — answered by ``OK`` or ``ERR UNKNOWN``.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from pnut.protocol.tokens import quote

#: Longest request line the daemon accepts.
MAX_REQUEST = 1024


@dataclass(frozen=True, slots=True)
class Start:
    name: str
    seconds: int


@dataclass(frozen=True, slots=True)
class Cancel:
    name: str
    command: str | None = None


Request = Start | Cancel


def format_request(req: Request) -> bytes:
    if isinstance(req, Start):
        words = ["START", quote(req.name), quote(str(req.seconds))]
    else:
        words = ["CANCEL", quote(req.name)] + ([quote(req.command)] if req.command else [])
    return (" ".join(words) + "\n").encode("latin-1")


def parse_request(words: tuple[str, ...]) -> Request | None:
    """The request of one tokenized line, or None (answered ``ERR UNKNOWN``)."""
    if len(words) in (2, 3) and words[0] == "CANCEL":
        return Cancel(words[1], words[2] if len(words) == 3 and words[2] else None)
    if len(words) == 3 and words[0] == "START" and words[2].isdigit():
        return Start(words[1], int(words[2]))
    return None


class Timers:
    """Named one-shot timers; times are plain numbers (seconds)."""

    def __init__(self) -> None:
        # (deadline, sequence, name); cancelled entries are dropped lazily.
        self._heap: list[tuple[float, int, str]] = []
        self._live: dict[int, str] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def start(self, name: str, seconds: float, now: float) -> None:
        seq = next(self._seq)
        heapq.heappush(self._heap, (now + seconds, seq, name))
        self._live[seq] = name

    def cancel(self, name: str) -> bool:
        """Remove the earliest-started timer called ``name``; False if none."""
        for seq, live_name in self._live.items():  # insertion order = start order
            if live_name == name:
                del self._live[seq]
                return True
        return False

    def due(self, now: float) -> list[str]:
        """Names of timers whose deadline passed, earliest first; they are removed."""
        out: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            _, seq, name = heapq.heappop(self._heap)
            if self._live.pop(seq, None) is not None:
                out.append(name)
        return out

    def next_deadline(self) -> float | None:
        while self._heap and self._heap[0][1] not in self._live:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def names(self) -> list[str]:
        return list(self._live.values())
