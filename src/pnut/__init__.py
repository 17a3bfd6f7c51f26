"""pnut: Network UPS Tools rebuilt in Python (RFC 9271, drop-in for NUT 2.8)."""

__version__ = "0.1.0"

from pnut import _native

# upsd's hot path as compiled C when the build made it and it is current (pnut/_native).
_native.activate()
