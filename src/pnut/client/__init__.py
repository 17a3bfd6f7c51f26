"""Sync and asyncio clients of the RFC 9271 protocol, on the sans-IO core."""
