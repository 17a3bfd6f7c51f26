"""upsd's own certificate, so that an upgrade from NUT never breaks and never
leaves STARTTLS off (issue 11, item 5).

When upsd.conf has no CERTFILE and upsd listens beyond loopback (or says
``REQUIRE_TLS yes``), upsd offers STARTTLS with a self-signed certificate
that it makes once and keeps in its state directory: every client that
tries STARTTLS (NUT's upsc and upsmon do) is then encrypted with no
configuration, and the certificate's SHA-256 pin stays the same across
restarts so clients can pin it (``CERTPIN`` in upsmon.conf, ``--pin``).

The state directory is systemd's ``$STATE_DIRECTORY`` when set (the units
set ``StateDirectory=nut``), else ``/var/lib/nut`` (the home of Debian's
``nut`` user; it survives reboots, unlike the socket directory /run/nut).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from pnut.process import Account, drop_privileges

if TYPE_CHECKING:
    from cryptography import x509

#: The file upsd makes and keeps: certificate followed by its private key.
FILENAME = "upsd-selfsigned.pem"
#: Where the certificate lives when systemd does not say.
DEFAULT_STATE_DIR = "/var/lib/nut"
#: A certificate closer than this to its end is replaced at start.
RENEW_BEFORE = dt.timedelta(days=30)
VALID_DAYS = 3650


def state_dir() -> Path:
    """``$STATE_DIRECTORY`` (first entry) or NUT's Debian home, /var/lib/nut."""
    env = os.environ.get("STATE_DIRECTORY", "")
    return Path(env.split(":", 1)[0] or DEFAULT_STATE_DIR)


def ensure(hosts: list[str], directory: Path | None = None) -> tuple[Path, str, bool]:
    """The kept certificate (made when missing or ending): (path, sha256 pin, made now)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from pnut.tls.certs import _alt_names, _key_pem, fingerprint

    path = (directory or state_dir()) / FILENAME
    current = _current(path)
    if current is not None:
        return path, fingerprint(current), False
    blocked = _not_a_directory(path.parent)  # else mkdir's "File exists" says little
    if blocked is not None:
        raise blocked
    now = dt.datetime.now(dt.UTC)
    names = sorted({*hosts, socket.gethostname(), "localhost", "127.0.0.1", "::1"} - {"*"})
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pnut upsd"),
                      x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname())])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .sign(key, hashes.SHA256())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM) + _key_pem(key))
    os.replace(tmp, path)
    return path, fingerprint(cert), True


def _current(path: Path) -> x509.Certificate | None:
    """The kept certificate when it loads with its key and is not near its end."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
        current = x509.load_pem_x509_certificate(data)
        serialization.load_pem_private_key(data, None)
    except (OSError, ValueError):
        return None
    if current.not_valid_after_utc - dt.datetime.now(dt.UTC) <= RENEW_BEFORE:
        return None
    return current


def _existing(directory: Path) -> Path:
    """``directory`` or its nearest ancestor that exists."""
    here = directory
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def _not_a_directory(directory: Path) -> OSError | None:
    """The error of making ``directory`` when something else is in its way, or None."""
    here = _existing(directory)
    if here.is_dir():
        return None
    return NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(here))


def problem(directory: Path | None = None) -> str | None:
    """Why :func:`ensure` could not keep the certificate now (None: it could).

    Writes nothing (``pnut check-config``); the answer holds for the user
    asking, so run it as the user upsd starts as (root)."""
    path = (directory or state_dir()) / FILENAME
    if _current(path) is not None:
        return None
    blocked = _not_a_directory(path.parent)
    if blocked is not None:
        return blocked.strerror
    if not os.access(_existing(path.parent), os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    return None


def renewal_problem(account: Account | None, directory: Path | None = None) -> str | None:
    """Why upsd, once it runs as ``account``, could not replace the certificate
    on a reload (30 days before its end, or when the file is gone); None: it
    could, or this cannot be told (not asked by root, or upsd stays root).

    upsd makes the certificate as root at start (:func:`problem`), but
    reloads after giving up root.  Checked in a child that becomes
    ``account``, so its groups and ACLs count as they will."""
    if account is None or os.geteuid() != 0:
        return None
    where = directory or state_dir()
    if not where.is_dir():
        return "it does not exist yet, and upsd would make it as root, for root"
    if _access_as(account, where, os.W_OK | os.X_OK):
        return None
    return os.strerror(errno.EACCES)


def _access_as(account: Account, path: Path, mode: int) -> bool:
    """``os.access`` as ``account`` (root only): in a forked child that becomes it."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            drop_privileges(account, ())
            code = 0 if os.access(path, mode) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
