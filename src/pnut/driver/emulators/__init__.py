"""Emulated UPS devices (pty pairs) for tests, demos and benchmarks."""
