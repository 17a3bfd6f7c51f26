"""The sans-IO client: one conversation engine that both adapters drive.

How this works
--------------
:class:`ClientConnection` owns no socket.  Bytes from the server go in
through :meth:`~ClientConnection.receive_data` (an unfinished line is
bounded by ``MAX_PENDING_LINE``); :meth:`~ClientConnection.next_reply` cuts
one line at a time, tokenizes it with the protocol's tokenizer and returns
the classified :mod:`~pnut.protocol.replies` - so a server that floods
lines costs no more work than the replies the client asked for.

Every protocol operation is a generator method (an :data:`Op`): it yields a
request for the adapter to send, or ``None`` to ask for the next reply line
of a list, and the adapter sends back the next :data:`Reply`.  When the
generator returns, its value is the typed result.  So the conversation
logic - what to send, which answer is valid, how ERR maps to exceptions,
what the session now is (username given, logged in, tracking on) - lives
here once; :class:`pnut.client.Client` and :class:`pnut.client.AsyncClient`
only move bytes and enforce timeouts (see ``run_sync`` there and ``run`` in
the async adapter).

A reply that does not fit the request raises :class:`ProtocolError`; a
failed or timed-out exchange leaves the connection unusable, and the
adapters close it (the next reply could belong to the abandoned request).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from pnut.client.errors import ProtocolError, ServerError, server_error
from pnut.client.models import (
    ClientEntry,
    Command,
    Range,
    TrackingStatus,
    UpsEntry,
    Variable,
    VarType,
)
from pnut.protocol import requests as rq
from pnut.protocol.limits import MAX_ARGS, MAX_PENDING_LINE, MAX_WORD_LEN
from pnut.protocol.replies import (
    BeginList,
    ClientReply,
    CmdReply,
    CountReply,
    DescReply,
    EndList,
    ErrReply,
    Ok,
    RangeReply,
    Reply,
    TextReply,
    TypeReply,
    UpsReply,
    VarReply,
    parse_reply,
)
from pnut.protocol.tokens import Tokenizer

T = TypeVar("T")

#: A protocol operation: yields requests (or None for "next line"),
#: receives replies, returns the typed result.
Op = Generator["rq.Request | None", Reply, T]

#: A reply of plain words whose last word is quoted without escapes - nearly
#: every VAR, RW, UPS and DESC line: split by one regex instead of the
#: tokenizer (a LIST VAR of 500 UPSes parses ~5x faster).  Plain means
#: printable ASCII without space, ``"``, ``#``, ``=`` or ``\\``; the quoted
#: value may hold spaces.  Anything else goes to the tokenizer.
_FAST_REPLY = re.compile(rb'((?:[!$-<>-\[\]-~]+ )+)"([ !$-<>-\[\]-~]*)"')

#: Lines accepted in one LIST answer before the server is declared broken.
MAX_LIST_LINES: Final = 100_000

_TRACKING_ERRS: Final = {
    "FAILED": TrackingStatus.FAILED,
    "UNKNOWN": TrackingStatus.UNKNOWN,
    "INVALID-ARGUMENT": TrackingStatus.INVALID_ARGUMENT,
}


@dataclass(frozen=True, slots=True)
class Received:
    """One reply line: its classification and its text as sent."""

    reply: Reply
    raw: str


def check_word(word: str, what: str = "argument") -> str:
    """Refuse characters the protocol cannot carry.

    A newline in a value would end the request early and let the rest be
    read as a second command, so every request word must be printable ASCII.
    """
    for ch in word:
        if not " " <= ch <= "~":
            shown = "" if what == "password" else f" {word!r}"  # never echo a secret
            raise ValueError(f"{what}{shown} contains a character outside printable ASCII")
    return word


class ClientConnection:
    """Sans-IO state of one client connection to upsd."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        #: Start of the first unconsumed byte in _buffer.
        self._pos = 0
        #: The raw text of the last reply handed to an operation.
        self.last_line = ""
        self.username_sent = False
        self.password_sent = False
        self.logged_in: str | None = None
        self.tracking = False
        self.tls = False
        self.closed = False

    # -- bytes in / bytes out ------------------------------------------------
    @staticmethod
    def encode(req: rq.Request) -> bytes:
        """The request as wire bytes; raises ValueError on unsendable text."""
        for word in rq.to_words(req):
            check_word(word, "password" if isinstance(req, rq.Password) else "argument")
        return rq.to_line(req).encode("ascii")

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server (cut into lines only as replies are asked for)."""
        if self._pos and self._pos == len(self._buffer):
            self._buffer.clear()
            self._pos = 0
        start = len(self._buffer)
        self._buffer += data
        if data.find(b"\n") < 0 and start - self._pos + len(data) > MAX_PENDING_LINE \
                and self._buffer.find(b"\n", self._pos) < 0:
            raise ProtocolError(f"reply line longer than {MAX_PENDING_LINE} bytes")

    def next_reply(self) -> Received | None:
        """The oldest complete reply not yet consumed, or None.

        Work is one line per call whatever the server sent: a hostile server
        that floods lines costs the client nothing it did not ask for.
        """
        buf = self._buffer
        nl = buf.find(b"\n", self._pos)
        if nl < 0:
            return None
        raw = bytes(buf[self._pos:nl])
        self._pos = nl + 1
        if self._pos > 65536 and self._pos * 2 > len(buf):  # compact now and then
            del buf[:self._pos]
            self._pos = 0
        return self._classify(raw)

    @property
    def has_partial(self) -> bool:
        """Bytes not yet consumed are waiting (matters before STARTTLS)."""
        return len(self._buffer) > self._pos

    @staticmethod
    def _classify(raw: bytes) -> Received:
        fast = _FAST_REPLY.fullmatch(raw)
        if fast is not None:
            words = fast.group(1).decode("ascii").split(" ")
            words[-1] = fast.group(2).decode("ascii")  # the empty string after the last space
            if len(words) <= MAX_ARGS and max(map(len, words)) <= MAX_WORD_LEN:
                text = raw.decode("ascii")
                return Received(parse_reply(words, text), text)
        return ClientConnection._classify_slow(raw)

    @staticmethod
    def _classify_slow(raw: bytes) -> Received:
        """The reference: NUT's tokenizer on the line (the fast path must agree)."""
        text = raw.decode("latin-1").rstrip("\r")
        lines = Tokenizer().feed(raw + b"\n")
        if not lines or lines[0].error is not None:
            err = lines[0].error if lines else "empty reply"
            raise ProtocolError(f"unparsable reply ({err})", text)
        return Received(parse_reply(lines[0].words, text), text)

    # -- helpers for operations ----------------------------------------------
    def _expect(self, reply: Reply, *kinds: type) -> None:
        if isinstance(reply, ErrReply):
            raise server_error(reply.name, reply.extra)
        if not isinstance(reply, kinds):
            raise ProtocolError("unexpected reply", self.last_line)

    @staticmethod
    def _echo(got: str, want: str) -> bool:
        # NUT's verify_resp: the server echoes our words, case aside.
        return got.lower() == want.lower()

    def _ok(self, req: rq.Request) -> Op[str]:
        reply = yield req
        self._expect(reply, Ok)
        assert isinstance(reply, Ok)
        return reply.text

    def _list(self, req: rq.Request, head: list[str]) -> Op[list[Reply]]:
        first = yield req
        self._expect(first, BeginList)
        assert isinstance(first, BeginList)
        if len(first.words) < len(head) or not all(
            self._echo(g, w) for g, w in zip(first.words, head, strict=False)
        ):
            raise ProtocolError("list answers another request", self.last_line)
        items: list[Reply] = []
        for _ in range(MAX_LIST_LINES):
            reply = yield None
            if isinstance(reply, EndList):
                return items
            if isinstance(reply, ErrReply):
                raise server_error(reply.name, reply.extra)
            items.append(reply)
        raise ProtocolError(f"list longer than {MAX_LIST_LINES} lines")

    # -- plain commands -------------------------------------------------------
    def ver(self) -> Op[str]:
        reply = yield rq.Ver()
        self._expect(reply, TextReply, Ok)
        return self.last_line

    def protver(self, word: str = "PROTVER") -> Op[str]:
        reply = yield rq.ProtVer(word)
        self._expect(reply, TextReply)
        return self.last_line

    def help(self) -> Op[str]:
        reply = yield rq.Help()
        self._expect(reply, TextReply)
        return self.last_line

    def starttls(self) -> Op[None]:
        text = yield from self._ok(rq.StartTLS())
        if text.upper() != "STARTTLS":
            raise ProtocolError("STARTTLS not confirmed", self.last_line)

    def username(self, name: str) -> Op[None]:
        yield from self._ok(rq.Username(name))
        self.username_sent = True

    def password(self, password: str) -> Op[None]:
        yield from self._ok(rq.Password(password))
        self.password_sent = True

    def login(self, ups: str, word: str = "LOGIN") -> Op[None]:
        yield from self._ok(rq.Login(ups, word))
        self.logged_in = ups

    def logout(self, word: str = "LOGOUT") -> Op[str]:
        text = yield from self._ok(rq.Logout(word))
        self.logged_in = None
        return text

    def primary(self, ups: str, word: str = "PRIMARY") -> Op[str]:
        return (yield from self._ok(rq.Primary(ups, word)))

    def fsd(self, ups: str) -> Op[str]:
        return (yield from self._ok(rq.Fsd(ups)))

    # -- GET -----------------------------------------------------------------
    def get_var(self, ups: str, var: str) -> Op[str]:
        reply = yield rq.GetVar(ups, var)
        self._expect(reply, VarReply)
        assert isinstance(reply, VarReply)
        if reply.kind != "VAR" or not self._echo(reply.name, var):
            raise ProtocolError("answer for another variable", self.last_line)
        return reply.value

    def get_type(self, ups: str, var: str) -> Op[VarType]:
        reply = yield rq.GetType(ups, var)
        self._expect(reply, TypeReply)
        assert isinstance(reply, TypeReply)
        return VarType.from_words(reply.types)

    def _desc(self, req: rq.Request, kind: str) -> Op[str]:
        reply = yield req
        self._expect(reply, DescReply)
        assert isinstance(reply, DescReply)
        if reply.kind != kind:
            raise ProtocolError(f"expected {kind}", self.last_line)
        return reply.text

    def get_desc(self, ups: str, var: str) -> Op[str]:
        return (yield from self._desc(rq.GetDesc(ups, var), "DESC"))

    def get_cmddesc(self, ups: str, cmd: str) -> Op[str]:
        return (yield from self._desc(rq.GetCmdDesc(ups, cmd), "CMDDESC"))

    def get_upsdesc(self, ups: str) -> Op[str]:
        return (yield from self._desc(rq.GetUpsDesc(ups), "UPSDESC"))

    def num_logins(self, ups: str, word: str = "NUMLOGINS") -> Op[int]:
        reply = yield rq.GetNumLogins(ups, word)
        self._expect(reply, CountReply)
        assert isinstance(reply, CountReply)
        return reply.count

    # -- LIST ----------------------------------------------------------------
    def list_ups(self) -> Op[list[UpsEntry]]:
        items = yield from self._list(rq.ListUps(), ["UPS"])
        return [UpsEntry(r.name, r.description) for r in self._only(items, UpsReply)]

    def _values(self, req: rq.Request, head: list[str], kind: str) -> Op[dict[str, str]]:
        items = yield from self._list(req, head)
        out: dict[str, str] = {}
        for r in self._only(items, VarReply):
            if r.kind != kind:
                raise ProtocolError(f"expected {kind} lines", f"{r.kind} {r.ups} {r.name}")
            out[r.name] = r.value
        return out

    def list_var(self, ups: str) -> Op[dict[str, str]]:
        return (yield from self._values(rq.ListVar(ups), ["VAR", ups], "VAR"))

    def list_rw(self, ups: str) -> Op[dict[str, str]]:
        return (yield from self._values(rq.ListRw(ups), ["RW", ups], "RW"))

    def list_cmd(self, ups: str) -> Op[list[str]]:
        items = yield from self._list(rq.ListCmd(ups), ["CMD", ups])
        return [r.cmd for r in self._only(items, CmdReply)]

    def list_enum(self, ups: str, var: str) -> Op[list[str]]:
        items = yield from self._list(rq.ListEnum(ups, var), ["ENUM", ups, var])
        return [r.value for r in self._only(items, VarReply)]

    def list_range(self, ups: str, var: str) -> Op[list[Range]]:
        items = yield from self._list(rq.ListRange(ups, var), ["RANGE", ups, var])
        return [Range(r.low, r.high) for r in self._only(items, RangeReply)]

    def list_client(self, ups: str) -> Op[list[ClientEntry]]:
        items = yield from self._list(rq.ListClient(ups), ["CLIENT", ups])
        return [ClientEntry(r.ups, r.address) for r in self._only(items, ClientReply)]

    @staticmethod
    def _only(items: list[Reply], kind: type[T]) -> list[T]:
        for r in items:
            if not isinstance(r, kind):
                raise ProtocolError(f"unexpected line in list: {r!r}")
        return items  # type: ignore[return-value]  # checked just above

    # -- composites ----------------------------------------------------------
    def commands(self, ups: str) -> Op[list[Command]]:
        """Every instant command with its description (as ``upscmd -l``)."""
        names = yield from self.list_cmd(ups)
        out = []
        for name in names:
            desc = yield from self.get_cmddesc(ups, name)
            out.append(Command(name, desc))
        return out

    def describe_var(self, ups: str, var: str) -> Op[Variable]:
        """Value, description, type, and enum/range lists of one variable."""
        value = yield from self.get_var(ups, var)
        desc = yield from self.get_desc(ups, var)
        vtype = yield from self.get_type(ups, var)
        enum: list[str] = []
        ranges: list[Range] = []
        if vtype.enum:
            enum = yield from self.list_enum(ups, var)
        if vtype.range:
            ranges = yield from self.list_range(ups, var)
        return Variable(var, value, desc, vtype, tuple(enum), tuple(ranges))

    # -- SET / INSTCMD / TRACKING ---------------------------------------------
    def _tracked(self, req: rq.Request) -> Op[str | None]:
        text = yield from self._ok(req)
        head, _, ident = text.partition(" ")
        if head.upper() == "TRACKING" and ident:
            return ident
        return None

    def set_var(self, ups: str, var: str, value: str) -> Op[str | None]:
        return (yield from self._tracked(rq.SetVar(ups, var, value)))

    def instcmd(self, ups: str, cmd: str, param: str | None = None) -> Op[str | None]:
        return (yield from self._tracked(rq.InstCmd(ups, cmd, param)))

    def set_tracking(self, on: bool) -> Op[None]:
        yield from self._ok(rq.SetTracking(on))
        self.tracking = on

    def get_tracking_mode(self) -> Op[bool]:
        reply = yield rq.GetTracking()
        self._expect(reply, TextReply)
        word = self.last_line.strip().upper()
        if word not in ("ON", "OFF"):
            raise ProtocolError("expected ON or OFF", self.last_line)
        return word == "ON"

    def get_tracking_status(self, ident: str) -> Op[TrackingStatus]:
        reply = yield rq.GetTracking(ident)
        if isinstance(reply, ErrReply) and reply.name in _TRACKING_ERRS:
            return _TRACKING_ERRS[reply.name]
        self._expect(reply, TextReply)
        try:
            status = TrackingStatus(self.last_line.strip().upper())
        except ValueError:
            raise ProtocolError("unknown tracking status", self.last_line) from None
        if status not in (TrackingStatus.PENDING, TrackingStatus.SUCCESS):
            raise ProtocolError("unknown tracking status", self.last_line)
        return status


class Exchange(Generic[T]):
    """One operation in flight: turns its yields into bytes to send.

    The adapters' loop is: send what :meth:`start` returns, then hand each
    received reply to :meth:`receive` and send what it returns, until
    :attr:`done`; then :attr:`result` holds the operation's value.
    """

    def __init__(self, conn: ClientConnection, op: Op[T]) -> None:
        self._conn = conn
        self._op = op
        self.done = False
        self._result: T | None = None

    def start(self) -> bytes:
        return self._advance(None)

    def receive(self, received: Received) -> bytes:
        self._conn.last_line = received.raw
        return self._advance(received.reply)

    def _advance(self, reply: Reply | None) -> bytes:
        try:
            req = next(self._op) if reply is None else self._op.send(reply)
        except StopIteration as stop:
            self.done = True
            self._result = stop.value
            return b""
        return b"" if req is None else self._conn.encode(req)

    @property
    def result(self) -> T:
        if not self.done:
            raise RuntimeError("operation not finished")
        return self._result  # type: ignore[return-value]  # set when done


__all__ = ["ClientConnection", "Exchange", "Op", "Received", "ServerError", "check_word"]
