"""Server addresses as URLs: ``nut://[USER[:PASSWORD]@]HOST[:PORT]``.

Gateways that follow several servers (``pnut mqtt``, ``pnut web``) name
each with one URL.  A password may be written in the URL, but never has
to be: :func:`parse_server_url` takes a default user and password (from a
file or the environment, chosen by the command) for URLs without one.
The password is kept in a :class:`~pnut.client.session.Secret`, so a
``ServerUrl`` can be logged or printed safely.

:attr:`ServerUrl.key` is the server's name in topic paths and labels:
``host_port``, lower-cased, with every character outside
``[A-Za-z0-9.-]`` percent-encoded.  The port is always there and is all
digits after the last ``_``, so two servers never share a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pnut.client.session import Secret
from pnut.protocol.limits import DEFAULT_PORT

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def escape_part(text: str, safe: frozenset[str] = _SAFE) -> str:
    """Percent-encode every character outside ``safe`` (UTF-8 bytes, ``%xx``).

    Injective: ``%`` itself is never safe, so distinct texts stay distinct.
    """
    out = []
    for ch in text:
        if ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


@dataclass(frozen=True)
class ServerUrl:
    """One upsd to follow, with the credentials to use on it (if any)."""

    host: str
    port: int = DEFAULT_PORT
    user: str | None = None
    password: Secret | None = None

    @property
    def key(self) -> str:
        """The server's name in topics: ``host_port``, safely encoded."""
        return f"{escape_part(self.host.lower())}_{self.port}"

    @property
    def display(self) -> str:
        """``host:port`` for people (IPv6 in brackets); never a password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"nut://{user}{self.display}"


def parse_server_url(
    text: str, *, user: str | None = None, password: str | None = None
) -> ServerUrl:
    """Parse ``nut://[USER[:PASSWORD]@]HOST[:PORT]`` (``nut://`` may be left out).

    ``user``/``password`` fill in what the URL does not say.  Raises
    ValueError with a message that never contains the password.
    """
    raw = text if "://" in text else f"nut://{text}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError(f"bad server address {_hide(raw)!r}") from None
    if parts.scheme != "nut":
        raise ValueError(f"server URL must start with nut:// (got {parts.scheme}://)")
    if not parts.hostname:
        raise ValueError(f"no host in server address {_hide(raw)!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"server address {_hide(raw)!r} has a path or query")
    url_user = unquote(parts.username) if parts.username else None
    url_password = unquote(parts.password) if parts.password is not None else None
    final_user = url_user or user
    final_password = url_password if url_password is not None else password
    return ServerUrl(
        parts.hostname,
        port or DEFAULT_PORT,
        final_user,
        Secret(final_password) if final_password is not None and final_user else None,
    )


def _hide(url: str) -> str:
    """The URL with any password replaced, for error messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{hostpart}"
