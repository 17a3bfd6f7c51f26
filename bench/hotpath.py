"""upsd's CPU per request and per connection, without a load generator: is a change faster?

    git worktree add --detach /tmp/before <rev>
    python bench/hotpath.py /tmp/before/src src [--rounds 5] [--reps 5]
        [--ops get1,get16,connect16,tlsconnect16]

bench/ab.py drives a separate upsd with the C load generator: its figures
move with how the two processes happen to share the CPUs (how many
requests one loop pass finds), by 5-10% between runs on a shared machine.
Here upsd's own loop (pnut.server.evloop) and blocking clients run in one
process, one thread, pinned to one CPU: the clients send, the loop makes
one pass, the clients read; only the loop's passes are timed (CPU time,
system calls included).  What one pass finds is then the same on every
run, and differences of a few percent show.  Each tree runs in a fresh
child process (PYTHONPATH); rounds alternate the trees; the figure kept is
the least of every round's least of ``--reps`` timings.

Operations (ns of upsd CPU each): ``get1`` a GET VAR answered from the
reply cache, one connection, one pass per request; ``get16`` the same on
16 connections served by one pass; ``connect16`` 16 clients connecting,
sending ``VER`` and ``LOGOUT`` together and reading the goodbye, per
connection (accept to close); ``tlsconnect16`` as connect16 with STARTTLS
and a full TLS handshake first (upsd with CERTFILE, the certificate of
bench/tlsbench.py; the clients' TLS, Python's ssl on memory BIOs, runs
between the timed passes).  The UPS is NUT's C dummy-ups, as in ab.py.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUEST = b"GET VAR eaton ups.status\n"
OPS = ("get1", "get16", "connect16", "tlsconnect16")


def child(confdir: Path, statepath: str, port: int, reps: int, ops: list[str]) -> None:
    """Serve from this process and time the loop's passes; print ``op ns`` pairs."""
    from pnut.server.daemon import Upsd
    from pnut.server.evloop import EpollLoop

    upsd = Upsd(confdir, statepath)
    loop = EpollLoop()
    upsd._start(loop)
    upsd._connect_drivers()
    spent = [0]
    clock = time.process_time_ns
    run_once = loop._run_once

    def one_pass() -> None:
        start = clock()
        run_once()
        spent[0] += clock() - start

    def answer(conn: socket.socket) -> bytes:
        while True:
            one_pass()
            try:
                return conn.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass

    addr = ("127.0.0.1", port)
    conns = [socket.create_connection(addr) for _ in range(16)]
    for _ in range(2000):  # until the driver's data is in
        conns[0].send(REQUEST)
        if answer(conns[0]).startswith(b"VAR"):
            break
    else:
        raise SystemExit("the UPS never answered")

    def get1(n: int) -> int:
        for _ in range(n):
            conns[0].send(REQUEST)
            answer(conns[0])
        return n

    def get16(n: int) -> int:
        for _ in range(n):
            for conn in conns:
                conn.send(REQUEST)
            waiting = list(conns)
            while waiting:
                one_pass()
                waiting = [c for c in waiting if not _read(c)]
        return 16 * n

    def connect16(n: int) -> int:
        for _ in range(n):
            clients = []
            for _ in range(16):
                client = socket.create_connection(addr)
                client.send(b"VER\nLOGOUT\n")
                clients.append([client, b""])
            while clients:
                one_pass()
                for entry in clients:
                    got = _read(entry[0])
                    if got is not None:
                        entry[1] += got
                done = [e for e in clients if e[1].endswith(b"OK Goodbye\n")]
                for client, _ in done:
                    client.close()
                clients = [e for e in clients if not e[1].endswith(b"OK Goodbye\n")]
        return 16 * n

    tls_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls_client.check_hostname = False
    tls_client.verify_mode = ssl.CERT_NONE

    def tlsconnect16(n: int) -> int:
        for _ in range(n):
            clients = [_TLSClient(socket.create_connection(addr), tls_client) for _ in range(16)]
            for _ in range(10_000):
                if not clients:
                    break
                one_pass()
                clients = [c for c in clients if not c.step()]
            else:
                raise SystemExit("TLS clients still waiting after 10,000 passes")
        return 16 * n

    table: dict[str, tuple[Callable[[int], int], int]] = {
        "get1": (get1, 3000), "get16": (get16, 300), "connect16": (connect16, 60),
        "tlsconnect16": (tlsconnect16, 10)}
    cells = []
    for op in ops:
        func, n = table[op]
        func(n // 5)  # warm up
        best = float("inf")
        for _ in range(reps):
            spent[0] = 0
            done = func(n)
            best = min(best, spent[0] / done)
        cells.append(f"{op} {best:.0f}")
    print("  ".join(cells))


class _TLSClient:
    """One client of tlsconnect16: STARTTLS, handshake, VER and LOGOUT, close."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing)
        self.got = b""
        self.phase = "starttls"
        sock.send(b"STARTTLS\n")

    def step(self) -> bool:
        """Whatever upsd's last pass sent; True once the goodbye is in (then closed)."""
        data = _read(self.sock)
        if data is None:
            return False
        if not data:
            raise SystemExit("upsd closed a TLS client's connection")
        if self.phase == "starttls":
            self.got += data
            if not self.got.endswith(b"\n"):
                return False
            if self.got != b"OK STARTTLS\n":
                raise SystemExit(f"STARTTLS answered {self.got!r}")
            self.got, self.phase = b"", "handshake"
        else:
            self.incoming.write(data)
        if self.phase == "handshake":
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.sock.send(self.outgoing.read())
                return False
            if self.tls.session_reused:
                raise SystemExit("a TLS handshake was resumed")
            self.tls.write(b"VER\nLOGOUT\n")
            self.sock.send(self.outgoing.read())
            self.phase = "requests"
            return False
        try:
            while chunk := self.tls.read(4096):  # b"": close_notify
                self.got += chunk
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass
        if not self.got.endswith(b"OK Goodbye\n"):
            return False
        self.sock.close()
        return True


def _read(conn: socket.socket) -> bytes | None:
    try:
        return conn.recv(4096, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("trees", nargs="*", help="src/ directories to compare")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--child", nargs=3, metavar=("CONFDIR", "STATEPATH", "PORT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    ops = [op for op in args.ops.split(",") if op]
    if unknown := set(ops) - set(OPS):
        ap.error(f"unknown operations: {', '.join(sorted(unknown))}")
    if args.child:
        confdir, statepath, port = args.child
        child(Path(confdir), statepath, int(port), args.reps, ops)
        return 0
    if not args.trees:
        ap.error("name at least one src/ directory")

    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent / "tests"))
    import run

    from support import Stack, Ups

    best: dict[str, dict[str, float]] = {}
    with Stack([Ups(run.UPS, run.DEV.read_text())]) as st:
        if "tlsconnect16" in ops:
            import tlsbench

            tls_conf, _ = tlsbench.upsd_conf("pnut", st.dir)
            st.write("upsd.conf", f"LISTEN 127.0.0.1 {st.port}\n{tls_conf}")
        st.start_driver(st.upses[0], "nut")
        for _ in range(args.rounds):
            for tree in args.trees:
                src = str(Path(tree).resolve())
                argv = run.pinned([sys.executable, __file__, "--child", str(st.dir),
                                   str(st.state), str(st.port), "--reps", str(args.reps),
                                   "--ops", ",".join(ops)], run.SERVER_CPU)
                out = subprocess.run(argv, env={**st.env, "PYTHONPATH": src},
                                     capture_output=True, text=True, timeout=600)
                if out.returncode:
                    sys.stderr.write(out.stderr)
                    return 1
                line = out.stdout.strip().splitlines()[-1]
                print(f"{tree}: {line}", flush=True)
                words = line.split()
                mine = best.setdefault(tree, {})
                for op, ns in zip(words[::2], words[1::2], strict=True):
                    mine[op] = min(mine.get(op, float("inf")), float(ns))
    print("least over the rounds (ns of upsd CPU per operation):")
    for tree, figures in best.items():
        print(f"{tree}: " + "  ".join(f"{op} {ns:.0f}" for op, ns in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
