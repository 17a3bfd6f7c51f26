"""The repository carries everything its tests read (issue 11, item 1).

A fresh clone has only the checkout: no fixture may come from a folder
beside it.  This scans every source, test and bench file for the two ways
that used to happen (a path climbing out of the repo, a shared folder).
"""

from __future__ import annotations

import re
from pathlib import Path

from support import FIXTURES, REPO

#: Ways a file could reach outside the checkout.
#: The last one is the checkouts' parent folder on the machines this was built on,
#: spelt so that this file does not contain it.
OUTSIDE = re.compile(r"REPO\.parent|\"shared\"\s*/|['\"]\.\./\.\./|/wor[k]/")


def test_fixtures_live_in_the_repository() -> None:
    assert FIXTURES.is_relative_to(REPO)
    dumps = sorted(p.name for p in FIXTURES.glob("*.dev"))
    assert len(dumps) == 5
    readme = (FIXTURES / "README.md").read_text()
    assert "networkupstools/nut-ddl" in readme and "Licence" in readme
    for name in dumps:
        assert name in readme


def test_nothing_reads_outside_the_checkout() -> None:
    offenders = []
    for top in ("src", "tests", "bench", "scripts"):
        for path in (REPO / top).rglob("*"):
            if path.suffix not in (".py", ".sh", "") or not path.is_file():
                continue
            if path == Path(__file__).resolve():
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if OUTSIDE.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []


def test_hardware_driver_tests_never_skip_silently() -> None:
    """The drivers' tests compare pnut with NUT's C drivers on emulators: a missing peer
    must fail them (support.needs), never skip them quietly, or CI proves nothing."""
    root = Path(__file__).resolve().parent
    files = [*root.glob("usbhid/test_*.py"), *root.glob("driver/test_*.py"),
             root / "interop" / "test_serial_diff.py", root / "scan" / "test_scan.py"]
    offenders = []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ("skipif(" in line or "pytest.skip(" in line or "importorskip(" in line) \
                    and "can_netns()" not in line:  # root for a namespace: the runner's choice
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not offenders, offenders
