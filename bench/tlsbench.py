"""TLS for the benchmark: certificates for both servers, and the TLS load modes.

pnut's upsd takes one PEM file (CERTFILE).  Debian's NUT 2.8.0 is an NSS
build: its upsd wants an NSS certificate database (CERTPATH) holding the
server certificate and key under a nickname (CERTIDENT name password).
Both get the same certificate from pnut's CA; the database is made with
certutil and pk12util (Debian's libnss3-tools) from a PKCS#12 file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    load_pem_private_key,
    pkcs12,
)

from pnut.tls.certs import init_pki

NICKNAME = "pnut bench server"
DB_PASSWORD = "benchdb"

#: (label, loadgen mode, connections) of the TLS rows.
SCENARIOS = [
    ("GET VAR over TLS, 16 conns", "tlsget", 16),
    ("TLS handshake+VER+LOGOUT, 16 conns", "tlsconnect", 16),
]


def upsd_conf(impl: str, where: Path) -> tuple[str | None, str]:
    """upsd.conf lines enabling STARTTLS for ``impl``, or None and the reason."""
    pki = where / "pki"
    if not (pki / "server.pem").exists():
        init_pki(pki, ["127.0.0.1", "localhost"])
    if impl == "pnut":
        return f"CERTFILE {pki / 'server.pem'}\n", ""
    missing = [tool for tool in ("certutil", "pk12util") if shutil.which(tool) is None]
    if missing:
        return None, f"NUT's NSS upsd needs {' and '.join(missing)} (apt-get install libnss3-tools)"
    db = pki / "nssdb"
    if not db.exists():
        _nss_db(pki, db)
    return f'CERTPATH {db}\nCERTIDENT "{NICKNAME}" "{DB_PASSWORD}"\n', ""


def _nss_db(pki: Path, db: Path) -> None:
    pem = (pki / "server.pem").read_bytes()
    chain = x509.load_pem_x509_certificates(pem)
    key = load_pem_private_key(pem, None)
    p12 = pkcs12.serialize_key_and_certificates(
        NICKNAME.encode(), key, chain[0], chain[1:],  # type: ignore[arg-type]
        BestAvailableEncryption(b"p12"))
    (pki / "server.p12").write_bytes(p12)
    pwfile = pki / "dbpw"
    pwfile.write_text(DB_PASSWORD + "\n")
    db.mkdir()
    for argv in (["certutil", "-N", "-d", f"sql:{db}", "-f", str(pwfile)],
                 ["pk12util", "-i", str(pki / "server.p12"), "-d", f"sql:{db}", "-W", "p12",
                  "-k", str(pwfile)]):
        subprocess.run(argv, check=True, capture_output=True)
