"""Concrete drivers: simulated, dummy-ups, repeater, and hardware protocols."""
