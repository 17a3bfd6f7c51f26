"""The atheris target, run for a few seconds from the checked-in corpus.

atheris (libFuzzer for Python) installs from PyPI as a binary wheel for
CPython 3.11 on x86-64 Linux; where it is missing the test is skipped and
the hypothesis suites still run.  For a long campaign run the target by
hand (see its docstring).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_atheris_short_campaign(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    done = subprocess.run(
        [sys.executable, str(HERE / "atheris_target.py"), "-seed=1", "-max_total_time=6",
         "-runs=200000", "-max_len=4096", "-timeout=10", "-rss_limit_mb=1024",
         str(tmp_path), str(HERE / "corpus")],
        capture_output=True, text=True, timeout=120)
    tail = "\n".join(done.stderr.splitlines()[-25:])
    assert done.returncode == 0, tail
    assert "Done" in done.stderr, tail
