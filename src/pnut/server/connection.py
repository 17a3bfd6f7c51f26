"""One upsd client connection, without any I/O: bytes in, bytes and events out.

How this works
--------------
Like h11's ``Connection``: the asyncio shell (:mod:`pnut.server.listener`)
hands every read to :meth:`Connection.receive_data`, writes what
:meth:`Connection.data_to_send` returns, and acts on the events of
:meth:`Connection.next_event`: :class:`StartTLS` (begin the handshake
now), :class:`Close` (close once the replies are out) and :class:`Drop`
(abort at once, with a reason).  Every rule about a client lives here and
is tested without sockets (tests/server/test_connection.py).

Invariants
----------
* Fairness: one call does at most :attr:`Limits.bytes_per_turn` bytes and
  :attr:`Limits.lines_per_turn` request lines of work (a connection that
  sent that many invalid lines in a row only
  :attr:`Limits.junk_bytes_per_turn`, every :attr:`Limits.junk_turn_delay`
  seconds: :attr:`turn_delay`).  What is left waits
  in the inbox; :attr:`Connection.backlogged` tells the shell to stop
  reading and call :meth:`Connection.process` on a later loop turn.  The
  inbox therefore never holds more than one read of the transport.
* Cheap rejection: runs of bytes the tokenizer drops are replaced by one
  NUL over the whole piece (a C-speed substitution that changes no line,
  see test_connection's property test); a physical line longer than
  :data:`MAX_LINE` (no legal request is that long) is read up to that
  length, answered as if it ended there, and its rest skipped with one
  search for the newline per read.
* A connection that sends nothing but invalid lines (parse errors, lines
  without a known command word) is dropped after
  :attr:`Limits.max_invalid_lines` of them in a row; a line naming a
  command resets the count (docs/compat.md).  Input without any newline
  costs one search per read and runs into the line timeout.
* Logging is bounded: invalid lines are counted, never logged one by one;
  the shell logs one line per dropped connection through a
  :class:`~pnut.server.guard.LogLimiter`.
* STARTTLS: after ``OK STARTTLS`` nothing more is read in clear text; a
  client that pipelined anything after it is dropped, and data that comes
  before :meth:`tls_established` waits in the inbox.
* Reply reuse: a repeated ``GET VAR`` line that arrives alone is answered
  from the :class:`~pnut.server.replycache.ReplyCache`, which checks that
  the UPS is unchanged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pnut.protocol.commands import VERBS
from pnut.protocol.limits import MAX_ARGS, MAX_WORD_LEN
from pnut.protocol.tokens import Line, Tokenizer
from pnut.server.replycache import ReplyCache
from pnut.server.session import Context, Session

#: The longest physical line whose words can all survive: 32 words of 512
#: characters, each escaped (2 bytes a character) and quoted, with a blank.
MAX_LINE: Final = MAX_ARGS * (2 * MAX_WORD_LEN + 3)
#: Runs of bytes the tokenizer drops (outside 0x20..0x7F, except the blanks
#: and the newline).  Replacing a run by one NUL changes no line: every such
#: byte acts alike (dropped; at a word's start it starts the word), so only
#: the first of a run can matter.
_DROPPED_RUN: Final = re.compile(rb"[\x00-\x08\x0e-\x1f\x80-\xff]{2,}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection budgets (named, so that tests and docs can cite them)."""

    #: Input bytes handled per loop turn.
    bytes_per_turn: int = 8 * 1024
    #: Request lines answered per loop turn.
    lines_per_turn: int = 64
    #: Input bytes per loop turn once a connection has sent lines_per_turn
    #: invalid lines in a row: a connection sending junk gets a smaller share.
    junk_bytes_per_turn: int = 2 * 1024
    #: Seconds between the turns of such a connection (its reading stays
    #: paused meanwhile): junk is read at most ~200 KiB/s per connection.
    junk_turn_delay: float = 0.01
    #: Invalid lines in a row before the connection is dropped.
    max_invalid_lines: int = 1024
    #: Unsent reply bytes before a client that does not read is dropped.
    max_unsent: int = 1024 * 1024


LIMITS: Final = Limits()


@dataclass(frozen=True, slots=True)
class StartTLS:
    """``OK STARTTLS`` is queued: start the server-side handshake after writing it."""


@dataclass(frozen=True, slots=True)
class Close:
    """Close after the queued replies (LOGOUT, or the client's end of input)."""


@dataclass(frozen=True, slots=True)
class Drop:
    """Abort the connection now."""

    reason: str
    #: Dropped for invalid input (logged under its own rate limit).
    invalid: bool = False


Event = StartTLS | Close | Drop
_CLOSE: Final = Close()


class Connection:
    """The protocol state of one client, from raw bytes to raw bytes."""

    __slots__ = ("_cache", "_clock", "_eof", "_events", "_inbox", "_line_len", "_out",
                 "_skipping", "_tok", "_upgrading", "done", "invalid_lines",
                 "last_heard", "limits", "line_started", "parse_errors", "rejected",
                 "session")

    def __init__(self, ctx: Context, addr: str, cache: ReplyCache | None = None,
                 limits: Limits = LIMITS, clock: Callable[[], float] = time.monotonic) -> None:
        self.session = Session(ctx, addr)
        self.limits = limits
        self._cache = cache
        self._clock = clock
        self._tok = Tokenizer()
        self._inbox = b""
        self._out: list[bytes] = []
        self._events: list[Event] = []  # rare and short: a list is 700 B lighter
        self._eof = False
        #: Between StartTLS and tls_established(): read nothing.
        self._upgrading = False
        #: Discarding an over-long line up to its newline.
        self._skipping = False
        #: Bytes of the current physical line fed so far.
        self._line_len = 0
        #: A Close or Drop was decided: nothing more is read.
        self.done = False
        self.last_heard = clock()
        #: When the first byte of the unfinished request arrived (None: none).
        self.line_started: float | None = None
        self.invalid_lines = 0
        #: Totals for the one log line when the connection ends.
        self.rejected = 0
        self.parse_errors = 0

    # -- the shell's interface ----------------------------------------------
    def receive_data(self, data: bytes, *, cache_missed: bool = False) -> None:
        """Bytes from the client (``b""``: it closed its side).

        ``cache_missed``: the caller has just had None from
        :meth:`cached_reply` for ``data`` (the shell): not asked again."""
        if self.done:
            return
        if not data:
            self._eof = True
            if not self._inbox:
                self._finish(_CLOSE)
            return
        if self._inbox or self._upgrading:
            self._inbox += data
            if not self._upgrading:
                self.process()
            return
        if not cache_missed:
            reply = self.cached_reply(data)
            if reply is not None:
                self._out.append(reply)
                return
        limits = self.limits
        if data[-1] == 0x0A and len(data) <= limits.bytes_per_turn and not self._skipping \
                and not self._tok.partial and self.invalid_lines < limits.lines_per_turn \
                and data.count(b"\n") <= limits.lines_per_turn:
            # Whole lines within one turn's budgets (the usual read): the one
            # turn process() would make, without cutting anything.
            self._line_len = 0
            self._feed(data)
            if self._eof and not self.done:
                self._finish(_CLOSE)
            return
        self._inbox = data
        self.process()

    def cached_reply(self, data: bytes) -> bytes | None:
        """The reply to ``data`` if it is one repeated ``GET VAR`` line the
        :class:`~pnut.server.replycache.ReplyCache` answers (UPS unchanged)
        and nothing else is pending, as if received; else None, and nothing
        happened.

        The shell's fast path: it writes the reply itself, which is what
        :meth:`receive_data` then :meth:`data_to_send` would have given.
        """
        cache = self._cache
        if cache is None or self._inbox or self._out or self._upgrading or self.done \
                or self._skipping or self._tok.partial:
            return None
        session = self.session
        if not session.tls and session.ctx.require_tls:  # replies depend on more than the line
            return None
        reply = cache.get(data)
        if reply is not None:
            self.last_heard = self._clock()
            self.invalid_lines = 0
        return reply

    def process(self) -> None:
        """One turn of work on the queued input (the shell calls it again while
        :attr:`backlogged`)."""
        if self.done or self._upgrading or not self._inbox:
            return
        data = self._inbox
        if self._skipping:  # the rest of an over-long line: one search, whatever its size
            nl = data.find(b"\n")
            if nl < 0:
                self._inbox = b""
                if self._eof and not self.done:
                    self._finish(_CLOSE)
                return
            self._skipping = False
            data = self._inbox = data[nl + 1:]
            if not data:
                if self._eof and not self.done:
                    self._finish(_CLOSE)
                return
        limits = self.limits
        budget = limits.bytes_per_turn if self.invalid_lines < limits.lines_per_turn \
            else limits.junk_bytes_per_turn
        cut = min(len(data), budget)
        nl = data.find(b"\n", 0, cut)
        if nl >= 0 and nl + 1 < cut:
            # Stop after lines_per_turn newlines (each ends at most one request).
            end, count = nl, 1
            while count < limits.lines_per_turn:
                nxt = data.find(b"\n", end + 1, cut)
                if nxt < 0:
                    break
                end, count = nxt, count + 1
            cut = end + 1 if count == limits.lines_per_turn else cut
        piece, self._inbox = data[:cut], data[cut:]
        self._work(piece)
        if not self._inbox and self._eof and not self.done:
            self._finish(_CLOSE)

    @property
    def turn_delay(self) -> float:
        """Seconds the shell waits before the next turn (0: the next loop pass)."""
        if self.invalid_lines < self.limits.lines_per_turn:
            return 0.0
        return self.limits.junk_turn_delay

    @property
    def backlogged(self) -> bool:
        """Input is waiting for a later turn (keep reading paused)."""
        return bool(self._inbox) and not self.done and not self._upgrading

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def next_event(self) -> Event | None:
        return self._events.pop(0) if self._events else None

    @property
    def has_events(self) -> bool:
        return bool(self._events)

    def tls_established(self) -> None:
        """The handshake finished: read (decrypted) input again."""
        self._upgrading = False
        self.session.tls = True
        self.last_heard = self._clock()
        self.process()

    def unsent(self, size: int) -> None:
        """The transport holds ``size`` unsent bytes: drop a client that does not read."""
        if size > self.limits.max_unsent and not self.done:
            self._finish(Drop("not reading its replies"))

    def expired(self, now: float, idle: float, line: float) -> bool:
        """Queue a Drop if the client was silent, or trickled one line, too long."""
        if self.done:
            return False
        if now - self.last_heard > idle:
            self._finish(Drop(f"idle for more than {idle:g} seconds"))
        elif self.line_started is not None and now - self.line_started > line:
            self._finish(Drop(f"a request line took more than {line:g} seconds"))
        return self.done

    def drop(self, reason: str, invalid: bool = False) -> None:
        """Decide to drop the connection (also used by the daemon: UPS removed; and by
        the TLS layer: a record that does not decrypt is ``invalid`` input)."""
        self._finish(Drop(reason, invalid))

    # -- the work ------------------------------------------------------------
    def _finish(self, event: Close | Drop) -> None:
        if not self.done:
            self.done = True
            self._inbox = b""
            self._events.append(event)

    def _work(self, piece: bytes) -> None:
        if self._skipping:
            nl = piece.find(b"\n")
            if nl < 0:
                return
            self._skipping = False
            piece = piece[nl + 1:]
            if not piece:
                return
        last = piece.rfind(b"\n")
        tail = len(piece) - last - 1
        current = tail if last >= 0 else self._line_len + tail
        if current <= MAX_LINE:
            self._line_len = current
            self._feed(piece)
            return
        # Over-long: read it up to MAX_LINE bytes, answer it as if it ended
        # there, and skip its rest up to the newline unread.
        allowed = (last + 1 if last >= 0 else -self._line_len) + MAX_LINE
        self._feed(piece[:allowed])
        self._line_len = 0
        self._skipping = True
        if self.done:
            return
        if self._upgrading:  # STARTTLS came with more data behind it
            self._upgrading = False
            self._finish(Drop("sent data after STARTTLS before the TLS handshake"))
            return
        lines = self._tok.cut()
        self.line_started = None
        self.rejected += 1
        if lines:
            self.last_heard = self._clock()
            self._answer(lines, None)

    def _feed(self, piece: bytes) -> None:
        tok = self._tok
        # The key a lone GET VAR reply may be reused for: the exact bytes of one whole line.
        key = piece if not tok.partial and piece.find(b"\n") == len(piece) - 1 else None
        if _DROPPED_RUN.search(piece) is not None:
            piece = _DROPPED_RUN.sub(b"\x00", piece)
            key = None
        lines = tok.feed(piece)
        if tok.partial:
            if self.line_started is None or lines:
                self.line_started = self._clock()
        else:
            self.line_started = None
        if lines:
            self.last_heard = self._clock()
            self._answer(lines, key)

    def _answer(self, lines: list[Line], key: bytes | None) -> None:
        session = self.session
        out = self._out
        n = len(lines)
        for i, line in enumerate(lines):
            words = line.words
            if line.error is not None:
                self.parse_errors += 1
                self._invalid()
                if self.done:
                    return
                continue
            verb = VERBS.get(words[0].upper()) if words else None
            if verb is None:
                self._invalid()
                if self.done:
                    return
            else:
                self.invalid_lines = 0
            row, text = session.answer(verb, words)
            reply = text.encode()
            out.append(reply)
            if key is not None and row is not None and row.cacheable \
                    and self._cache is not None and session.unrestricted:
                self._cache.put(key, words[2], words[3], reply)
            if session.closing:
                self._finish(_CLOSE)
                return
            if session.start_tls:
                session.start_tls = False
                if i + 1 < n or self._tok.partial or self._inbox:
                    self._finish(Drop("sent data after STARTTLS before the TLS handshake"))
                    return
                self._tok = Tokenizer()
                self._upgrading = True
                self._events.append(StartTLS())
                return

    def _invalid(self) -> None:
        self.rejected += 1
        self.invalid_lines += 1
        if self.invalid_lines >= self.limits.max_invalid_lines:
            self._finish(Drop(f"{self.invalid_lines} invalid lines in a row", invalid=True))
