"""STARTTLS on pnut upsd with certificates from ``pnut cert``: every way it can go.

Three servers, each a real pnut upsd with pnut's dummy-ups:

- ``strict``: REQUIRE_TLS, TLS 1.3 only, CERTREQUEST REQUEST (a client
  certificate is checked when one is offered);
- ``legacy``: an expired certificate, TLS_MIN_VERSION 1.2;
- ``mutual``: CERTREQUEST REQUIRE (no client certificate, no TLS).

Clients are the library (Client.secure / starttls), raw ``ssl`` sockets
where the library would hide the detail, and pnut's upsc.
"""

from __future__ import annotations

import datetime as dt
import signal
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pnut.client import (
    Client,
    NutConnectionError,
    TlsAlreadyEnabled,
    TlsMode,
    TlsNotEnabled,
    TlsSettings,
)
from pnut.config.parser import parse_text
from pnut.config.upsd_conf import parse_upsd_conf
from pnut.tls import certs
from pnut.tls.contexts import client_context
from support import PNUT, Stack, Ups, run, wait_for
from upsd_support import LOOPS, use_loop

DEV = "ups.status: OL\nups.load: 7\nbattery.charge: 88\n"
USERS = "[admin]\n  password = adminpw\n  actions = SET\n  upsmon primary\n"


@dataclass
class Pki:
    dir: Path
    ca: Path
    server: certs.Issued
    expired: certs.Issued
    client: certs.Issued
    other_ca: Path
    stranger: certs.Issued  # a client certificate from the other CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    where = tmp_path_factory.mktemp("pki")
    server = certs.init_pki(where, ["127.0.0.1", "localhost"])
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    expired = certs.issue(where, "expired", ["127.0.0.1"], days=30, not_before=long_ago)
    client = certs.issue(where, "upsmon-client", client=True)
    other = tmp_path_factory.mktemp("other-ca")
    certs.make_ca(other, "someone else's CA")
    stranger = certs.issue(other, "stranger", client=True)
    return Pki(where, where / "ca.pem", server, expired, client, other / "ca.pem", stranger)


def _stack(conf: str) -> Stack:
    st = Stack([Ups("u", DEV)], users=USERS, upsd_conf=conf)
    try:
        st.start(upsd="pnut", driver="pnut")
    except BaseException:
        st.close()
        raise
    return st


@pytest.fixture(scope="module")
def strict(pki: Pki) -> Iterator[Stack]:
    st = _stack(f"CERTFILE {pki.server.cert}\nREQUIRE_TLS yes\nCERTREQUEST REQUEST\n"
                f"CLIENTCAFILE {pki.ca}\n")
    yield st
    st.close()


@pytest.fixture(scope="module")
def legacy(pki: Pki) -> Iterator[Stack]:
    st = _stack(f"CERTFILE {pki.expired.cert}\nTLS_MIN_VERSION 1.2\nDISABLE_WEAK_SSL yes\n")
    yield st
    st.close()


@pytest.fixture(scope="module")
def mutual(pki: Pki) -> Iterator[Stack]:
    st = _stack(f"CERTFILE {pki.server.cert}\nCERTREQUEST REQUIRE\nCLIENTCAFILE {pki.ca}\n")
    yield st
    st.close()


def verified(pki: Pki, **kw: object) -> TlsSettings:
    return TlsSettings(mode=TlsMode.REQUIRE, verify=True, cafile=str(pki.ca), **kw)  # type: ignore[arg-type]


def starttls_raw(port: int, ctx: ssl.SSLContext, name: str = "127.0.0.1") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(b"STARTTLS\n")
    assert raw.recv(64) == b"OK STARTTLS\n"
    try:
        return ctx.wrap_socket(raw, server_hostname=name)
    except BaseException:
        raw.close()
        raise


def ask(sock: socket.socket, line: str) -> str:
    sock.sendall(line.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().rstrip("\n")


# -- certificates ------------------------------------------------------------------


def test_good_certificate_verified_by_the_library(pki: Pki, strict: Stack) -> None:
    with Client("127.0.0.1", strict.port) as c:
        assert c.secure(verified(pki))
        assert c.get_var("u", "ups.load") == "7"
        with pytest.raises(TlsAlreadyEnabled) as exc:
            c.starttls(client_context(pki.ca))
        assert exc.value.name == "ALREADY-SSL-MODE"  # NUT 2.8.0's bytes, not the RFC's name
        c.authenticate("admin", "adminpw")
        c.login("u")
    assert "User admin@127.0.0.1 logged into UPS [u] (SSL)" in strict.log_text()


def test_wrong_ca_fails_and_nothing_is_sent_in_clear(pki: Pki, strict: Stack) -> None:
    c = Client("127.0.0.1", strict.port)
    with pytest.raises(NutConnectionError) as exc:
        c.secure(TlsSettings(mode=TlsMode.REQUIRE, verify=True, cafile=str(pki.other_ca)))
    assert "certificate verify failed" in str(exc.value)
    assert not c.connected


def test_wrong_host_name_fails(pki: Pki, strict: Stack) -> None:
    with pytest.raises(NutConnectionError, match=r"match|mismatch"):
        Client("127.0.0.1", strict.port).secure(verified(pki, server_name="ups.example.net"))


def test_expired_certificate_fails_verification(pki: Pki, legacy: Stack) -> None:
    with pytest.raises(NutConnectionError, match="expired"):
        Client("127.0.0.1", legacy.port).secure(verified(pki))
    # Encryption without verification (NUT's clients' default) still works.
    with Client("127.0.0.1", legacy.port) as c:
        assert c.secure(TlsSettings())
        assert c.get_var("u", "battery.charge") == "88"
    day = certs.load_first_cert(pki.expired.cert).not_valid_after_utc.strftime("%Y-%m-%d")
    assert f"expired on {day}" in legacy.log_text()  # upsd warned at start-up


def test_upsd_with_a_certfile_loads_no_cryptography(strict: Stack) -> None:
    """The cryptography package (~10 MB resident) makes certificates: a upsd given
    one (CERTFILE) reads it, and checks its date, with the ssl module alone."""
    upsd = next(proc for proc in strict.procs if "upsd" in proc.args)
    maps = Path(f"/proc/{upsd.pid}/maps").read_text()
    assert "libssl" in maps  # what this upsd has loaded, TLS included
    assert "/cryptography/" not in maps  # its compiled bindings, there once it is imported


def test_pin_match_and_mismatch(pki: Pki, strict: Stack) -> None:
    with Client("127.0.0.1", strict.port) as c:  # a pin alone: no CA needed
        assert c.secure(TlsSettings(pin=pki.server.fingerprint))
        assert c.protver() == "1.3"
    c = Client("127.0.0.1", strict.port)
    with pytest.raises(NutConnectionError, match="pin mismatch"):
        c.secure(TlsSettings(pin=pki.expired.fingerprint))
    assert not c.connected
    with pytest.raises(ValueError, match="64 hex digits"):
        TlsSettings(pin="12:34").check()


# -- client certificates -------------------------------------------------------------


def test_required_client_certificate(pki: Pki, mutual: Stack) -> None:
    with Client("127.0.0.1", mutual.port) as c:
        assert c.secure(verified(pki, certfile=str(pki.client.cert)))
        assert c.get_var("u", "ups.status") == "OL"
    # Without one: TLS 1.3 reports the refusal on the first read after the handshake.
    bare = starttls_raw(mutual.port, client_context(pki.ca))
    with bare, pytest.raises((ssl.SSLError, ConnectionError)):
        bare.sendall(b"VER\n")
        assert bare.recv(100) == b""  # (closed without an answer, if no alert arrived)
        raise ConnectionError("closed")
    stranger = client_context(pki.ca, certfile=pki.stranger.cert)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        sock = starttls_raw(mutual.port, stranger)
        with sock:
            sock.sendall(b"VER\n")
            if sock.recv(100) == b"":
                raise ConnectionError("closed")
    wait_for(lambda: "TLS handshake with 127.0.0.1 failed" in mutual.log_text(), timeout=5)


def test_requested_client_certificate_is_optional_but_checked(pki: Pki, strict: Stack) -> None:
    with starttls_raw(strict.port, client_context(pki.ca)) as none_given:
        assert ask(none_given, "NETVER") == "1.3"
    with starttls_raw(strict.port, client_context(pki.ca, certfile=pki.client.cert)) as good:
        assert ask(good, "GET VAR u ups.load") == 'VAR u ups.load "7"'
    stranger = client_context(pki.ca, certfile=pki.stranger.cert)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        sock = starttls_raw(strict.port, stranger)
        with sock:
            sock.sendall(b"VER\n")
            if sock.recv(100) == b"":
                raise ConnectionError("closed")


# -- protocol versions -----------------------------------------------------------------


def _tls12_only(pki: Pki) -> ssl.SSLContext:
    ctx = client_context(pki.ca, check_hostname=False)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def test_tls12_refused_by_default(pki: Pki, strict: Stack) -> None:
    with pytest.raises(ssl.SSLError):
        starttls_raw(strict.port, _tls12_only(pki)).close()
    wait_for(lambda: "UNSUPPORTED_PROTOCOL" in strict.log_text(), timeout=5)


def test_tls12_allowed_with_tls_min_version(pki: Pki, legacy: Stack) -> None:
    with starttls_raw(legacy.port, _tls12_only(pki)) as sock:
        assert sock.version() == "TLSv1.2"
        assert ask(sock, "GET VAR u ups.load") == 'VAR u ups.load "7"'
    with starttls_raw(legacy.port, client_context(verify=False)) as sock:
        assert sock.version() == "TLSv1.3"


# -- REQUIRE_TLS ------------------------------------------------------------------------


def test_plain_client_against_required_tls(strict: Stack) -> None:
    refused = ["GET VAR u ups.status", "LIST UPS", "LIST VAR u", "USERNAME admin",
               "PASSWORD adminpw", "LOGIN u", "ATTACH u", "SET VAR u x 1", "INSTCMD u x",
               "PRIMARY u", "FSD u", "GET NUMLOGINS u", "LOGOUT", "BOGUS", "get var u ups.load"]
    replies = strict.talk([*refused, "VER", "HELP", "PROTVER", "NETVER"])
    assert replies[:len(refused)] == ["ERR TLS-NOT-ENABLED"] * len(refused)
    assert replies[len(refused):] == [
        "Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/",
        "Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS",
        "1.3", "1.3"]
    with Client("127.0.0.1", strict.port) as c:
        with pytest.raises(TlsNotEnabled) as exc:
            c.list_ups()
        assert exc.value.nut_text == "Server requires TLS (STARTTLS) first"
        c.starttls(client_context(verify=False))  # STARTTLS itself is allowed
        assert [u.name for u in c.list_ups()] == ["u"]
    log = strict.log_text()
    assert "Client 127.0.0.1 sent GET before STARTTLS: refused (REQUIRE_TLS)" in log
    assert "adminpw" not in log


def test_plain_text_pipelined_after_starttls_is_never_read_as_tls(strict: Stack) -> None:
    with socket.create_connection(("127.0.0.1", strict.port), timeout=5) as sock:
        sock.sendall(b"STARTTLS\nUSERNAME admin\nPASSWORD adminpw\nFSD u\n")
        got = b""
        while chunk := sock.recv(100):
            got += chunk
        assert got == b"OK STARTTLS\n"  # then closed: nothing after STARTTLS is executed
    wait_for(lambda: "sent data after STARTTLS before the TLS handshake" in strict.log_text(),
             timeout=5)
    assert strict.talk(["GET VAR u ups.status"], tls=True) == ['VAR u ups.status "OL"']


def test_pnut_upsc_modes(pki: Pki, strict: Stack) -> None:
    where = f"u@127.0.0.1:{strict.port}"
    checks = [
        ([], 0, "OL\n"),  # opportunistic, as NUT's upsc
        (["--cafile", str(pki.ca)], 0, "OL\n"),
        ([f"--pin={pki.server.fingerprint}"], 0, "OL\n"),
        (["--no-tls"], 1, ""),
        (["--cafile", str(pki.other_ca)], 1, ""),
    ]
    for flags, code, out in checks:
        done = run([*PNUT, "upsc", *flags, where, "ups.status"])
        assert (done.returncode, done.stdout) == (code, out), (flags, done.stderr)
    done = run([*PNUT, "upsc", "--no-tls", where, "ups.status"])
    assert done.stderr == "Error: Server requires TLS (STARTTLS) first\n"
    done = run([*PNUT, "upsc", "--cafile", str(pki.other_ca), where, "ups.status"])
    assert done.stderr.startswith("Error: SSL error: ") and "verify failed" in done.stderr


def test_required_tls_against_a_server_without_it(pki: Pki) -> None:
    st = _stack("")
    try:
        where = f"u@127.0.0.1:{st.port}"
        assert run([*PNUT, "upsc", where, "ups.load"]).stdout == "7\n"  # falls back
        done = run([*PNUT, "upsc", "--tls", where, "ups.load"])
        assert done.returncode == 1
        assert done.stderr == ("Error: SSL error: server refused STARTTLS: "
                               "ERR FEATURE-NOT-CONFIGURED\n")
        env = {"PNUT_TLS_PIN": pki.server.fingerprint, "PATH": "/usr/bin:/bin"}
        assert run([*PNUT, "upsc", where, "ups.load"], env=env).returncode == 1  # pin: TLS
    finally:
        st.close()


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(("conf", "line", "problem"), [
    # NUT's PEM build has no CERTREQUEST; without a CA pnut cannot check client
    # certificates either, so it asks for none.
    ("CERTFILE {cert}\nCERTREQUEST 2\n", 3, "CERTREQUEST REQUEST/REQUIRE needs CLIENTCAFILE "
     "(the CA that signs client certificates): client certificates are not asked for"),
    # pnut's own directives: NUT ignores these lines whatever they hold.
    ("TLS_MIN_VERSION 1.1\n", 2, "TLS_MIN_VERSION must be 1.2 or 1.3, got '1.1': the line is "
     "ignored"),
    ("LINE_TIMEOUT 0\n", 2, "LINE_TIMEOUT must be a positive number of seconds, got '0': the "
     "line is ignored"),
])
def test_tls_configuration_nut_ignores_starts_with_a_warning(pki: Pki, conf: str, line: int,
                                                              problem: str) -> None:
    """Issue 11: these lines used to stop upsd; NUT 2.8.0 starts with them, so
    pnut starts too, answers (over TLS where CERTFILE is set) and logs the line."""
    st = _stack(conf.format(cert=pki.server.cert))
    try:
        assert f"{st.dir}/upsd.conf:{line}: warning: {problem}" in st.log_text()
        with Client("127.0.0.1", st.port) as c:
            if "CERTFILE" in conf:  # TLS without a client certificate
                assert c.secure(verified(pki))
            assert c.get_var("u", "ups.load") == "7"
    finally:
        st.close()


def test_unloadable_clientcafile_with_request_asks_for_no_certificate(pki: Pki) -> None:
    """CLIENTCAFILE is pnut's own line, which NUT ignores: upsd starts, says why
    it asks for no client certificate (REQUEST: NUT's NSS build accepts one it
    cannot verify), and serves TLS clients without one."""
    st = _stack(f"CERTFILE {pki.server.cert}\nCERTREQUEST REQUEST\n"
                "CLIENTCAFILE /nonexistent/ca.pem\n")
    try:
        assert (f"{st.dir}/upsd.conf: CLIENTCAFILE /nonexistent/ca.pem: cannot load: No such "
                "file or directory - client certificates are not asked for") in st.log_text()
        with Client("127.0.0.1", st.port) as c:
            assert c.secure(verified(pki))
            assert c.get_var("u", "ups.load") == "7"
    finally:
        st.close()


def test_unloadable_clientcafile_with_require_fails_every_handshake(pki: Pki,
                                                                    tmp_path: Path) -> None:
    """CERTREQUEST REQUIRE with a CLIENTCAFILE that cannot be loaded: upsd starts
    (as NUT starts it) and says why, but never gives TLS without the client
    certificate the file asks for: none can verify, so every handshake fails,
    with or without a certificate, until a reload loads the CA.  Plain reads
    are answered (no REQUIRE_TLS), and check-config reports the same error."""
    ca = tmp_path / "clients-ca.pem"
    st = _stack(f"CERTFILE {pki.server.cert}\nCERTREQUEST REQUIRE\nCLIENTCAFILE {ca}\n")
    try:
        problem = (f"CLIENTCAFILE {ca}: cannot load: No such file or directory - CERTREQUEST "
                   "REQUIRE: no client certificate can be verified, so every STARTTLS "
                   "handshake fails until it loads (fix it and reload)")
        assert f"{st.dir}/upsd.conf: {problem}" in st.log_text()
        check = run([*PNUT, "check-config", "--confdir", str(st.dir)], env=st.env)
        assert f"{st.dir}/upsd.conf: error: {problem}" in check.stdout, check.stdout
        for certfile in (None, pki.client.cert):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                sock = starttls_raw(st.port, client_context(pki.ca, certfile=certfile))
                with sock:
                    sock.sendall(b"VER\n")
                    if sock.recv(100) == b"":
                        raise ConnectionError("closed")
        assert st.talk(["GET VAR u ups.load"]) == ['VAR u ups.load "7"']
        ca.write_bytes(pki.ca.read_bytes())
        st.procs[-1].send_signal(signal.SIGHUP)
        wait_for(lambda: "Configuration reloaded" in st.log_text(), timeout=10)
        with Client("127.0.0.1", st.port) as c:
            assert c.secure(verified(pki, certfile=str(pki.client.cert)))
            assert c.get_var("u", "ups.load") == "7"
    finally:
        st.close()


@pytest.mark.parametrize(("listen", "remote"), [
    ("127.0.0.1", False), ("::1", False), ("localhost", False), ("127.0.0.53", False),
    ("0.0.0.0", True), ("*", True), ("::", True), ("192.0.2.7", True),
])
def test_tls_is_offered_beyond_loopback_and_required_only_when_asked(listen: str,
                                                                      remote: bool) -> None:
    """Issue 11: a NUT configuration that NUT accepts starts.  REQUIRE_TLS used to
    default to on beyond loopback, which refused every NUT config with LISTEN 0.0.0.0
    and no certificate; now such a server offers STARTTLS with its own certificate
    and requires it only with REQUIRE_TLS yes."""
    conf = parse_upsd_conf(parse_text(f"LISTEN 127.0.0.1\nLISTEN {listen} 3493\n".encode()))
    conf.check()
    assert conf.tls_required is False
    assert conf.wants_own_certificate is remote
    conf.certfile = "server.pem"
    assert conf.wants_own_certificate is False
    explicit = parse_upsd_conf(parse_text(f"LISTEN {listen}\nREQUIRE_TLS yes\n".encode()))
    explicit.check()
    assert explicit.tls_required and explicit.wants_own_certificate


# -- the repeater driver --------------------------------------------------------------------


def test_repeater_over_tls_with_a_pin(pki: Pki, strict: Stack) -> None:
    down = Stack([Ups("u", "")], users=USERS)
    try:
        base = f"[u]\n  driver = dummy-ups\n  port = u@127.0.0.1:{strict.port}\n  tls = require\n"
        down.write("ups.conf", base + f"  certpin = {pki.expired.fingerprint}\n")
        with pytest.raises(RuntimeError, match="certificate pin mismatch"):
            down.start_driver(down.upses[0], "pnut")
        down.write("ups.conf", base + f"  certpin = {pki.server.fingerprint}\n"
                                      "  pollinterval = 0.5\n")
        down.start_driver(down.upses[0], "pnut")
        down.start_upsd("pnut")
        assert down.talk(["GET VAR u ups.load"]) == ['VAR u ups.load "7"']
        assert "repeater: connected to u@127.0.0.1:" in down.log_text()
        assert "(TLS)" in down.log_text()
    finally:
        down.close()


@pytest.mark.parametrize("loop", LOOPS)
def test_request_in_the_same_packet_as_the_handshakes_end(pki: Pki, loop: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS 1.3 lets a client send its first request right behind its Finished.

    upsd may then get the decrypted request before start_tls() has returned
    the new transport; the reply must still go out encrypted.
    """
    use_loop(monkeypatch, loop)
    st = _stack(f"CERTFILE {pki.server.cert}\n")
    try:
        sock = socket.create_connection(("127.0.0.1", st.port), timeout=5)
        with sock:
            sock.sendall(b"STARTTLS\n")
            assert sock.recv(64) == b"OK STARTTLS\n"
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = client_context(pki.ca).wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
            for _ in range(20):
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                    incoming.write(sock.recv(65536))
            tls.write(b"GET VAR u ups.load\n")
            sock.sendall(outgoing.read())  # Finished and the request: one packet
            reply = b""
            for _ in range(20):
                incoming.write(sock.recv(65536))
                try:
                    reply += tls.read(65536)
                except ssl.SSLWantReadError:
                    continue
                if reply.endswith(b"\n"):
                    break
            assert reply == b'VAR u ups.load "7"\n'
    finally:
        st.close()
