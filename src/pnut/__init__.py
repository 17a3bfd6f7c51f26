"""pnut: Network UPS Tools rebuilt in Python (RFC 9271, drop-in for NUT 2.8)."""

__version__ = "0.1.0"
