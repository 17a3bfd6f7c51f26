"""Pieces both adapters share: the replay plan, secrets, connect errors."""

from __future__ import annotations

import errno
import os
import socket
import ssl
from dataclasses import dataclass

from pnut.client.errors import Failure, NutConnectionError, NutTimeoutError


class Secret:
    """A password that never shows in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    __str__ = __repr__


@dataclass
class SessionPlan:
    """What :meth:`reconnect` replays on a fresh connection, in this order."""

    #: STARTTLS context, server name and certificate pin.
    tls: tuple[ssl.SSLContext, str | None, str | None] | None = None
    user: str | None = None
    secret: Secret | None = None
    login: str | None = None
    primary: str | None = None


_NO_HOST = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def connect_error(exc: Exception, host: str, port: int) -> NutConnectionError:
    """Classify a failed connect the way NUT's upsclient does."""
    if not isinstance(exc, OSError):  # a name the resolver cannot even encode
        return NutConnectionError(Failure.NO_SUCH_HOST, host, port, str(exc))
    if isinstance(exc, socket.gaierror):
        if exc.errno in _NO_HOST:
            return NutConnectionError(Failure.NO_SUCH_HOST, host, port, exc.strerror or "")
        return NutConnectionError(Failure.UNKNOWN, host, port, exc.strerror or str(exc))
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        return NutTimeoutError(Failure.CONNECT, host, port, "Connection timed out")
    # asyncio words it "Connect call failed (...)": use the C library's text
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
    return NutConnectionError(Failure.CONNECT, host, port, reason)
