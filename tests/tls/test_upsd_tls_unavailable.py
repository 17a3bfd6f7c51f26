"""REQUIRE_TLS when upsd cannot offer TLS: it starts, and still refuses logins in clear text.

Without CERTFILE, ``REQUIRE_TLS yes`` makes upsd use its own kept
certificate (pnut.tls.autocert).  When that cannot be kept (here: its state
directory is a plain file), NUT would start the configuration without TLS,
and so does pnut - but a site that asked for REQUIRE_TLS would rather refuse
plain logins than take them: USERNAME, PASSWORD and every command that
needs a login get ``ERR TLS-NOT-ENABLED``, the read-only commands are
answered, and the reason is logged once with its file and line.  A reload
that can no longer keep the certificate keeps the one upsd runs with.

Real pnut upsd and driver processes on 127.0.0.1; the clients are raw
lines, pnut's library and CLI, and NUT's upsc and upscmd.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from pnut.client import Client, TlsNotEnabled
from support import (
    NUT_BINDIR,
    NUT_LIBDIR,
    PNUT,
    Stack,
    Ups,
    private_run_nut,
    run,
    use_nut,
    wait_for,
)

DEV = "ups.status: OL\nups.load: 7\nups.mfr: Acme\n"
USERS = "[admin]\n  password = adminpw\n  actions = SET FSD\n  instcmds = ALL\n" \
        "  upsmon primary\n"
#: Every command that carries a secret or needs a login, in each spelling.
REFUSED = ["USERNAME admin", "PASSWORD adminpw", "LOGIN u", "ATTACH u", "PRIMARY u",
           "MASTER u", "FSD u", "SET VAR u ups.mfr x", "SET TRACKING ON", "INSTCMD u load.off",
           "BOGUS"]
#: The read-only commands and their answers.
ANSWERED = [
    ("VER", "Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/"),
    ("NETVER", "1.3"),
    ("GET VAR u ups.load", 'VAR u ups.load "7"'),
    ("GET UPSDESC u", 'UPSDESC u "Unavailable"'),
    ("GET NUMLOGINS u", "NUMLOGINS u 0"),
    ("GET TRACKING", "OFF"),
    ("LIST UPS", "BEGIN LIST UPS"),
    ("LIST CLIENT u", "BEGIN LIST CLIENT u"),
    ("STARTTLS", "ERR FEATURE-NOT-CONFIGURED"),
]


def _unkeepable(st: Stack) -> None:
    """Make upsd's own certificate impossible to keep: a file where its directory goes."""
    lib = st.dir / "lib"
    if lib.is_dir():
        lib.rename(st.dir / "lib.before")
    lib.write_text("a file where the state directory should be")


def _reload(st: Stack, upsd: object, count: int) -> None:
    assert hasattr(upsd, "send_signal")
    upsd.send_signal(signal.SIGHUP)
    wait_for(lambda: st.log_text().count("Configuration reloaded") == count, timeout=10)


def _cannot_offer(st: Stack) -> str:
    return (f"{st.dir}/upsd.conf:2: REQUIRE_TLS is on, but STARTTLS cannot be offered: there "
            f"is no CERTFILE and upsd's own certificate cannot be kept in {st.dir}/lib: ")


#: The two ways upsd can lack a certificate: (upsd.conf after LISTEN, the line logged).
CAUSES = {
    "own certificate": ("REQUIRE_TLS yes\n", "there is no CERTFILE and upsd's own certificate "
                        "cannot be kept in {dir}/lib: Not a directory", "set CERTFILE, or make "
                        "that directory writable (docs/security.md)"),
    # Debian's NUT (an NSS build) ignores CERTFILE and starts; so does pnut
    "CERTFILE": ("REQUIRE_TLS yes\nCERTFILE {dir}/gone.pem\n", "CERTFILE {dir}/gone.pem cannot "
                 "be loaded: No such file or directory", "CERTFILE must be one PEM file with the "
                 "certificate chain and the private key ('pnut cert init' makes one)"),
}


@pytest.mark.parametrize("cause", CAUSES)
def test_required_tls_without_a_certificate_refuses_logins_and_answers_reads(cause: str
                                                                            ) -> None:
    conf, why, fix = CAUSES[cause]
    st = Stack([Ups("u", DEV)], users=USERS)
    try:
        st.write("upsd.conf", f"LISTEN 127.0.0.1 {st.port}\n" + conf.format(dir=st.dir))
        _unkeepable(st)
        st.start(upsd="pnut", driver="pnut")  # starts: NUT starts this configuration
        said = (f"{st.dir}/upsd.conf:2: REQUIRE_TLS is on, but STARTTLS cannot be offered: "
                f"{why.format(dir=st.dir)} - USERNAME, PASSWORD and every command that needs a "
                "login are refused (ERR TLS-NOT-ENABLED) until it can; read-only commands (GET, "
                f"LIST) are answered in clear text; {fix}\n")
        assert st.log_text().count(said) == 1

        replies = st.talk([*REFUSED, *(line for line, _ in ANSWERED), "LOGOUT"])
        assert replies[:len(REFUSED)] == ["ERR TLS-NOT-ENABLED"] * len(REFUSED)
        got = iter(replies[len(REFUSED):])
        for line, first in ANSWERED:
            answer = next(got)
            assert answer == first, line
            if line.startswith("LIST"):
                while answer.startswith(("BEGIN", "UPS ", "CLIENT ")):
                    answer = next(got)
                assert answer.startswith("END LIST"), line
        assert list(got) == ["OK Goodbye"]

        # pnut's library: USERNAME is refused, so the password is never sent
        with Client("127.0.0.1", st.port) as c:
            assert c.get_var("u", "ups.load") == "7"
            with pytest.raises(TlsNotEnabled):
                c.username("admin")
            assert [u.name for u in c.list_ups()] == ["u"]
        # pnut's upscmd tries STARTTLS, falls back to clear text, and is refused (NUT's words)
        done = run([*PNUT, "upscmd", "-u", "admin", "-p", "adminpw", f"u@127.0.0.1:{st.port}",
                    "load.off"], env=st.env)
        assert (done.returncode, done.stderr) == (
            1, "Unexpected response from upsd: ERR TLS-NOT-ENABLED\n")
        done = run([*PNUT, "upsc", f"u@127.0.0.1:{st.port}", "ups.load"], env=st.env)
        assert (done.returncode, done.stdout) == (0, "7\n")
        if use_nut():  # NUT's clients: upsc reads, upscmd cannot log in
            done = run([str(NUT_BINDIR / "upsc"), f"u@127.0.0.1:{st.port}", "ups.load"])
            assert (done.returncode, done.stdout) == (0, "7\n"), done.stderr
            done = run([str(NUT_BINDIR / "upscmd"), "-u", "admin", "-p", "adminpw",
                        f"u@127.0.0.1:{st.port}", "load.off"])
            assert (done.returncode, done.stderr) == (
                1, "Unexpected response from upsd: ERR TLS-NOT-ENABLED\n")

        log = st.log_text()
        assert "Client 127.0.0.1 sent USERNAME before STARTTLS: refused (REQUIRE_TLS, and " \
               "upsd has no certificate)" in log
        assert "adminpw" not in log
        assert "Instant command" not in log and "logged into" not in log
        assert log.count(said) == 1  # once, not per connection
    finally:
        st.close()


def test_upsmon_cannot_log_in_in_clear_text_and_keeps_polling() -> None:
    """pnut's upsmon stops at USERNAME and keeps polling the status, which needs
    no login; NUT's sends PASSWORD anyway (refused too: only FORCESSL on the
    client keeps a password off the wire)."""
    st = Stack([Ups("u", DEV)], users=USERS, upsd_conf="REQUIRE_TLS yes\n")
    try:
        _unkeepable(st)
        st.start(upsd="pnut", driver="pnut")
        impls = ["pnut", "nut"] if use_nut() else ["pnut"]
        for impl in impls:
            home = st.dir / f"upsmon-{impl}"
            home.mkdir()
            (home / "upsmon.conf").write_text(
                f"MONITOR u@127.0.0.1:{st.port} 1 admin adminpw primary\n"
                f"SHUTDOWNCMD /bin/true\nPOWERDOWNFLAG {home}/pdf\nPOLLFREQ 1\n")
            argv = ([*PNUT, "upsmon", "-F", "-p", "-D"] if impl == "pnut" else
                    private_run_nut([str(NUT_LIBDIR / "upsmon"), "-F", "-p", "-D"]))
            st.spawn(argv, f"upsmon-{impl}", env={"NUT_CONFPATH": str(home),
                                                  "NUT_ALTPIDPATH": str(home)})
        pnut_log, nut_log = st.dir / "upsmon-pnut.log", st.dir / "upsmon-nut.log"
        wait_for(lambda: "login failed: TLS-NOT-ENABLED" in pnut_log.read_text()
                 and "ups.status [OL]" in pnut_log.read_text(), timeout=15)
        if use_nut():
            wait_for(lambda: f"Set password on [u@127.0.0.1:{st.port}] failed - got "
                     "[ERR TLS-NOT-ENABLED]" in nut_log.read_text(), timeout=15)
        log = (st.dir / "upsd-pnut.log").read_text()
        assert "logged into" not in log and "adminpw" not in log
    finally:
        st.close()


def test_reloads_gain_the_certificate_and_never_lose_it() -> None:
    st = Stack([Ups("u", DEV)], users=USERS, upsd_conf="REQUIRE_TLS yes\n")
    try:
        _unkeepable(st)
        st.start(upsd="pnut", driver="pnut")
        upsd = st.procs[-1]
        assert st.talk(["GET VAR u ups.load", "USERNAME admin"]) == [
            'VAR u ups.load "7"', "ERR TLS-NOT-ENABLED"]

        # fixed (the state directory can be written), then reloaded: TLS, required
        (st.dir / "lib").unlink()
        _reload(st, upsd, 1)
        assert "STARTTLS is offered with upsd's own certificate" in st.log_text()
        assert st.talk(["GET VAR u ups.load"]) == ["ERR TLS-NOT-ENABLED"]
        assert st.talk(["USERNAME admin", "PASSWORD adminpw", "LOGIN u"], tls=True) == [
            "OK", "OK", "OK"]

        # broken again: the reload keeps the certificate upsd runs with
        _unkeepable(st)
        _reload(st, upsd, 2)
        assert (f"{st.dir}/upsd.conf:2: there is no CERTFILE and upsd's own certificate cannot "
                f"be kept in {st.dir}/lib: Not a directory - STARTTLS stays offered with the "
                "certificate loaded before; set CERTFILE, or make that directory writable"
                ) in st.log_text()
        assert st.talk(["GET VAR u ups.load", "USERNAME admin"]) == [
            "ERR TLS-NOT-ENABLED", "ERR TLS-NOT-ENABLED"]
        assert st.talk(["USERNAME admin", "PASSWORD adminpw", "GET VAR u ups.load"],
                       tls=True) == ["OK", "OK", 'VAR u ups.load "7"']
        # so does a CERTFILE that does not load, and the rest of the reload applies
        st.write("upsd.conf", f"LISTEN 127.0.0.1 {st.port}\nREQUIRE_TLS yes\n"
                              f"CERTFILE {st.dir}/gone.pem\nMAXAGE 30\n")
        _reload(st, upsd, 3)
        assert (f"{st.dir}/upsd.conf:3: CERTFILE {st.dir}/gone.pem cannot be loaded: No such "
                "file or directory - STARTTLS stays offered with the certificate loaded before"
                ) in st.log_text()
        assert st.talk(["USERNAME admin"]) == ["ERR TLS-NOT-ENABLED"]
        assert st.talk(["USERNAME admin", "PASSWORD adminpw"], tls=True) == ["OK", "OK"]
        assert st.log_text().count(_cannot_offer(st)) == 1  # only the start had no certificate
    finally:
        st.close()


def test_check_config_reports_required_tls_that_cannot_be_offered(tmp_path: Path) -> None:
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "upsd.conf").write_text("LISTEN 127.0.0.1\nREQUIRE_TLS yes\n")
    lib = tmp_path / "lib"
    env = {"PATH": "/usr/bin:/bin", "STATE_DIRECTORY": str(lib)}

    def check() -> list[str]:
        # -u root: upsd stays root, so replacing the certificate later is root's too
        done = run([*PNUT, "check-config", "--confdir", str(conf), "-u", "root"], env=env)
        assert done.returncode == (0 if done.stdout.endswith("upsd.conf\n") else 1)
        return done.stdout.splitlines()

    assert check() == [f"{conf}: no problems found in upsd.conf"]
    lib.write_text("not a directory")
    assert check() == [
        f"{conf}/upsd.conf:2: warning: REQUIRE_TLS is on, but STARTTLS cannot be offered: "
        f"there is no CERTFILE and upsd's own certificate cannot be kept in {lib}: Not a "
        "directory - USERNAME, PASSWORD and every command that needs a login are refused (ERR "
        "TLS-NOT-ENABLED) until it can; read-only commands (GET, LIST) are answered in clear "
        "text; set CERTFILE, or make that directory writable (docs/security.md)",
        f"{conf}: 0 error(s), 1 warning(s)"]
    # without REQUIRE_TLS, beyond loopback: clear text it is, and check-config says so
    (conf / "upsd.conf").write_text("LISTEN 0.0.0.0\nREQUIRE_TLS no\n")
    assert check() == [
        f"{conf}/upsd.conf:1: warning: there is no CERTFILE and upsd's own certificate cannot "
        f"be kept in {lib}: Not a directory - STARTTLS is not offered; set CERTFILE, or make "
        "that directory writable (docs/security.md)",
        f"{conf}: 0 error(s), 1 warning(s)"]
    # a CERTFILE that does not load: upsd starts without TLS, an error all the same
    (conf / "upsd.conf").write_text(f"MAXAGE 20\nCERTFILE {tmp_path}/none.pem\n")
    assert check() == [
        f"{conf}/upsd.conf:2: error: CERTFILE {tmp_path}/none.pem cannot be loaded: No such "
        "file or directory - STARTTLS is not offered; CERTFILE must be one PEM file with the "
        "certificate chain and the private key ('pnut cert init' makes one)",
        f"{conf}: 1 error(s), 0 warning(s)"]


@pytest.mark.skipif(os.geteuid() != 0, reason="checking as another user needs root (CI is root)")
def test_check_config_run_as_root_checks_the_renewal_as_the_run_as_user() -> None:
    """upsd makes its own certificate as root at start, but replaces it on a
    reload as the user it became: check-config, run as root, checks the state
    directory as that user (-u, default nut), in a child that becomes it."""
    base = Path(tempfile.mkdtemp(prefix="pnut-check-"))
    try:
        os.chmod(base, 0o755)  # the run-as user may pass through
        conf = base / "etc"
        conf.mkdir()
        (conf / "upsd.conf").write_text("LISTEN 127.0.0.1\nREQUIRE_TLS yes\n")
        lib = base / "lib"
        env = {"PATH": "/usr/bin:/bin", "STATE_DIRECTORY": str(lib)}

        def check(user: str) -> list[str]:
            done = run([*PNUT, "check-config", "--confdir", str(conf), "-u", user], env=env)
            return done.stdout.splitlines()[:-1]

        def cannot(why: str) -> list[str]:
            return [f"{conf}/upsd.conf:2: warning: upsd keeps its own certificate in {lib}, but "
                    f"once it runs as user nobody it cannot replace it there on a reload "
                    f"({why}), as it must 30 days before its end or when the file is gone: make "
                    "that directory writable by nobody (Debian's /var/lib/nut is root:nut "
                    "0770), or set CERTFILE"]

        assert check("nobody") == cannot("it does not exist yet, and upsd would make it as "
                                         "root, for root")
        lib.mkdir(mode=0o700)  # root's: root can keep the certificate, nobody cannot
        assert check("root") == []
        assert check("nobody") == cannot("Permission denied")
        os.chown(lib, pwd.getpwnam("nobody").pw_uid, -1)
        assert check("nobody") == []
        assert check("nosuchuser") == [
            "-u nosuchuser: error: user 'nosuchuser' not found (-u, 'user =' or RUN_AS_USER)"]
    finally:
        shutil.rmtree(base)
