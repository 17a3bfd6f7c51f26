"""What the fuzz tests and the atheris target share: the reference tokenizer,
a session with one UPS, and the check that a server reply is well formed."""

from __future__ import annotations

import re

from pnut.protocol.tokens import Line, Tokenizer, _State
from pnut.server.session import Context, Session
from pnut.server.store import UpsEntry

#: Every line upsd may write (NUT 2.8.0's replies plus RFC 9271's NUMATTACH).
REPLY_LINE = re.compile(
    r"(OK( .*)?|ERR [A-Z-]+( .*)?|(VAR|RW) \S+ \S+ \".*\"|(TYPE|ENUM|RANGE|DESC|CMDDESC) .+"
    r"|UPSDESC \S+ \".*\"|(NUMLOGINS|NUMATTACH) \S+ \d+|(BEGIN|END) LIST .+|UPS \S+ \".*\""
    r"|CMD \S+ \S+|CLIENT \S+ \S+|Network UPS Tools upsd .+|Commands: .+|1\.3|ON|OFF"
    r"|PENDING|SUCCESS)")


def reference(data: bytes, max_args: int = 32, max_word: int = 512) -> list[Line]:
    """One Tokenizer._step per byte, with the same skip-after-the-last-word rule."""
    tok = Tokenizer(max_args, max_word)
    out: list[Line] = []
    i = 0
    while i < len(data):
        if len(tok._words) >= max_args and tok._state is not _State.ERROR:
            tok._state = _State.WORDSTART
            tok._word.clear()
            nl = data.find(b"\n", i)
            if nl < 0:
                break
            i = nl
        if tok._step(data[i]):
            tok._emit(out)
        i += 1
    return out



def session(addr: str = "192.0.2.1") -> Session:
    """A server session with one connected UPS ``ups`` (a status and a command)."""
    ctx = Context()
    entry = UpsEntry("ups", "dummy-ups-ups", "desc")
    entry.state.apply(["SETINFO", "ups.status", "OL"])
    entry.state.apply(["ADDCMD", "load.off"])
    entry.connected = True
    ctx.store.add(entry)
    return Session(ctx, addr)
