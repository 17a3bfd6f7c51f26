"""What can go wrong when talking to upsd, as exception types.

Three families, all under :class:`ClientError`:

* :class:`ServerError` (also a :class:`~pnut.protocol.errors.NutError`): the
  server answered ``ERR <NAME>``.  Frequent names have their own subclass
  (``except UnknownUps:``); every instance carries ``.name``.
* :class:`NutConnectionError` (also a builtin :class:`ConnectionError`): the
  network failed - unknown host, refused, reset, closed, timed out.
* :class:`ProtocolError`: the server sent something that is not a valid
  answer to what we asked.

``nut_text`` on each gives the sentence NUT's own clients print for the same
failure (``upscli_strerror``), so the NUT-compatible CLIs can print it.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from pnut.protocol.errors import ErrorName, NutError


class ClientError(Exception):
    """Base of every failure raised by :mod:`pnut.client`."""

    @property
    def nut_text(self) -> str:
        return "Unknown error"


class ServerError(NutError, ClientError):
    """The server refused a request with ``ERR <name> [extra]``."""

    @property
    def nut_text(self) -> str:
        for prefix, text in _NUT_ERR_TEXT.items():
            if self.name.startswith(prefix):  # NUT compares by prefix too
                return text
        return "Unknown error"


class AccessDenied(ServerError):
    """Wrong user name or password, or the user lacks the right."""


class UnknownUps(ServerError):
    """No UPS of that name on this server."""


class VarNotSupported(ServerError):
    """The UPS has no such variable."""


class CmdNotSupported(ServerError):
    """The UPS has no such instant command."""


class DataStale(ServerError):
    """The driver stopped sending fresh data."""


class DriverNotConnected(ServerError):
    """upsd has no connection to the UPS's driver."""


class InvalidValue(ServerError):
    """SET value outside the variable's enum or range."""


class ReadOnly(ServerError):
    """SET on a variable that is not writable."""


class TooLong(ServerError):
    """SET value longer than the variable's maximum length."""


class InvalidArgument(ServerError):
    """The request's arguments were refused (or an unknown tracking id)."""


class UnknownCommand(ServerError):
    """The server does not know the command (an older or stricter upsd)."""


class AuthRequired(ServerError):
    """USERNAME-REQUIRED / PASSWORD-REQUIRED: authenticate first."""


class AlreadyDone(ServerError):
    """ALREADY-LOGGED-IN, ALREADY-SET-USERNAME and friends."""


class FeatureNotAvailable(ServerError):
    """FEATURE-NOT-SUPPORTED / FEATURE-NOT-CONFIGURED (e.g. STARTTLS)."""


class TlsAlreadyEnabled(AlreadyDone):
    """A second STARTTLS: NUT says ALREADY-SSL-MODE, RFC 9271 TLS-ALREADY-ENABLED."""


class TlsNotEnabled(FeatureNotAvailable):
    """TLS-NOT-ENABLED: the server requires STARTTLS before this command."""


_BY_NAME: Final[dict[str, type[ServerError]]] = {
    ErrorName.ACCESS_DENIED: AccessDenied,
    ErrorName.UNKNOWN_UPS: UnknownUps,
    ErrorName.VAR_NOT_SUPPORTED: VarNotSupported,
    ErrorName.CMD_NOT_SUPPORTED: CmdNotSupported,
    ErrorName.DATA_STALE: DataStale,
    ErrorName.DRIVER_NOT_CONNECTED: DriverNotConnected,
    ErrorName.INVALID_VALUE: InvalidValue,
    ErrorName.READONLY: ReadOnly,
    ErrorName.TOO_LONG: TooLong,
    ErrorName.INVALID_ARGUMENT: InvalidArgument,
    ErrorName.UNKNOWN_COMMAND: UnknownCommand,
    ErrorName.USERNAME_REQUIRED: AuthRequired,
    ErrorName.PASSWORD_REQUIRED: AuthRequired,
    ErrorName.ALREADY_LOGGED_IN: AlreadyDone,
    ErrorName.ALREADY_ATTACHED: AlreadyDone,
    ErrorName.ALREADY_SET_USERNAME: AlreadyDone,
    ErrorName.ALREADY_SET_PASSWORD: AlreadyDone,
    ErrorName.ALREADY_SSL_MODE: TlsAlreadyEnabled,
    ErrorName.TLS_ALREADY_ENABLED: TlsAlreadyEnabled,
    ErrorName.FEATURE_NOT_SUPPORTED: FeatureNotAvailable,
    ErrorName.FEATURE_NOT_CONFIGURED: FeatureNotAvailable,
    ErrorName.TLS_NOT_ENABLED: TlsNotEnabled,
}

# NUT's upsd_errlist + upscli_errlist: ERR name prefix -> sentence.
_NUT_ERR_TEXT: Final[dict[str, str]] = {
    "VAR-NOT-SUPPORTED": "Variable not supported by UPS",
    "UNKNOWN-UPS": "Unknown UPS",
    "ACCESS-DENIED": "Access denied",
    "PASSWORD-REQUIRED": "Password required",
    "PASSWORD-INCORRECT": "Password incorrect",
    "MISSING-ARGUMENT": "Missing argument",
    "DATA-STALE": "Data stale",
    "VAR-UNKNOWN": "Variable unknown",
    "ALREADY-LOGGED-IN": "Already logged in",
    "ALREADY-SET-PASSWORD": "Already set password",
    "UNKNOWN-TYPE": "Unknown variable type",
    "UNKNOWN-VAR": "Unknown variable",
    "READONLY": "Read-only variable",
    "TOO-LONG": "New value is too long",
    "INVALID-VALUE": "Invalid value for variable",
    "SET-FAILED": "Set command failed",
    "UNKNOWN-INSTCMD": "Unknown instant command",
    "INSTCMD-FAILED": "Instant command failed",
    "CMD-NOT-SUPPORTED": "Instant command not supported",
    "INVALID-USERNAME": "Invalid username",
    "ALREADY-SET-USERNAME": "Already set username",
    "UNKNOWN-COMMAND": "Unknown command",
    "INVALID-PASSWORD": "Invalid password",
    "USERNAME-REQUIRED": "Username required",
    "DRIVER-NOT-CONNECTED": "Driver not connected",
    # Not in NUT 2.8.0 (which would print "Unknown error"): RFC 9271's name.
    "TLS-NOT-ENABLED": "Server requires TLS (STARTTLS) first",
}


def server_error(name: str, extra: str = "") -> ServerError:
    """The most specific exception for an ``ERR name extra`` reply."""
    cls = _BY_NAME.get(name, ServerError)
    return cls(name, extra)


class Failure(Enum):
    """Kinds of network failure, named after NUT's upsclient error codes."""

    NO_SUCH_HOST = "No such host"
    CONNECT = "Connection failure: {}"
    READ = "Read error: {}"
    WRITE = "Write error: {}"
    DISCONNECTED = "Server disconnected"
    # NUT reports a read timeout as "Server disconnected" (nut_text says so);
    # a value of its own, or TIMEOUT would be an alias of DISCONNECTED.
    TIMEOUT = "Timed out"
    TLS = "SSL error: {}"
    UNKNOWN = "Unknown error"


class NutConnectionError(ClientError, ConnectionError):
    """The network failed; ``str()`` is one clear line naming host and cause."""

    def __init__(self, failure: Failure, host: str, port: int, reason: str = "") -> None:
        self.failure = failure
        self.host = host
        self.port = port
        self.reason = reason
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        super().__init__(f"{where}: {self._describe()}")

    def _describe(self) -> str:
        if self.failure is Failure.NO_SUCH_HOST:
            return f"no such host ({self.reason})" if self.reason else "no such host"
        if self.failure is Failure.DISCONNECTED:
            return "server closed the connection"
        if self.failure is Failure.TIMEOUT:
            return f"no answer within {self.reason}" if self.reason else "timed out"
        text = str(self.failure.value).format(self.reason).rstrip(": ")
        return text[0].lower() + text[1:]

    @property
    def nut_text(self) -> str:
        if self.failure is Failure.TIMEOUT:
            return str(Failure.DISCONNECTED.value)
        return str(self.failure.value).format(self.reason)


class NutTimeoutError(NutConnectionError, TimeoutError):
    """No complete answer within the client's timeout; the connection is closed."""


class ProtocolError(ClientError):
    """The server's answer does not fit the request (NUT: "Protocol error")."""

    def __init__(self, message: str, line: str = "") -> None:
        self.line = line
        super().__init__(f"{message}: {line!r}" if line else message)

    @property
    def nut_text(self) -> str:
        return "Protocol error"


class TrackingTimeout(ClientError, TimeoutError):
    """``wait_tracking`` gave up while the result was still PENDING."""

    @property
    def nut_text(self) -> str:
        return "timeout"
