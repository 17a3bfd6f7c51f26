"""``upsname[@hostname[:port]]``: how users name a UPS on a server.

RFC 9271 and NUT's upsclient use the same grammar in upsc, upsmon.conf
MONITOR lines, upslog and friends; an IPv6 address goes in brackets
(``ups@[::1]:3493``).  Errors carry the sentence NUT's upsclient prints for
the same mistake, so the CLIs can reproduce it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pnut.protocol.limits import DEFAULT_HOST, DEFAULT_PORT


class UpsNameError(ValueError):
    """An unparsable UPS or host definition (message: NUT's wording)."""


@dataclass(frozen=True, slots=True)
class UpsName:
    """A parsed ``upsname@host:port``; ``str()`` writes it back."""

    name: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}@{host}:{self.port}"


def parse_hostport(text: str) -> tuple[str, int]:
    """Split ``host[:port]`` or ``[v6addr][:port]`` (NUT's upscli_splitaddr).

    >>> parse_hostport("[::1]:3494")
    ('::1', 3494)
    >>> parse_hostport("nas")
    ('nas', 3493)
    """
    if not text:
        raise UpsNameError("upscli_splitaddr: can't parse empty string")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise UpsNameError("upscli_splitaddr: missing closing bracket in [domain literal]")
        if not rest.startswith(":"):
            return _nonempty(host), DEFAULT_PORT
        port_text = rest[1:]
    else:
        host, sep, port_text = text.partition(":")
        if not sep:
            return _nonempty(host), DEFAULT_PORT
        if ":" in port_text:
            raise UpsNameError(
                "upscli_splitaddr: IPv6 addresses must be written in brackets: [address]:port"
            )
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UpsNameError("upscli_splitaddr: no port specified after ':' separator")
    return _nonempty(host), int(port_text)


def parse_upsname(text: str) -> UpsName:
    """Split ``upsname[@hostname[:port]]`` (NUT's upscli_splitname).

    >>> parse_upsname("myups@[::1]:3494")
    UpsName(name='myups', host='::1', port=3494)
    >>> parse_upsname("myups")
    UpsName(name='myups', host='localhost', port=3493)
    """
    if not text:
        raise UpsNameError("upscli_splitname: can't parse empty string")
    name, sep, rest = text.partition("@")
    if not name:
        raise UpsNameError("upscli_splitname: missing UPS name before '@'")
    if not sep:
        return UpsName(name)
    host, port = parse_hostport(rest)
    return UpsName(name, host, port)


def _nonempty(host: str) -> str:
    if not host:
        raise UpsNameError("upscli_splitaddr: can't parse empty string")
    return host
