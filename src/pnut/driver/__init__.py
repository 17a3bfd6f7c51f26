"""Drivers: the driver-socket codec and server, and the drivers themselves."""
