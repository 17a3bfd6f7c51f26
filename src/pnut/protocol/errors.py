"""The protocol's error names and the one exception type that carries them.

Every refusal inside pnut is a :class:`NutError` carrying an
:class:`ErrorName`; the server turns it into ``ERR <NAME>`` at the single
place where replies are written, and the client library raises it when it
reads an ``ERR`` line.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorName(StrEnum):
    """Every ERR name of RFC 9271 §4.3.2 and of NUT 2.8.0's neterr.h."""

    ACCESS_DENIED = "ACCESS-DENIED"
    ALREADY_ATTACHED = "ALREADY-ATTACHED"  # RFC name (reply to ATTACH)
    ALREADY_LOGGED_IN = "ALREADY-LOGGED-IN"  # NUT name (reply to LOGIN)
    ALREADY_SET_PASSWORD = "ALREADY-SET-PASSWORD"
    ALREADY_SET_USERNAME = "ALREADY-SET-USERNAME"
    ALREADY_SSL_MODE = "ALREADY-SSL-MODE"  # NUT name of TLS-ALREADY-ENABLED
    CMD_NOT_SUPPORTED = "CMD-NOT-SUPPORTED"
    DATA_STALE = "DATA-STALE"
    DRIVER_NOT_CONNECTED = "DRIVER-NOT-CONNECTED"
    FEATURE_NOT_CONFIGURED = "FEATURE-NOT-CONFIGURED"
    FEATURE_NOT_SUPPORTED = "FEATURE-NOT-SUPPORTED"
    INSTCMD_FAILED = "INSTCMD-FAILED"
    INVALID_ARGUMENT = "INVALID-ARGUMENT"
    INVALID_PASSWORD = "INVALID-PASSWORD"
    INVALID_USERNAME = "INVALID-USERNAME"
    INVALID_VALUE = "INVALID-VALUE"
    PASSWORD_REQUIRED = "PASSWORD-REQUIRED"
    READONLY = "READONLY"
    SET_FAILED = "SET-FAILED"
    TLS_ALREADY_ENABLED = "TLS-ALREADY-ENABLED"
    TLS_NOT_ENABLED = "TLS-NOT-ENABLED"
    TOO_LONG = "TOO-LONG"
    UNKNOWN_COMMAND = "UNKNOWN-COMMAND"
    UNKNOWN_UPS = "UNKNOWN-UPS"
    USERNAME_REQUIRED = "USERNAME-REQUIRED"
    VAR_NOT_SUPPORTED = "VAR-NOT-SUPPORTED"
    # Answers of GET TRACKING <id> (NUT 2.8.0).
    UNKNOWN = "UNKNOWN"
    FAILED = "FAILED"
    # Defined in NUT's neterr.h, never sent by its upsd; kept so clients
    # can name them if another server does.
    VAR_UNKNOWN = "VAR-UNKNOWN"
    UNKNOWN_TYPE = "UNKNOWN-TYPE"
    UNKNOWN_INSTCMD = "UNKNOWN-INSTCMD"
    MISSING_ARGUMENT = "MISSING-ARGUMENT"


class NutError(Exception):
    """A protocol refusal: the ERR name, and optional extra text."""

    def __init__(self, name: ErrorName | str, extra: str = "") -> None:
        self.name: str = str(name)
        self.extra = extra
        super().__init__(f"{self.name} {extra}".rstrip())

    @property
    def error(self) -> ErrorName | None:
        """The known name, or None for a name this version does not know."""
        try:
            return ErrorName(self.name)
        except ValueError:
            return None

    def wire(self) -> str:
        """The reply line, without newline."""
        return f"ERR {self.name} {self.extra}".rstrip()
