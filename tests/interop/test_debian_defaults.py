"""Every pnut/NUT mix of driver, upsd and upsmon on Debian's defaults (issue 11).

/etc/nut, /run/nut, user nut, port 3493, no -u, no NUT_* variables: what a
real machine has.  The work happens in debian_matrix.py inside a private
mount and network namespace, so the host's /etc/nut, /run/nut and port 3493
are never touched.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import requires_nut


def _nut_user() -> bool:
    try:
        pwd.getpwnam("nut")
    except KeyError:
        return False
    return True


@requires_nut
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and unshare")
def test_every_mix_of_pnut_and_nut_on_debians_defaults() -> None:
    assert _nut_user(), "Debian's nut-server makes the user 'nut'"
    script = Path(__file__).resolve().parent / "debian_matrix.py"
    done = subprocess.run(["unshare", "-m", "-n", sys.executable, str(script)],
                          capture_output=True, text=True, timeout=180)
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip("cannot create mount and network namespaces here")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in out, out
    assert [(r["driver"], r["upsd"]) for r in out["rows"]] == [
        ("nut", "nut"), ("nut", "pnut"), ("pnut", "nut"), ("pnut", "pnut")]
    for row in out["rows"]:
        assert row["upsmon_nut"] == row["upsmon_pnut"] == "logged in, ran as nut, stopped"
