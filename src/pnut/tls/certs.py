"""Certificates for STARTTLS, made with the ``cryptography`` library.

RFC 9271 §4.2.12.1 argues for locally generated keys: a UPS has a handful
of known clients, so a private CA beats a public PKI.  :func:`init_pki`
makes that CA and a server certificate in one call; :func:`issue` adds
client certificates; :func:`fingerprint` gives the SHA-256 pin that a
client can check instead of (or besides) the CA.

Files written: ``ca.pem`` (CA certificate, give it to clients),
``ca.key`` (CA key, keep it private), ``<name>.pem`` (certificate, its
chain and its private key in one file — the form NUT's OpenSSL build
wants for CERTFILE).  Keys are ECDSA P-256; modes are 0600 for keys.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 825


@dataclass(frozen=True)
class Issued:
    cert: Path
    fingerprint: str


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pnut"),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ])


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def make_ca(directory: Path, common: str = "pnut local CA", days: int = 3650) -> Path:
    """A self-signed CA: ``ca.pem`` and ``ca.key`` in ``directory``."""
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common)).issuer_name(_name(common))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory / "ca.key", _key_pem(key), private=True)
    _write(directory / "ca.pem", cert.public_bytes(serialization.Encoding.PEM), private=False)
    return directory / "ca.pem"


def issue(
    directory: Path,
    name: str,
    hosts: list[str] | None = None,
    *,
    client: bool = False,
    days: int = DEFAULT_DAYS,
    not_before: dt.datetime | None = None,
) -> Issued:
    """A certificate signed by the CA in ``directory``, written to ``<name>.pem``.

    ``hosts`` become subjectAltNames (DNS names or IP addresses) of a server
    certificate; ``client`` makes a client-authentication certificate.
    ``not_before`` lets tests make certificates that are expired or not yet
    valid.
    """
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{directory / 'ca.key'}: not an EC key made by pnut cert")
    key = _key()
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    names = _alt_names(hosts or ([] if client else ["localhost", "127.0.0.1", "::1"]))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    pem = (cert.public_bytes(serialization.Encoding.PEM)
           + ca_cert.public_bytes(serialization.Encoding.PEM) + _key_pem(key))
    path = directory / f"{name}.pem"
    _write(path, pem, private=True)
    return Issued(path, fingerprint(cert))


def init_pki(directory: Path, hosts: list[str]) -> Issued:
    """CA plus a server certificate for ``hosts``; keeps an existing CA."""
    if not (directory / "ca.pem").exists():
        make_ca(directory)
    return issue(directory, "server", hosts)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over the DER certificate, as colon-separated upper-case hex."""
    digest = cert.fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def load_first_cert(path: Path) -> x509.Certificate:
    """The first certificate in a PEM file (the leaf of a CERTFILE)."""
    certs = x509.load_pem_x509_certificates(path.read_bytes())
    if not certs:
        raise ValueError(f"{path}: no certificate found")
    return certs[0]


def describe(path: Path) -> str:
    """A human summary of a certificate file, with its pin."""
    cert = load_first_cert(path)
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = ", ".join(str(n.value) for n in alt)
    except x509.ExtensionNotFound:
        names = "-"
    return (
        f"subject:     {cert.subject.rfc4514_string()}\n"
        f"issuer:      {cert.issuer.rfc4514_string()}\n"
        f"valid:       {cert.not_valid_before_utc:%Y-%m-%d %H:%M} .. "
        f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC\n"
        f"names:       {names}\n"
        f"sha256 pin:  {fingerprint(cert)}\n"
    )
