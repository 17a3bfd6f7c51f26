"""upsd.conf and upsd.users readers: every directive, every form, every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnut.config.parser import ConfigError, parse_text
from pnut.config.passwords import hash_password
from pnut.config.upsd_conf import parse_upsd_conf
from pnut.config.users import parse_users


def upsd(text: str):  # type: ignore[no-untyped-def]
    return parse_upsd_conf(parse_text(text.encode(), "upsd.conf"), "upsd.conf")


def users(text: str):  # type: ignore[no-untyped-def]
    return parse_users(parse_text(text.encode(), "upsd.users"), "upsd.users")


def test_upsd_conf_defaults() -> None:
    conf = upsd("")
    assert conf.addresses() == [("127.0.0.1", 3493), ("::1", 3493)]
    assert (conf.maxage, conf.trackingdelay, conf.maxconn) == (15, 3600, None)
    assert conf.statepath is None and conf.datapath is None
    assert not conf.allow_no_device


def test_upsd_conf_every_directive() -> None:
    conf = upsd(
        "LISTEN 127.0.0.1 3500\nLISTEN ::1\nLISTEN * 3600\nLISTEN 127.0.0.1 3500\n"
        "MAXAGE 30\nMAXCONN 64\nSTATEPATH /tmp/st\nDATAPATH /tmp/data\nTRACKINGDELAY 10\n"
        "ALLOW_NO_DEVICE yes\nALLOW_NOT_ALL_LISTENERS 1\ndebug_min 3\nCERTFILE /c.pem\n"
        "CERTPATH /db\nCERTIDENT \"my cert\" pw\nCERTREQUEST REQUIRE\nDISABLE_WEAK_SSL on\n"
        "ACCEPT all\nREJECT none\nACL all 0.0.0.0/0\n"
    )
    assert conf.addresses() == [("127.0.0.1", 3500), ("::1", 3493), ("0.0.0.0", 3600),
                                ("::", 3600)]
    assert (conf.maxage, conf.maxconn, conf.trackingdelay, conf.debug_min) == (30, 64, 10, 3)
    assert (conf.statepath, conf.datapath) == ("/tmp/st", "/tmp/data")
    assert conf.allow_no_device and conf.allow_not_all_listeners and conf.disable_weak_ssl
    assert (conf.certfile, conf.certpath, conf.certident, conf.certrequest) == (
        "/c.pem", "/db", ("my cert", "pw"), 2)
    assert len(conf.warnings) == 3 and all("no longer supported" in w for w in conf.warnings)
    assert conf.warnings[0].startswith("upsd.conf:18: ACCEPT")


@pytest.mark.parametrize(("text", "line", "problem"), [
    # NUT's getaddrinfo fails on this, and NUT's upsd exits: so does pnut's.
    ("LISTEN 127.0.0.1 nosuchservice\n", 1,
     "port 'nosuchservice' is neither a number nor a known service name"),
])
def test_upsd_conf_errors_name_file_and_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        upsd(text)
    assert info.value.lineno == line
    assert problem in info.value.problem
    assert str(info.value).startswith(f"upsd.conf:{line}: ")


@pytest.mark.parametrize(("text", "warning", "attr", "value"), [
    # NUT: "invalid directive", line ignored
    ("MAXCONN\n", "MAXCONN needs a number of connections: the line is ignored", "maxconn", None),
    ("CERTIDENT onlyname\n", "CERTIDENT needs a certificate name and a password: the line is "
     "ignored", "certident", None),
    # NUT: "ALLOW_NO_DEVICE has non numeric and non boolean value", line ignored
    ("ALLOW_NO_DEVICE perhaps\n", "ALLOW_NO_DEVICE: expected a boolean (yes/no), got "
     "'perhaps': the line is ignored", "allow_no_device", False),
    ("ALLOW_NO_DEVICE 2x\n", None, "allow_no_device", True),  # atoi("2x") != 0, silently
    ("ALLOW_NOT_ALL_LISTENERS sometimes\n", "ALLOW_NOT_ALL_LISTENERS: expected a boolean "
     "(yes/no), got 'sometimes': the line is ignored", "allow_not_all_listeners", False),
    ("DISABLE_WEAK_SSL strongly\n", "DISABLE_WEAK_SSL: expected a boolean (yes/no), got "
     "'strongly': the line is ignored", "disable_weak_ssl", False),
    ("DEBUG_MIN lots\n", "DEBUG_MIN: expected a whole number, got 'lots': the line is ignored",
     "debug_min", None),
    # NUT reads LISTEN's address and port and nothing after them
    ("LISTEN 127.0.0.1 3500 extra words\n", "LISTEN takes an address and optionally a port: "
     "the words after the port are ignored, as NUT ignores them", "addresses",
     [("127.0.0.1", 3500)]),
    # NUT's getaddrinfo takes a service name for the port
    ("LISTEN 127.0.0.1 nut\n", "LISTEN port 'nut' is read as the service's port 3493, as NUT "
     "reads it", "addresses", [("127.0.0.1", 3493)]),
    # NUT listens on port 0 (random) or 99999 cut to 16 bits: pnut on the default
    ("LISTEN ::1 0\n", "LISTEN port 0 is not a port from 1 to 65535 (NUT would listen where no "
     "client looks): using 3493", "addresses", [("::1", 3493)]),
    ("LISTEN 127.0.0.1 99999\n", "LISTEN port 99999 is not a port from 1 to 65535 (NUT would "
     "listen where no client looks): using 3493", "addresses", [("127.0.0.1", 3493)]),
    # NUT's NSS build: atoi, and anything but 1 and 2 requests no certificate
    ("CERTREQUEST 7\n", "CERTREQUEST 7 is not 0, 1 or 2: read as 0 (NO), as NUT reads it",
     "certrequest", 0),
    # pnut's own directives: NUT ignores the whole line, whatever it holds
    ("HTTP_LISTEN 127.0.0.1 nosuchservice\n", "port 'nosuchservice' is neither a number nor "
     "a known service name: the line is ignored", "http_listen", []),
    ("TLS_MIN_VERSION 1.1\n", "TLS_MIN_VERSION must be 1.2 or 1.3, got '1.1': the line is "
     "ignored", "tls_min_version", "1.3"),
    ("REQUIRE_TLS please\n", "REQUIRE_TLS: expected a boolean (yes/no), got 'please': the line "
     "is ignored", "require_tls", None),
    ("MAX_LOGIN_FAILURES -1\n", "MAX_LOGIN_FAILURES: -1 is below the minimum 0: the line is "
     "ignored", "max_login_failures", 10),
    ("IDLE_TIMEOUT never\n", "IDLE_TIMEOUT: expected a number of seconds, got 'never': the "
     "line is ignored", "idle_timeout", 60.0),
])
def test_lines_nut_reads_past_start_with_a_warning(text: str, warning: str | None, attr: str,
                                                   value: object) -> None:
    """A upsd that refuses to start protects nobody: each of these lines NUT
    2.8.0 logs (or not) and carries on with, and so does pnut, reading it as NUT
    does, and says so with file and line (issue 11, compat.md)."""
    conf = upsd("# header\n" + text)
    assert conf.warnings == ([f"upsd.conf:2: {warning}"] if warning else [])
    got = getattr(conf, attr)
    assert (got() if callable(got) else got) == value


def test_numbers_nut_reads_leniently_start_with_a_warning() -> None:
    """NUT reads MAXAGE/MAXCONN/TRACKINGDELAY with atoi when they start with a
    digit and ignores them otherwise; a upsd that refuses to start protects
    nobody, so pnut starts too and says what it read (issue 11, compat.md)."""
    conf = upsd("MAXAGE 20\nMAXAGE abc\nMAXCONN 64conns\nTRACKINGDELAY 5\n"
                "TRACKINGDELAY -1\nMAXAGE 0\n")
    assert (conf.maxage, conf.maxconn, conf.trackingdelay) == (1, 64, 5)
    assert conf.warnings == [
        "upsd.conf:2: MAXAGE has a non-numeric value 'abc': the line is ignored",
        "upsd.conf:3: MAXCONN '64conns' is read as 64, as NUT reads it",
        "upsd.conf:5: TRACKINGDELAY has a non-numeric value '-1': the line is ignored",
        "upsd.conf:6: MAXAGE 0 is below the minimum 1: using 1",
    ]
    assert upsd("MAXAGE 15s\n").maxage == 15


def test_unknown_names_are_warnings_as_in_nut() -> None:
    """NUT logs an unknown directive or user setting and carries on; so does pnut,
    naming the line and the name it probably meant (issue 11)."""
    conf = upsd("# ok\nMAXAEG 5\nmaxage 7\n")
    assert conf.maxage == 15
    assert conf.warnings == [
        "upsd.conf:2: unknown directive 'MAXAEG' is ignored (did you mean 'MAXAGE'?)",
        "upsd.conf:3: unknown directive 'maxage' is ignored (directives are upper-case: MAXAGE)",
    ]
    u = users("[a]\n  password = x\n  colour = blue\n  pasword = y\n")
    assert u.warnings == ["upsd.users:3: unknown user setting 'colour' is ignored",
                          "upsd.users:4: unknown user setting 'pasword' is ignored "
                          "(did you mean 'password'?)"]
    assert u.check_action("a", "x", "login") is False and u.authenticate("a", "x") is not None


@pytest.mark.parametrize(("text", "warning"), [
    ("password = x\n[a]\n  password = p\n",
     "upsd.users:1: setting outside a [user] section, ignored (as NUT does)"),
    ("[a]\n  password = p\n  password = y\n",
     "upsd.users:3: user [a] has a second password, ignored (the first one counts, as in NUT)"),
    ("[a]\n  password = p\n  upsmon primay\n",
     "upsd.users:3: user [a]: unknown upsmon role 'primay' grants nothing "
     "(did you mean 'primary'?)"),
    ("[a]\n  password = p\n  actions SET\n",
     "upsd.users:3: expected 'key = value' or 'upsmon <role>', got 'actions SET': "
     "line ignored (as NUT does)"),
    ("[a]\n  password = p\n[a]\n  actions = SET\n",
     "upsd.users:3: user [a] is defined twice: this section is ignored"),
    # Issue 11, second round: these used to stop upsd; NUT reads past them.
    ("[a]\n  password = p extra\n",
     "upsd.users:2: user [a]: password has 2 words: the first one is the password, as in NUT "
     "(quote a password with spaces)"),
    ("[a] admin\n  password = p\n",
     "upsd.users:1: the words after [a] are ignored, as NUT ignores them"),
    # NUT would give [b c]'s settings to [a]: SET for a, or b's password ignored
    ("[a]\n  password = p\n[b c]\n  actions = SET\n",
     "upsd.users:3: malformed section header '[b c]': the lines up to the next section are "
     "ignored (NUT would give them to the section before)"),
    ("[a]\n  password = p\n[]\n  actions = SET\n",
     "upsd.users:3: empty section name []: the lines up to the next section are ignored"),
])
def test_user_lines_nut_ignores_are_warnings(text: str, warning: str) -> None:
    """Issue 11: upsd starts with what NUT starts with; the line is named, not obeyed."""
    u = users(text)
    assert u.warnings == [warning]
    assert u.authenticate("a", "p") is not None  # the first password counts
    assert not u.check_action("a", "p", "set") and not u.check_action("a", "p", "master")


def test_users_every_form() -> None:
    u = users(
        "[admin]\n  password = \"s3cret pw\"\n  actions = SET\n  actions = fsd\n"
        "  instcmds = ALL\n  upsmon primary\n"
        "[mon]\n  password=mon\n  upsmon = slave\n"
        "[multi]\n  password = x\n  actions = set FSD\n  instcmds = load.off Beeper.On\n"
        "  allowfrom = localhost\n"
        "[nopass]\n  actions = SET\n"
    )
    assert u.check_action("admin", "s3cret pw", "SET")
    assert u.check_action("admin", "s3cret pw", "fsd")
    assert u.check_action("admin", "s3cret pw", "login")
    assert u.check_action("admin", "s3cret pw", "MASTER")
    assert u.check_instcmd("admin", "s3cret pw", "anything.at.all")
    assert not u.check_action("admin", "s3cret PW", "SET")  # passwords are case-sensitive
    assert not u.check_action("Admin", "s3cret pw", "SET")  # so are user names
    assert u.check_action("mon", "mon", "login") and not u.check_action("mon", "mon", "fsd")
    assert u.check_action("multi", "x", "fsd") and u.check_action("multi", "x", "set")
    assert u.check_instcmd("multi", "x", "LOAD.OFF") and u.check_instcmd("multi", "x", "beeper.on")
    assert not u.check_instcmd("multi", "x", "load.on")
    assert not u.check_action("multi", "x", "login")
    assert not u.check_action("nopass", "", "set")  # no password: nothing allowed
    assert not u.check_action(None, None, "set")
    assert any("allowfrom is no longer used" in w for w in u.warnings)
    assert any("[nopass] has no password" in w for w in u.warnings)
    assert "s3cret" not in repr(u.users["admin"])


def test_users_hashed_password() -> None:
    stored = hash_password("hunter2")
    u = users(f'[h]\n  password = "{stored}"\n  actions = SET\n')
    assert u.check_action("h", "hunter2", "set")
    assert not u.check_action("h", "hunter3", "set")
    assert not u.check_action("h", stored, "set")


def test_malformed_hash_starts_with_a_warning() -> None:
    """NUT would compare it as plain text; pnut starts, and the user cannot log in."""
    u = users('[a]\n  password = "$argon2id$broken"\n')
    assert len(u.warnings) == 1 and u.warnings[0].startswith(
        "upsd.users:2: user [a]: malformed argon2 hash (")
    assert u.warnings[0].endswith("): this user cannot log in (NUT would take it as a "
                                  "plain-text password)")
    assert u.authenticate("a", "$argon2id$broken") is None




def test_certificate_times_read_as_the_ssl_module_reads_them() -> None:
    import ssl
    import time

    from pnut.server.config import cert_time

    # Every 9 days and 7 hours from 1950 to 2100 (UTCTime and GeneralizedTime),
    # leap days included, as OpenSSL prints them (day padded with a space).
    for when in range(-631152000, 4102444800, 9 * 86400 + 7 * 3600 + 61):
        text = time.strftime("%b %e %H:%M:%S %Y GMT", time.gmtime(when))
        assert cert_time(text) == ssl.cert_time_to_seconds(text) == when, text
    for bad in ("Feb 29 12:00:00 2024 UTC", "Foo  1 00:00:00 2024 GMT", "Jan 32 00:00:00 2024 GMT",
                "Jan  1 24:00:00 2024 GMT", "Jan  1 2024 GMT", ""):
        with pytest.raises(ValueError):
            cert_time(bad)


def test_tls_that_cannot_be_imported_is_told_by_type_not_by_wording(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """certfile_context signals TLS that cannot be imported at all (upsd -r inside
    its chroot: tests/server/test_upsd_lifecycle.py) with TLSNotImportable, and
    tls_unavailable's advice follows that signal, never the reason's words."""
    import sys

    from pnut.server.config import TLSNotImportable, certfile_context, tls_unavailable

    pem = tmp_path / "server.pem"
    conf = parse_upsd_conf(parse_text(f"LISTEN 127.0.0.1\nCERTFILE {pem}\n".encode()))
    fix = ("CERTFILE must be one PEM file with the certificate chain and the private key "
           "('pnut cert init' makes one)")
    with pytest.raises(ValueError) as missing:
        certfile_context(conf, str(pem))
    assert type(missing.value) is ValueError
    monkeypatch.setitem(sys.modules, "pnut.tls.contexts", None)  # as inside the chroot
    with pytest.raises(TLSNotImportable) as unimportable:
        certfile_context(conf, str(pem))
    why = str(unimportable.value)
    assert why == (f"CERTFILE {pem} cannot be loaded: import of pnut.tls.contexts halted; None "
                   "in sys.modules (upsd -r started without TLS and cannot import it inside "
                   "its chroot: restart upsd)")
    assert tls_unavailable(conf, why, False, file_at_fault=False) == (
        2, f"{why} - STARTTLS is not offered; the file is not at fault")
    # The same words with the file at fault: the file's advice.
    assert tls_unavailable(conf, why, False) == (2, f"{why} - STARTTLS is not offered; {fix}")
