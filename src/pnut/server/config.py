"""upsd's configuration: upsd.conf, ups.conf and upsd.users in one :class:`Config`.

:func:`load_config` reads every file upsd needs and builds the server TLS
context (CERTFILE or upsd's own certificate, CLIENTCAFILE, CERTREQUEST),
raising :class:`~pnut.config.parser.ConfigError` naming file and line; the
daemon applies a new :class:`Config` only once it loaded completely, so a
bad edit never takes a running upsd down.  TLS that cannot be offered is
not such an error (Debian's NUT starts without it): it is logged once, and
a reload keeps the certificate upsd runs with.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pnut.config.cmdvartab import Descriptions
from pnut.config.ups_conf import UpsConf, load_ups_conf
from pnut.config.upsd_conf import UpsdConf, load_upsd_conf
from pnut.config.users import Users, load_users

if TYPE_CHECKING:  # ssl (~4.5 MB resident) is loaded only when upsd has a certificate
    import ssl

log = logging.getLogger("pnut.upsd")

#: What TLS imports after start (the first STARTTLS, a reload's certificate and its
#: expiry date): imported before ``upsd -r`` chroots, where Python's files are gone.
TLS_LATE_IMPORTS = ("ssl", "calendar", "_strptime", "pnut.tls.contexts", "pnut.server.tlslayer")
_IN_CHROOT = "(upsd -r started without TLS and cannot import it inside its chroot: restart upsd)"

#: A certificate expiring sooner than this is worth a warning at start-up.
_EXPIRY_WARNING = 30 * 86400


class StartupError(Exception):
    """A reason upsd cannot start, worded for one line on stderr."""


class TLSNotImportable(ValueError):
    """:func:`certfile_context`: ssl or pnut.tls cannot be imported (``upsd -r``
    that started without TLS, inside its chroot); the file is not at fault."""


@dataclass
class UpsDef:
    name: str
    socket: str
    desc: str | None


@dataclass
class Config:
    upsd: UpsdConf
    upses: list[UpsDef]
    users: Users
    statepath: Path
    descriptions: Descriptions
    #: Server TLS context when CERTFILE is set (STARTTLS is refused without).
    tls: ssl.SSLContext | None = None


def _tls_context(conf: UpsdConf, running: ssl.SSLContext | None = None
                 ) -> ssl.SSLContext | None:
    """The server context of upsd.conf; ``running``: the one a reload replaces.

    When upsd.conf asks for TLS that cannot be offered (a CERTFILE that does
    not load, or upsd's own certificate that cannot be kept), upsd still
    starts - Debian's NUT ignores CERTFILE, and starts without TLS - and says
    so in one line (:func:`tls_unavailable`): a reload keeps the context it
    runs with, a start offers no STARTTLS, and with REQUIRE_TLS the session
    still refuses logins in clear text (pnut.server.session)."""
    certfile = conf.certfile
    if certfile is None:
        if conf.certpath is not None or conf.certident is not None:
            log.warning("%s: CERTPATH/CERTIDENT are settings of NUT's NSS builds; pnut needs "
                        "CERTFILE (one PEM file with certificate chain and key)", conf.path)
        if not conf.wants_own_certificate:
            return None
        return _own_context(conf, running)
    try:
        context = certfile_context(conf, certfile)
    except ValueError as exc:
        line, text = tls_unavailable(conf, str(exc), running is not None,
                                     file_at_fault=not isinstance(exc, TLSNotImportable))
        (log.warning if running is not None else log.error)("%s:%d: %s", conf.path, line, text)
        return running
    _client_certificates(conf, context)
    _warn_expiry(certfile)
    return context


def certfile_context(conf: UpsdConf, certfile: str) -> ssl.SSLContext:
    """The server context of CERTFILE; ValueError saying why it cannot be loaded
    (:class:`TLSNotImportable` when TLS itself cannot be imported)."""
    try:
        import ssl

        from pnut.tls.contexts import server_context
    except ImportError as exc:
        raise TLSNotImportable(f"CERTFILE {certfile} cannot be loaded: {exc} {_IN_CHROOT}"
                               ) from None

    try:
        return server_context(certfile, allow_tls12=conf.tls_min_version == "1.2")
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(f"CERTFILE {certfile} cannot be loaded: {reason}") from None


def tls_unavailable(conf: UpsdConf, why: str, running: bool, *, file_at_fault: bool = True
                    ) -> tuple[int, str]:
    """The line of upsd.conf and the text for TLS it asks for but cannot have.

    ``why``: the CERTFILE or own certificate's failure; ``running``: a reload
    that keeps the context upsd runs with; ``file_at_fault`` False: TLS itself
    cannot be imported (:class:`TLSNotImportable`), so fixing the file will not
    help.  What upsd logs and what ``pnut check-config`` reports."""
    if conf.certfile is not None:
        line = conf.certfile_line
        fix = ("CERTFILE must be one PEM file with the certificate chain and the private key "
               "('pnut cert init' makes one)")
    else:
        remote = conf.remote_listen()
        line = conf.require_tls_line if remote is None else remote.lineno
        fix = "set CERTFILE, or make that directory writable (docs/security.md)"
    if not file_at_fault:
        fix = "the file is not at fault"
    if running:
        return line, f"{why} - STARTTLS stays offered with the certificate loaded before; {fix}"
    if conf.tls_required:
        return conf.require_tls_line, (
            f"REQUIRE_TLS is on, but STARTTLS cannot be offered: {why} - USERNAME, PASSWORD "
            "and every command that needs a login are refused (ERR TLS-NOT-ENABLED) until it "
            f"can; read-only commands (GET, LIST) are answered in clear text; {fix}")
    return line, f"{why} - STARTTLS is not offered; {fix}"


def _client_certificates(conf: UpsdConf, context: ssl.SSLContext) -> None:
    """CERTREQUEST with CLIENTCAFILE: ask for (or require) client certificates."""
    problem = client_certificates(conf, context)
    if problem is not None:
        level, text = problem
        (log.error if level == "error" else log.warning)("%s: %s", conf.path, text)


def client_certificates(conf: UpsdConf, context: ssl.SSLContext) -> tuple[str, str] | None:
    """Apply CERTREQUEST and CLIENTCAFILE to ``context``; the problem, if any, as
    (level, text) for upsd's log and ``pnut check-config``.

    A CLIENTCAFILE that cannot be loaded (pnut's own line, which NUT ignores)
    never stops upsd.  With REQUEST no certificate is asked for, as NUT's NSS
    build accepts a certificate it cannot verify.  With REQUIRE certificates
    are still required, against an empty trust store: no client certificate
    can verify, so every STARTTLS handshake fails (logged) until it loads -
    never TLS without the certificate the file asks for (NUT's NSS build,
    whose trust is its certificate database, offers no TLS at all when that
    database cannot be opened)."""
    import ssl

    if conf.certrequest and conf.clientcafile is not None:
        try:
            trust = Path(conf.clientcafile)
            if trust.is_dir():
                context.load_verify_locations(capath=str(trust))
            else:
                context.load_verify_locations(cafile=str(trust))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            if conf.certrequest == 2:
                context.verify_mode = ssl.CERT_REQUIRED
                return "error", (
                    f"CLIENTCAFILE {conf.clientcafile}: cannot load: {reason} - CERTREQUEST "
                    "REQUIRE: no client certificate can be verified, so every STARTTLS "
                    "handshake fails until it loads (fix it and reload)")
            return "warning", (f"CLIENTCAFILE {conf.clientcafile}: cannot load: {reason} - "
                               "client certificates are not asked for")
        context.verify_mode = (ssl.CERT_REQUIRED if conf.certrequest == 2
                               else ssl.CERT_OPTIONAL)
    elif conf.clientcafile is not None:
        return "warning", ("CLIENTCAFILE is set but CERTREQUEST is not: client certificates "
                           "are not asked for")
    return None


def why_no_https(conf: UpsdConf) -> str:
    """Why HTTP_LISTEN serves plain HTTP, and what to do (upsd has no TLS context)."""
    if conf.certfile is None:
        if conf.wants_own_certificate:
            return (f"{own_certificate_problem('see the error above')}; set CERTFILE, then "
                    "reload, to serve HTTPS")
        return "set CERTFILE, then reload, to serve HTTPS"
    try:
        certfile_context(conf, conf.certfile)
    except ValueError as exc:
        return f"{exc}; fix it, then reload, to serve HTTPS"
    return f"CERTFILE {conf.certfile} did not load at start; reload to serve HTTPS"


def own_certificate_problem(reason: str) -> str:
    from pnut.tls import autocert

    return (f"there is no CERTFILE and upsd's own certificate cannot be kept in "
            f"{autocert.state_dir()}: {reason}")


def _own_context(conf: UpsdConf, running: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """A context with upsd's kept self-signed certificate (pnut.tls.autocert), or
    ``running`` when it cannot be kept or loaded (see :func:`_tls_context`)."""
    try:
        import ssl

        from pnut.tls import autocert
        from pnut.tls.contexts import server_context
    except ImportError as exc:
        line, text = tls_unavailable(conf, f"{exc} {_IN_CHROOT}", running is not None,
                                     file_at_fault=False)
        log.warning("%s:%d: %s", conf.path, line, text)
        return running

    hosts = [item.host for item in conf.listen]
    try:
        path, pin, made = autocert.ensure(hosts)
        context = server_context(path, allow_tls12=conf.tls_min_version == "1.2")
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        line, text = tls_unavailable(conf, own_certificate_problem(reason),
                                     running is not None)
        (log.warning if running is not None else log.error)("%s:%d: %s", conf.path, line, text)
        return running
    if not _ANNOUNCED:
        _ANNOUNCED.append(pin)
        remote = conf.remote_listen()
        why = (f"LISTEN {remote.host} ({conf.path}:{remote.lineno}) reaches other hosts"
               if remote is not None else f"REQUIRE_TLS is on ({conf.path})")
        tail = ("clients must use STARTTLS" if conf.tls_required else
                "clients that do not use STARTTLS send passwords in clear text - add "
                "'REQUIRE_TLS yes' to upsd.conf to refuse them (docs/security.md)")
        log.warning("%s and there is no CERTFILE: STARTTLS is offered with upsd's own "
                    "certificate %s%s (sha256 pin %s); %s", why, path,
                    " (new)" if made else "", pin, tail)
    _client_certificates(conf, context)
    _warn_expiry(str(path))
    return context


#: The pin of the certificate announced by _own_context (once per process).
_ANNOUNCED: list[str] = []


def _not_after(certfile: str) -> float | None:
    """When the first certificate of ``certfile`` expires (epoch seconds), or None.

    Read with the ssl module's own decoder, so that a running upsd does not
    load the cryptography package (about 10 MB resident) for one date.
    """
    import ssl

    decode = getattr(ssl._ssl, "_test_decode_cert", None)  # type: ignore[attr-defined]
    if decode is not None:
        try:
            return float(cert_time(decode(certfile)["notAfter"]))
        except (OSError, ssl.SSLError, KeyError, ValueError):
            return None
    from pnut.tls.certs import load_first_cert  # a Python without that decoder

    try:
        return load_first_cert(Path(certfile)).not_valid_after_utc.timestamp()
    except (OSError, ValueError):
        return None


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def cert_time(text: str) -> int:
    """Epoch seconds of a certificate time as the ssl module prints it
    (``"Jan  5 09:34:43 2018 GMT"``): ``ssl.cert_time_to_seconds`` without its
    imports (calendar, datetime and _strptime: 0.9 MB of upsd's memory).

    Raises ValueError for any other text."""
    month, day, clock, year, zone = text.split()
    hour, minute, second = (int(part) for part in clock.split(":"))
    m, d, y = _MONTHS.index(month) + 1, int(day), int(year)
    if zone != "GMT" or not (1 <= d <= 31 and 0 <= hour < 24 and 0 <= minute < 60
                             and 0 <= second <= 60):
        raise ValueError(f"not a certificate time: {text!r}")
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + hour * 3600 + minute * 60 + second


def _warn_expiry(certfile: str) -> None:
    """A certificate that expired (or soon will) makes every handshake fail: say so."""
    not_after = _not_after(certfile)
    if not_after is None:
        return
    left = not_after - time.time()
    day = time.strftime("%Y-%m-%d", time.gmtime(not_after))
    if left <= 0:
        log.warning("CERTFILE %s expired on %s: clients that check it will refuse it",
                    certfile, day)
    elif left < _EXPIRY_WARNING:
        log.warning("CERTFILE %s expires on %s", certfile, day)


def load_config(confdir: Path, statepath: str | None = None,
                running_tls: ssl.SSLContext | None = None) -> Config:
    """Read every file upsd needs; raise ConfigError naming file:line.

    ``running_tls`` (a reload): the server context kept when upsd's own
    certificate can no longer be kept or loaded."""
    upsd = load_upsd_conf(confdir)
    ups_conf: UpsConf = load_ups_conf(confdir)
    upses: list[UpsDef] = []
    for sec in ups_conf.upses:
        if sec.driver is None or sec.port is None:
            log.warning("Warning: ignoring incomplete configuration for UPS [%s] "
                        "(%s:%d: needs driver and port)", sec.name, ups_conf.path, sec.lineno)
            continue
        upses.append(UpsDef(sec.name, f"{sec.driver}-{sec.name}", sec.desc))
    if not (confdir / "upsd.users").exists():
        log.warning("%s not found - no user may log in or change anything",
                    confdir / "upsd.users")
        users = Users(str(confdir / "upsd.users"))
    else:
        users = load_users(confdir)
    from pnut.config.problems import Problem, upsd_conf_problems, users_problems

    # The checks of 'pnut check-config': logged, never fatal (NUT starts with them).
    for problem in (*upsd_conf_problems(upsd), *map(Problem.from_warning, ups_conf.warnings),
                    *users_problems(users)):
        log.warning("%s", problem)
    return Config(
        upsd=upsd,
        upses=upses,
        users=users,
        statepath=ups_conf.statepath(statepath or upsd.statepath),
        descriptions=Descriptions.load(upsd.datapath),
        tls=_tls_context(upsd, running_tls),
    )


def allow_no_device(conf: UpsdConf) -> bool:
    env = os.environ.get("ALLOW_NO_DEVICE")
    if env:
        low = env.lower()
        if low.startswith(("true", "yes", "on", "1")):
            return True
        if low.startswith(("false", "no", "off", "0")):
            return False
    return conf.allow_no_device
