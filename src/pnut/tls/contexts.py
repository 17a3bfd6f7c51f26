"""SSL contexts for upsd and its clients, with pnut's safe defaults.

TLS 1.3 is the minimum unless a config explicitly allows TLS 1.2; there is
no switch for anything older.  A client can trust a CA file or directory
(NUT's CERTPATH), the system store, or only a pinned SHA-256 fingerprint
of the server certificate (checked by :func:`check_pin` after the
handshake, because a self-signed pin needs no CA).
"""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(
    certfile: str | Path,
    *,
    allow_tls12: bool = False,
    client_ca: str | Path | None = None,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """Context for upsd; ``certfile`` holds certificate, chain and key (NUT's CERTFILE)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2 if allow_tls12 else ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(certfile))
    # No TLS 1.3 session tickets, as NUT 2.8.0's NSS upsd: NUT's clients never
    # resume (upsc is a new process each time, upsmon keeps its connection), and
    # two tickets cost a fifth of every handshake on both sides.
    ctx.num_tickets = 0
    if client_ca is not None:
        _load_trust(ctx, client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ValueError("requiring client certificates needs a CA to check them against")
    return ctx


def client_context(
    cafile: str | Path | None = None,
    *,
    verify: bool = True,
    check_hostname: bool = True,
    certfile: str | Path | None = None,
    allow_tls12: bool = True,
) -> ssl.SSLContext:
    """Context for clients; ``verify=False`` encrypts without authenticating."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2 if allow_tls12 else ssl.TLSVersion.TLSv1_3
    if verify:
        if cafile is not None:
            _load_trust(ctx, cafile)
        else:
            ctx.load_default_certs()
        ctx.check_hostname = check_hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if certfile is not None:
        ctx.load_cert_chain(str(certfile))
    return ctx


def _load_trust(ctx: ssl.SSLContext, where: str | Path) -> None:
    path = Path(where)
    if path.is_dir():
        ctx.load_verify_locations(capath=str(path))
    else:
        ctx.load_verify_locations(cafile=str(path))


def normalize_pin(pin: str) -> str:
    """Accept ``AA:BB:..`` or plain hex, any case; return plain lower hex."""
    return pin.replace(":", "").replace(" ", "").lower()


def peer_pin(sslobj: ssl.SSLObject | ssl.SSLSocket) -> str:
    der = sslobj.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError(0, "server sent no certificate")
    import hashlib  # lazily: upsd imports this module, and rarely pins

    return hashlib.sha256(der).hexdigest()


def check_pin(sslobj: ssl.SSLObject | ssl.SSLSocket, pin: str) -> None:
    """Raise ``ssl.SSLError`` unless the peer certificate has this SHA-256 pin."""
    got = peer_pin(sslobj)
    import hmac

    if not hmac.compare_digest(got, normalize_pin(pin)):
        raise ssl.SSLError(0, f"certificate pin mismatch: the server's is {pretty_pin(got)}")


def pretty_pin(pin: str) -> str:
    """``AA:BB:...``, the form ``pnut cert show`` prints."""
    hexpin = normalize_pin(pin).upper()
    return ":".join(hexpin[i:i + 2] for i in range(0, len(hexpin), 2))
