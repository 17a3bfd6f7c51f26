"""upsd against hostile clients, one defence at a time, on a live pnut upsd.

Per-address limits are tested from the second loopback address 127.0.0.2
(with LIMIT_LOOPBACK yes, since loopback clients are exempt by default),
so 127.0.0.1 stays an honest bystander whose service must not suffer.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pnut.protocol.tokens import quote
from pnut.tls.certs import init_pki
from support import PNUT, Stack, Ups, wait_for
from upsd_support import rss_kb

DEV = "ups.status: OL\nups.load: 7\n"
PASSWORD = "c0rrect horse#battery"
WRONG = ["wr0ng-guess-1", "tr0ub4dor&3", '"quoted guess"']
USERS = f"""\
[admin]
  password = {quote(PASSWORD)}
  actions = SET FSD
  instcmds = ALL
  upsmon primary

[viewer]
  password = viewerpw
"""


def connect(port: int, source: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0))


def ask(sock: socket.socket, *lines: str) -> list[str]:
    """Send lines; read one reply line each."""
    sock.sendall("".join(f"{line}\n" for line in lines).encode())
    out: list[str] = []
    buf = b""
    while len(out) < len(lines):
        chunk = sock.recv(4096)
        if not chunk:
            out.append("<closed>")
            break
        buf += chunk
        while b"\n" in buf and len(out) < len(lines):
            raw, buf = buf.split(b"\n", 1)
            out.append(raw.decode())
    return out


def closed_soon(sock: socket.socket, within: float) -> bool:
    """True if the server closes ``sock`` within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def start(conf: str, *upsd_args: str) -> Stack:
    st = Stack([Ups("u", DEV)], users=USERS, upsd_conf=conf)
    try:
        st.start_driver(st.upses[0], "pnut")
        proc = st.spawn([*PNUT, "upsd", "-F", "-u", "root", "--confdir", str(st.dir),
                         *upsd_args], "upsd-pnut")
        wait_for(lambda: proc.poll() is not None or st.talk(["GET VAR u ups.load"])
                 == ['VAR u ups.load "7"'], timeout=20)
        assert proc.poll() is None, st.log_text()
    except BaseException:
        st.close()
        raise
    return st


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cert = init_pki(tmp_path_factory.mktemp("pki"), ["127.0.0.1"]).cert
    st = start("LIMIT_LOOPBACK yes\nMAXCONN_PER_ADDRESS 5\nMAX_LOGIN_FAILURES 3\n"
               "LINE_TIMEOUT 1\nIDLE_TIMEOUT 3\nTLS_HANDSHAKE_TIMEOUT 1\n"
               f"CERTFILE {cert}\n", "-DDD")
    yield st
    st.close()


def test_connections_per_address(limited: Stack) -> None:
    socks = [connect(limited.port, "127.0.0.2") for _ in range(8)]
    try:
        served = 0
        for s in socks:
            try:
                if ask(s, "NETVER") == ["1.3"]:
                    served += 1
            except OSError:
                pass
        assert served == 5
        with connect(limited.port) as honest:  # another address is not affected
            assert ask(honest, "GET VAR u ups.load") == ['VAR u ups.load "7"']
    finally:
        for s in socks:
            s.close()
    assert "MAXCONN_PER_ADDRESS (5) reached for 127.0.0.2" in limited.log_text()
    # Closed connections are given back: the address may connect again.
    wait_for(lambda: ask(connect(limited.port, "127.0.0.2"), "NETVER") == ["1.3"], timeout=5)


def test_failed_logins_then_refused_unchecked_then_reload_forgives(limited: Stack) -> None:
    def login(source: str, password: str) -> str:
        with connect(limited.port, source) as s:
            return ask(s, "USERNAME admin", f"PASSWORD {quote(password)}", "LOGIN u")[2]

    for guess in WRONG:
        assert login("127.0.0.3", guess) == "ERR ACCESS-DENIED"
    assert login("127.0.0.3", PASSWORD) == "ERR ACCESS-DENIED"  # blocked: not even checked
    assert login("127.0.0.1", PASSWORD) == "OK"  # other addresses are not blocked
    log = limited.log_text()
    assert "Authentication failed for admin@127.0.0.3 (LOGIN u): wrong password" in log
    assert "Too many failed logins from 127.0.0.3" in log
    with connect(limited.port, "127.0.0.4") as s:
        assert ask(s, "USERNAME nobody", "PASSWORD x", "LOGIN u")[2] == "ERR ACCESS-DENIED"
        assert ask(s, "INSTCMD u load.off") == ["ERR ACCESS-DENIED"]
    with connect(limited.port, "127.0.0.4") as s:  # right password, missing right
        assert ask(s, "USERNAME viewer", "PASSWORD viewerpw", "SET VAR u ups.load 5") == [
            "OK", "OK", "ERR ACCESS-DENIED"]
    log = limited.log_text()
    assert "Authentication failed for nobody@127.0.0.4 (LOGIN u): unknown user" in log
    assert "Access denied: viewer@127.0.0.4 may not SET ups.load on u" in log
    upsd = next(p for p in limited.procs if "upsd" in str(p.args))
    upsd.send_signal(1)  # SIGHUP: reload forgets the failures
    wait_for(lambda: "Configuration reloaded" in limited.log_text(), timeout=10)
    assert login("127.0.0.3", PASSWORD) == "OK"


def test_slowloris_line_is_dropped(limited: Stack) -> None:
    with connect(limited.port, "127.0.0.5") as slow, connect(limited.port) as honest:
        started = time.monotonic()
        dropped = False
        for ch in b"GET VAR u ups.load":  # one byte every 0.2 s, never the newline
            try:
                slow.sendall(bytes([ch]))
            except OSError:
                dropped = True
                break
            assert ask(honest, "GET VAR u ups.load") == ['VAR u ups.load "7"']
            time.sleep(0.2)
        assert dropped or closed_soon(slow, 3)
        assert time.monotonic() - started < 6  # LINE_TIMEOUT 1 + a housekeeping tick
    assert "a request line took more than 1 seconds" in limited.log_text()


def test_slow_but_complete_lines_are_served(limited: Stack) -> None:
    with connect(limited.port, "127.0.0.6") as s:
        for _ in range(3):  # each line completes within LINE_TIMEOUT
            s.sendall(b"NET")
            time.sleep(0.3)
            s.sendall(b"VER\n")
            assert s.recv(100) == b"1.3\n"
            time.sleep(0.8)


def test_idle_connection_is_dropped(limited: Stack) -> None:
    with connect(limited.port, "127.0.0.7") as idle:
        assert ask(idle, "VER")[0].startswith("Network UPS Tools")
        started = time.monotonic()
        assert closed_soon(idle, 8)
        assert 2.5 < time.monotonic() - started < 6


def test_tls_handshake_timeout(limited: Stack) -> None:
    with connect(limited.port, "127.0.0.8") as s:
        assert ask(s, "STARTTLS") == ["OK STARTTLS"]
        started = time.monotonic()
        with connect(limited.port) as other:  # NUT 2.8.0's upsd would block here
            assert ask(other, "NETVER") == ["1.3"]
            assert time.monotonic() - started < 0.5
        assert closed_soon(s, 8)  # no ClientHello ever comes
        assert time.monotonic() - started < 4
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with connect(limited.port) as s:  # the server still completes real handshakes
        assert ask(s, "STARTTLS") == ["OK STARTTLS"]
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
            assert ask(tls, "NETVER") == ["1.3"]


def test_memory_per_connection_is_bounded() -> None:
    st = start("")
    try:
        _memory_bound(st)
    finally:
        st.close()


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _memory_bound(st: Stack) -> None:
    upsd = next(p for p in st.procs if "upsd" in str(p.args))
    before = rss_kb(upsd.pid)
    # Every byte value but newline, quote and '#': the state machine's worst case.
    chunk = bytes(b for b in range(256) if b not in b'\n"#') * 256
    socks = [connect(st.port, f"127.0.1.{i}") for i in range(40)]
    try:
        for _ in range(32):  # about 2 MiB per connection, 80 MiB in all, one line each
            for s in socks:
                s.sendall(chunk)
        for s in socks:  # end each line: the server has then read and parsed it all
            s.sendall(b"\nNETVER\n")
        for s in socks:
            got = b""
            while not got.endswith(b"1.3\n"):
                data = s.recv(4096)
                assert data, "connection dropped"
                got += data
        with connect(st.port) as honest:
            assert ask(honest, "GET VAR u ups.load") == ['VAR u ups.load "7"']
        grown = _peak_kb(upsd.pid) - before
        assert grown < 40_000, f"upsd peaked {grown} kB above its idle size"
    finally:
        for s in socks:
            s.close()
    with connect(st.port) as s:  # an over-long line still gets exactly one answer
        s.sendall(b"GET VAR u " + b"x" * 3_000_000 + b"\nNETVER\n")
        reply = b""
        while reply.count(b"\n") < 2:
            reply += s.recv(4096)
        assert reply == b"ERR VAR-NOT-SUPPORTED\n1.3\n"


def test_no_password_in_any_log_line(limited: Stack) -> None:
    """Debug logging (-DDD) on; right and wrong passwords; no secret in the log."""
    with connect(limited.port, "127.0.0.9") as s:
        assert ask(s, "USERNAME admin", f"PASSWORD {quote(PASSWORD)}", "LOGIN u", "FSD u",
                   "PASSWORD s3cond-attempt") == ["OK", "OK", "OK", "OK FSD-SET",
                                         "ERR ALREADY-SET-PASSWORD"]
    with connect(limited.port, "127.0.0.10") as s:
        assert ask(s, "USERNAME admin", f"PASSWORD {WRONG[0]}", "SET VAR u ups.load 1",
                   f"{WRONG[1]}")[2:] == ["ERR ACCESS-DENIED", "ERR UNKNOWN-COMMAND"]
    with connect(limited.port, "127.0.0.11") as s:
        assert ask(s, "STARTTLS", "PASSWORD secret-before-tls") == [
            "OK STARTTLS", "<closed>"]
    log = limited.log_text()
    assert "Client admin@127.0.0.9 tried to set a password twice" in log
    for secret in [PASSWORD, *WRONG, "quoted guess", "c0rrect", "secret-before-tls",
                   "viewerpw", "s3cond-attempt"]:
        assert secret not in log, secret
    assert "admin@127.0.0.9" in log
    # debug lines were written, for each of this test's clients (the module's
    # other tests add more lines, but this test may run alone)
    for client in ("127.0.0.9", "127.0.0.10", "127.0.0.11"):
        assert f"upsd: Connect from {client}\n" in log
        assert f"upsd: Disconnect from {client}\n" in log
