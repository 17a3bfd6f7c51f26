"""How a client uses STARTTLS: off, opportunistic, or required; what it trusts.

NUT's clients try STARTTLS on every connection and carry on in clear text
when upsd refuses it (``UPSCLI_CONN_TRYSSL``); upsmon's FORCESSL makes TLS
mandatory, and CERTVERIFY checks the server's certificate against CERTPATH.
:class:`TlsSettings` holds one such policy; :meth:`Client.secure
<pnut.client.Client.secure>` / :meth:`AsyncClient.secure
<pnut.client.AsyncClient.secure>` apply it right after connecting.

Rules (NUT's, plus pins):

- ``TlsMode.TRY``: send STARTTLS; an ``ERR`` answer means clear text from
  then on.  Asking for verification (``verify``) or giving a ``pin`` makes
  TLS mandatory, as CERTVERIFY does in NUT: a server that cannot prove
  itself must not be talked to in clear text instead.
- ``TlsMode.REQUIRE``: a refused STARTTLS is an error (the connection is
  closed).
- Once the server said ``OK STARTTLS``, a failed handshake, certificate or
  pin always closes the connection with an error.
- ``verify`` checks the chain against ``cafile`` (a PEM file or a directory,
  NUT's CERTPATH; the system store when None) and the host name (or
  ``server_name``, NUT's CERTHOST certname).  Without ``verify`` the
  channel is encrypted but the server is not authenticated - what NUT's
  clients do by default - unless a SHA-256 ``pin`` of its certificate is
  given, which is checked either way.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from pnut.tls.contexts import client_context, normalize_pin


class TlsMode(Enum):
    OFF = "off"
    TRY = "try"
    REQUIRE = "require"


@dataclass(frozen=True)
class TlsSettings:
    """One STARTTLS policy (see the module text for the rules)."""

    mode: TlsMode = TlsMode.TRY
    verify: bool = False
    cafile: str | None = None
    pin: str | None = None
    #: Client certificate (PEM with key) for servers with CERTREQUEST.
    certfile: str | None = None
    #: Name expected in the server certificate (default: the host connected to).
    server_name: str | None = None

    @property
    def required(self) -> bool:
        """True when a clear-text connection must not be used."""
        return self.mode is TlsMode.REQUIRE or (
            self.mode is TlsMode.TRY and (self.verify or self.pin is not None))

    def context(self) -> ssl.SSLContext:
        """A client context for these settings (TLS 1.2 and later)."""
        return client_context(self.cafile, verify=self.verify, certfile=self.certfile)

    def check(self) -> None:
        """Raise ValueError for settings that cannot work (a malformed pin)."""
        if self.pin is not None:
            pin = normalize_pin(self.pin)
            if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
                raise ValueError("a certificate pin is the SHA-256 fingerprint: 64 hex digits "
                                 "(colons allowed), as 'pnut cert show' prints it")


#: Environment variables the command-line clients read (docs/client.md).
ENV_MODE, ENV_CAFILE, ENV_PIN, ENV_CERTFILE = (
    "PNUT_TLS", "PNUT_TLS_CAFILE", "PNUT_TLS_PIN", "PNUT_TLS_CERTFILE")


def settings_from(
    mode: str | None = None,
    cafile: str | None = None,
    pin: str | None = None,
    certfile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> TlsSettings:
    """Settings from command-line values, falling back to the environment.

    ``mode`` is ``off``, ``try`` or ``require`` (also ``no``/``yes``); a CA
    file turns verification on.  Raises ValueError with a one-line reason.
    """
    env = os.environ if environ is None else environ
    word = (mode or env.get(ENV_MODE) or "try").strip().lower()
    aliases = {"no": "off", "0": "off", "false": "off", "yes": "require", "1": "require",
               "true": "require", "on": "require", "auto": "try"}
    try:
        chosen = TlsMode(aliases.get(word, word))
    except ValueError:
        raise ValueError(f"TLS mode must be off, try or require, not {word!r}") from None
    cafile = cafile or env.get(ENV_CAFILE) or None
    settings = TlsSettings(
        mode=chosen,
        verify=cafile is not None,
        cafile=cafile,
        pin=pin or env.get(ENV_PIN) or None,
        certfile=certfile or env.get(ENV_CERTFILE) or None,
    )
    settings.check()
    return settings
