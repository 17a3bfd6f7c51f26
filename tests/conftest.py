"""Shared fixtures; the process machinery lives in tests/support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import FIXTURES, requires_nut

__all__ = ["requires_nut"]  # defined in support.py (shared by every folder)


@pytest.fixture
def apc_dev() -> str:
    return (FIXTURES / "APC__Smart-UPS_750__usbhid-ups__2.8.0__01.dev").read_text()
