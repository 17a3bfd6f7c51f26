"""Fixtures of the driver tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from drvutil import DriverDir


@pytest.fixture
def ddir() -> Iterator[DriverDir]:
    d = DriverDir()
    try:
        yield d
    finally:
        d.close()
