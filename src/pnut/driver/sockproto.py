"""The driver socket's requests, for the driver side.

The codec is :mod:`pnut.protocol.driversock` (shared with upsd); this
module keeps the names drivers import.  ``Stat`` is
:class:`~pnut.protocol.driversock.TrackingResult` under the name drivers
have used (``Stat.HANDLED``, ``Stat.INVALID`` ...).
"""

from pnut.protocol.driversock import (
    Broadcast,
    DumpAll,
    DumpValue,
    GetPid,
    InstCmd,
    Logout,
    NoBroadcast,
    Ping,
    SetVar,
    SockCommand,
    TrackingResult,
    parse_command,
    tracking_line,
)

Stat = TrackingResult

__all__ = ["Broadcast", "DumpAll", "DumpValue", "GetPid", "InstCmd", "Logout", "NoBroadcast",
           "Ping", "SetVar", "SockCommand", "Stat", "TrackingResult", "parse_command",
           "tracking_line"]
