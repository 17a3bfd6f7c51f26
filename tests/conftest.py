"""Shared fixtures; the process machinery lives in tests/support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import ALLOW_MISSING, FIXTURES, requires_nut

__all__ = ["requires_nut"]  # defined in support.py (shared by every folder)

# Property tests prove what code does, not how fast: no per-example deadline (200 ms
# by default), which a loaded 2-core machine running two workers can exceed and
# Hypothesis then reports as a Flaky failure.  Speed is measured in bench/.
settings.register_profile("pnut", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pnut")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(missing): fails (or, with PNUT_ALLOW_NO_NUT=1, "
                            "skips) the test when `missing` names an absent peer or tool")
    config.addinivalue_line("markers", "serial: load- or timing-sensitive; scripts/test runs these "
                            "alone, after the others ran on parallel workers (pytest-xdist)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        missing = mark.args[0] if mark.args else None
        if missing:
            if ALLOW_MISSING:
                pytest.skip(f"{missing} (PNUT_ALLOW_NO_NUT=1)")
            pytest.fail(f"{missing}: this test compares pnut with it and must not be "
                        "skipped (PNUT_ALLOW_NO_NUT=1 skips it on a developer machine, "
                        "never in CI)",
                        pytrace=False)


@pytest.fixture(autouse=True)
def _own_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's upsd keeps its own certificate in the test's temp dir, never in the
    machine's /var/lib/nut (pnut.tls.autocert), even where a test forgets to say so."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "var-lib-nut"))


@pytest.fixture
def apc_dev() -> str:
    return (FIXTURES / "APC__Smart-UPS_750__usbhid-ups__2.8.0__01.dev").read_text()
