"""TLS that never breaks an upgrade (issue 11, item 5), on real processes.

NUT accepts ``LISTEN 0.0.0.0`` without a certificate; pnut's upsd used to
refuse it (REQUIRE_TLS was on by default beyond loopback).  Now it starts,
offers STARTTLS with a certificate it makes once and keeps, logs once that
clients which do not encrypt send passwords in clear text, and requires TLS
only with ``REQUIRE_TLS yes``.  Runs in a private network namespace.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import use_nut

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_nut_config_listening_everywhere_starts_and_offers_tls() -> None:
    done = subprocess.run(["unshare", "-n", sys.executable, str(HERE / "netns_upgrade.py")],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip("cannot create a network namespace here")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    pin = out["pin"]
    assert len(pin) == 95  # 32 bytes as colon-separated hex
    assert out["cert_mode"] == "0o600"
    assert out["plain_upsc"] == "7\n"  # an old client still works, in clear text
    assert out["tls_upsc"] == "7\n"  # and a client that pins the kept certificate
    assert out["login_in_clear"] == ["OK", "OK", "OK Goodbye"]
    if use_nut():
        assert out["nut_upsc"] == "7\n"
    [first] = out["log_first"]
    assert "LISTEN 0.0.0.0" in first and "upsd.conf:1) reaches other hosts" in first
    assert f"(new) (sha256 pin {pin}); clients that do not use STARTTLS send passwords in " \
           "clear text - add 'REQUIRE_TLS yes' to upsd.conf to refuse them" in first
    assert out["pin_after_restart"] == pin  # kept, so pinned clients keep working
    assert out["required_plain"] == ["ERR TLS-NOT-ENABLED"]
    assert out["required_tls_upsc"] == "7\n"
    assert len(out["log_all"]) == 3 and sum("(new)" in ln for ln in out["log_all"]) == 1
