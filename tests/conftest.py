"""Shared fixtures; the process machinery lives in tests/support.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import FIXTURES, have_nut

# In CI the reference implementation must be there: a missing NUT fails
# the tests that need it instead of skipping them silently.
requires_nut = pytest.mark.skipif(
    not have_nut() and not os.environ.get("CI"),
    reason="Debian nut-server/nut-client not installed",
)


@pytest.fixture
def apc_dev() -> str:
    return (FIXTURES / "APC__Smart-UPS_750__usbhid-ups__2.8.0__01.dev").read_text()
