"""Shared fixtures; the process machinery lives in tests/support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import FIXTURES, have_nut  # noqa: E402

requires_nut = pytest.mark.skipif(not have_nut(), reason="Debian nut-server/nut-client not installed")


@pytest.fixture
def apc_dev() -> str:
    return (FIXTURES / "APC__Smart-UPS_750__usbhid-ups__2.8.0__01.dev").read_text()
