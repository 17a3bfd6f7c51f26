"""The container recipe's entry point, run here without docker (issue 11, item 8).

docker is not available in this environment, so the Dockerfile itself is not
built by the tests; its entry point (docker/entrypoint.sh) is run as root with
the image's layout recreated in a temp dir: files root:nut 0640, state dir
root:nut 0770.  It must check the config, start the drivers (which become
nut), run upsd in the foreground (which becomes nut), answer NUT's clients,
and stop cleanly on SIGTERM as ``docker stop`` sends it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support import PNUT, REPO, free_port, run, wait_for

try:
    NUT = pwd.getpwnam("nut")
except KeyError:
    NUT = None  # type: ignore[assignment]


@pytest.mark.skipif(os.geteuid() != 0 or NUT is None, reason="needs root and user 'nut'")
def test_entrypoint_runs_drivers_and_upsd_as_the_image_does() -> None:
    assert NUT is not None
    base = Path(tempfile.mkdtemp(prefix="pnut-ctr-"))
    port = free_port()
    proc: subprocess.Popen[str] | None = None
    try:
        base.chmod(0o755)
        etc, run_nut, lib = base / "etc", base / "run", base / "lib"
        for d, mode in ((etc, 0o750), (run_nut, 0o770), (lib, 0o750)):
            d.mkdir()
            os.chown(d, 0, NUT.pw_gid)
            d.chmod(mode)
        files = {"ups.conf": "[sim]\n  driver = sim\n  port = sim\n",
                 "upsd.conf": f"LISTEN 127.0.0.1 {port}\n",
                 "upsd.users": "[admin]\n  password = pw\n  actions = SET\n"}
        for name, text in files.items():
            (etc / name).write_text(text)
            os.chown(etc / name, 0, NUT.pw_gid)
            (etc / name).chmod(0o640)
        env = {**os.environ, "NUT_CONFPATH": str(etc), "NUT_STATEPATH": str(run_nut),
               "NUT_ALTPIDPATH": str(run_nut), "STATE_DIRECTORY": str(lib),
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        proc = subprocess.Popen(["sh", str(REPO / "docker" / "entrypoint.sh")], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        wait_for(lambda: run([*PNUT, "upsc", f"sim@127.0.0.1:{port}", "ups.status"],
                             env=env).stdout.strip() in ("OL", "OL CHRG")
                 or proc.poll() is not None, timeout=30)
        assert proc.poll() is None
        sock = run_nut / "sim-sim"
        assert sock.stat().st_uid == NUT.pw_uid
        upsd_uid = Path(f"/proc/{proc.pid}/status").read_text().split("Uid:")[1].split()[0]
        assert int(upsd_uid) == NUT.pw_uid  # the entry point exec'd upsd, which became nut
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0]
        assert proc.returncode == 0, out
        assert f"{etc}: no problems found in ups.conf, upsd.conf, upsd.users" in out
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        subprocess.run([*PNUT, "upsdrvctl", "stop"], capture_output=True, timeout=30,
                       env={**os.environ, "NUT_CONFPATH": str(base / "etc"),
                            "NUT_STATEPATH": str(base / "run"),
                            "NUT_ALTPIDPATH": str(base / "run")})
        shutil.rmtree(base, ignore_errors=True)
