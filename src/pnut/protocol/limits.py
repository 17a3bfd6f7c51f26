"""Every number and fixed string of the protocol, in one place.

Values follow NUT 2.8.0 where NUT and RFC 9271 agree on behaviour; the
RFC's ABNF length limits are kept for validation of names we generate.
"""

from __future__ import annotations

from typing import Final

#: Words kept per line; NUT's parseconf silently drops the rest.
MAX_ARGS: Final = 32
#: Characters kept per word; NUT truncates longer words.
MAX_WORD_LEN: Final = 512
#: Bytes of one unterminated line the server buffers before it stops
#: buffering and streams it through the tokenizer's state machine.
MAX_PENDING_LINE: Final = 64 * 1024

DEFAULT_PORT: Final = 3493
DEFAULT_HOST: Final = "localhost"

#: RFC 9271 protocol version, answered by PROTVER / NETVER.
PROTOCOL_VERSION: Final = "1.3"
#: The NUT release whose wire behaviour pnut reproduces.
NUT_VERSION: Final = "2.8.0"
SERVER_URL: Final = "http://www.networkupstools.org/"
SERVER_INFO: Final = f"Network UPS Tools upsd {NUT_VERSION} - {SERVER_URL}"

#: NUT 2.8.0's HELP line, byte for byte.
HELP_TEXT: Final = "Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS"

#: A client silent for longer than this is disconnected (NUT: 60 s, fixed).
CLIENT_IDLE_TIMEOUT: Final = 60.0
#: Driver silence before its data is stale (upsd.conf MAXAGE).
DEFAULT_MAXAGE: Final = 15
#: TRACKING results are kept this long (upsd.conf TRACKINGDELAY).
DEFAULT_TRACKINGDELAY: Final = 3600

#: RFC 9271 ABNF: names are at most 63 characters.
MAX_NAME_LEN: Final = 63
#: RFC 9271 ABNF: SET values and passwords are at most 63 VCHARs.
MAX_VALUE_LEN: Final = 63

#: Status word upsd shows until a driver's first dump arrives.
STATUS_WAIT: Final = "WAIT"
DESCRIPTION_UNAVAILABLE: Final = "Description unavailable"
UPSDESC_UNAVAILABLE: Final = "Unavailable"
