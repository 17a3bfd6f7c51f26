"""Names in topics: every server and UPS gets its own, safely encoded path part.

``<server>`` is ``host_port``: the host lower-cased, every character outside
``[A-Za-z0-9.-]`` percent-encoded (``[::1]:3493`` -> ``%3a%3a1_3493``).
The port is always there and is all digits after the last ``_``, so two
servers never share a key.  UPS, variable and command names are encoded
the same way (``_`` allowed), so no name can inject ``/``, ``+`` or ``#``.
"""

from __future__ import annotations

from typing import Final

from pnut.poller.core import ServerSpec

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
HOST_SAFE: Final = frozenset(_ALNUM + ".-")
NAME_SAFE: Final = frozenset(_ALNUM + ".-_")


def escape_part(text: str, safe: frozenset[str] = HOST_SAFE) -> str:
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


def server_key(spec: ServerSpec) -> str:
    """The server's name in topics: ``host_port``, safely encoded."""
    return f"{escape_part(spec.host.lower())}_{spec.port}"


def ups_part(name: str) -> str:
    return escape_part(name, NAME_SAFE)
