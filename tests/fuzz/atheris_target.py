"""Coverage-guided fuzzing of the protocol core with atheris (libFuzzer).

    python tests/fuzz/atheris_target.py -max_total_time=60 NEW_DIR tests/fuzz/corpus

One input drives three consumers: the tokenizer fed in packets (the first
byte picks the cut points) and compared with the bytewise reference, every
resulting line answered by a server Session (each answer must be
well-formed reply lines), and the client core reading the input as server
output during a LIST.  Any exception other than the ones the code is
allowed to raise, or a mismatch, is a crash that libFuzzer reports.
The test suite runs it for a bounded number of runs (tests/fuzz/test_atheris.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports():
    from fuzz_support import REPLY_LINE, reference, session

    from pnut.client.core import ClientConnection, Exchange
    from pnut.client.errors import ClientError
    from pnut.protocol.tokens import Tokenizer


def one_input(data: bytes) -> None:
    if not data:
        return
    step = data[0] % 17 + 1
    body = data[1:]
    tok = Tokenizer()
    got = []
    for i in range(0, len(body), step):
        got.extend(tok.feed(body[i:i + step]))
    want = reference(body)
    if [(ln.words, ln.error) for ln in got] != [(ln.words, ln.error) for ln in want]:
        raise AssertionError(f"tokenizer fast path differs from the reference: {body!r}")

    sess = session()
    sess.ctx.require_tls = bool(data[0] & 0x80)
    for line in got:
        if line.error is not None:
            continue
        reply = sess.handle(line.words)
        for text in reply[:-1].split("\n"):
            if not REPLY_LINE.fullmatch(text):
                raise AssertionError(f"malformed reply {text!r} to {line.words!r}")
        if sess.closing:
            break
        sess.start_tls = False

    conn = ClientConnection()
    exchange = Exchange(conn, conn.list_var("ups"))
    try:
        exchange.start()
        conn.receive_data(body)
        for _ in range(10_000):
            received = conn.next_reply()
            if exchange.done or received is None:
                break
            exchange.receive(received)
    except ClientError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
