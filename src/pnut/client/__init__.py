"""Clients for upsd (RFC 9271): a blocking :class:`Client` and an asyncio
:class:`AsyncClient`, both thin adapters over one sans-IO core
(:class:`~pnut.client.core.ClientConnection`).

>>> from pnut.client import Client                  # doctest: +SKIP
>>> with Client("127.0.0.1") as c:
...     print(c.get_var("myups", "ups.status"))
OL

See docs/client.md for the whole API.
"""

from typing import TYPE_CHECKING

from pnut.client.core import ClientConnection
from pnut.client.errors import (
    AccessDenied,
    AlreadyDone,
    AuthRequired,
    ClientError,
    CmdNotSupported,
    DataStale,
    DriverNotConnected,
    FeatureNotAvailable,
    InvalidArgument,
    InvalidValue,
    NutConnectionError,
    NutTimeoutError,
    ProtocolError,
    ReadOnly,
    ServerError,
    TlsAlreadyEnabled,
    TlsNotEnabled,
    TooLong,
    TrackingTimeout,
    UnknownCommand,
    UnknownUps,
    VarNotSupported,
)
from pnut.client.models import (
    ClientEntry,
    Command,
    Range,
    TrackingStatus,
    UpsEntry,
    Variable,
    VarType,
)
from pnut.client.sync import Client
from pnut.client.tls import TlsMode, TlsSettings
from pnut.protocol.upsname import UpsName, UpsNameError, parse_hostport, parse_upsname

if TYPE_CHECKING:
    from pnut.client.aio import AsyncClient


def __getattr__(name: str) -> object:
    # AsyncClient pulls in asyncio; the command-line clients never need it.
    if name == "AsyncClient":
        from pnut.client.aio import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AccessDenied",
    "AlreadyDone",
    "AsyncClient",
    "AuthRequired",
    "Client",
    "ClientConnection",
    "ClientEntry",
    "ClientError",
    "CmdNotSupported",
    "Command",
    "DataStale",
    "DriverNotConnected",
    "FeatureNotAvailable",
    "InvalidArgument",
    "InvalidValue",
    "NutConnectionError",
    "NutTimeoutError",
    "ProtocolError",
    "Range",
    "ReadOnly",
    "ServerError",
    "TlsAlreadyEnabled",
    "TlsMode",
    "TlsNotEnabled",
    "TlsSettings",
    "TooLong",
    "TrackingStatus",
    "TrackingTimeout",
    "UnknownCommand",
    "UnknownUps",
    "UpsEntry",
    "UpsName",
    "UpsNameError",
    "VarNotSupported",
    "VarType",
    "Variable",
    "parse_hostport",
    "parse_upsname",
]
