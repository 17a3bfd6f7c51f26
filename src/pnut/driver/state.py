"""Moved to :mod:`pnut.protocol.state` (upsd and drivers share it); kept for old imports."""

from pnut.protocol.state import (
    FLAG_NUMBER,
    FLAG_RW,
    FLAG_STRING,
    KNOWN_FLAGS,
    TRACKING_ANSWERS,
    UpsState,
    Variable,
)

__all__ = ["FLAG_NUMBER", "FLAG_RW", "FLAG_STRING", "KNOWN_FLAGS", "TRACKING_ANSWERS",
           "UpsState", "Variable"]
