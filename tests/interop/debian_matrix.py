"""Run by test_debian_defaults.py inside ``unshare -m -n`` (a private mount and
network namespace): every pnut/NUT combination of driver, upsd and upsmon on
Debian's defaults, touching none of the host's files or ports.

/run/nut becomes a tmpfs (root:nut 0770, as Debian's tmpfiles make it) and a
temp dir is bound over /etc/nut (files root:nut 0640).  No NUT_* variable is
set and no -u is given: every daemon finds its files where Debian's build
does and becomes 'nut' on its own.  Each daemon is stopped with the *other*
implementation's command (``upsd -c stop``, ``upsmon -c stop``,
``upsdrvctl stop``), which proves the pid files are where both expect them.
Prints one JSON object: a row per combination, or the first error.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIB = Path("/lib/nut")
PNUT = [sys.executable, "-m", "pnut"]
RUN = Path("/run/nut")
ETC = Path("/etc/nut")
NUT = pwd.getpwnam("nut")
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("NUT_", "STATE_DIRECTORY"))}
DRIVER = {"nut": [str(LIB / "dummy-ups"), "-a", "ups"],
          "pnut": [*PNUT, "driver", "dummy-ups", "-a", "ups"]}
UPSD = {"nut": [str(LIB / "upsd")], "pnut": [*PNUT, "upsd"]}
UPSMON = {"nut": [str(LIB / "upsmon")], "pnut": [*PNUT, "upsmon"]}
UPSDRVCTL = {"nut": ["/sbin/upsdrvctl"], "pnut": [*PNUT, "upsdrvctl"]}
FILES = {
    "nut.conf": "MODE=standalone\n",
    "ups.conf": "[ups]\n  driver = dummy-ups\n  port = ups.dev\n",
    "ups.dev": "ups.status: OL\nups.load: 21\nbattery.charge: 100\n",
    "upsd.conf": "",  # NUT's defaults: 127.0.0.1 and ::1, port 3493
    "upsd.users": "[monuser]\n  password = pw\n  upsmon primary\n",
    "upsmon.conf": 'MONITOR ups@localhost 1 monuser pw primary\nSHUTDOWNCMD "/bin/true"\n'
                   "POLLFREQ 1\n",
}


def sh(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def wait(cond: object, what: str, timeout: float = 20) -> None:
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out: {what}")


def pid_of(name: str) -> int | None:
    try:
        return int((RUN / name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def gone(pid: int | None) -> bool:
    """Exited and reaped (a zombie still holds its pid file's claim)."""
    return pid is None or not Path(f"/proc/{pid}").exists()


def uid(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                if x.startswith("Uid:"))
    return int(line.split()[1])


def upsc(*args: str) -> str:
    return sh(["/usr/bin/upsc", *args]).stdout


def other(impl: str) -> str:
    return "pnut" if impl == "nut" else "nut"


def setup(conf: Path) -> None:
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0770", "tmpfs", str(RUN)], check=True)
    os.chown(RUN, 0, NUT.pw_gid)
    os.chown(conf, 0, NUT.pw_gid)
    conf.chmod(0o755)  # as Debian's /etc/nut
    for name, text in FILES.items():
        (conf / name).write_text(text)
        os.chown(conf / name, 0, NUT.pw_gid)
        (conf / name).chmod(0o640)
    subprocess.run(["mount", "--bind", str(conf), str(ETC)], check=True)


def start(argv: list[str], what: str) -> None:
    done = sh(argv)
    if done.returncode != 0:
        raise RuntimeError(f"{what} did not start ({done.returncode}): {done.stderr[-800:]}")


def combo(drv: str, upsd: str, row: dict[str, object]) -> None:
    """With a driver and upsd running: each upsmon in turn."""
    for mon in ("nut", "pnut"):
        start(UPSMON[mon], f"{mon} upsmon")
        wait(lambda: "127.0.0.1" in upsc("-c", "ups@localhost")
             or "::1" in upsc("-c", "ups@localhost"), f"{mon} upsmon logged in")
        child = pid_of("upsmon.pid")
        assert child is not None and uid(child) == NUT.pw_uid, "upsmon child is not nut"
        stop = sh([*UPSMON[other(mon)], "-c", "stop"])
        assert stop.returncode == 0, stop.stderr
        wait(lambda c=child: gone(c), f"{mon} upsmon stopped by {other(mon)}'s -c stop")
        row[f"upsmon_{mon}"] = "logged in, ran as nut, stopped"


def main() -> None:
    conf = Path(tempfile.mkdtemp(prefix="pnut-etc-"))
    rows: list[dict[str, object]] = []
    started = time.monotonic()
    try:
        setup(conf)
        for drv in ("nut", "pnut"):
            start(DRIVER[drv], f"{drv} driver")
            sock = RUN / "dummy-ups-ups"
            wait(sock.exists, f"{drv} driver socket")
            info = sock.stat()
            assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (
                NUT.pw_uid, NUT.pw_gid, 0o660), f"{drv} socket {info}"
            # NUT writes the pid file before it forks and again after: wait for the latter.
            wait(lambda: alive(pid_of("dummy-ups-ups.pid"))
                 and Path(f"/proc/{pid_of('dummy-ups-ups.pid')}/status").exists()
                 and os.getsid(pid_of("dummy-ups-ups.pid") or 0) == pid_of("dummy-ups-ups.pid"),
                 f"{drv} driver in the background")
            dpid = pid_of("dummy-ups-ups.pid")
            assert dpid is not None and uid(dpid) == NUT.pw_uid, f"{drv} driver is not nut"
            for upsd in ("nut", "pnut"):
                row: dict[str, object] = {"driver": drv, "upsd": upsd}
                start(UPSD[upsd], f"{upsd} upsd")
                wait(lambda: upsc("ups@localhost", "ups.load").strip() == "21",
                     f"{upsd} upsd serving {drv}'s data")
                upid = pid_of("upsd.pid")
                assert upid is not None and uid(upid) == NUT.pw_uid, f"{upsd} upsd is not nut"
                combo(drv, upsd, row)
                stop = sh([*UPSD[other(upsd)], "-c", "stop"])
                assert stop.returncode == 0, stop.stderr
                wait(lambda p=upid: gone(p), f"{upsd} upsd stopped by {other(upsd)}")
                rows.append(row)
            stop = sh([*UPSDRVCTL[other(drv)], "stop"])
            assert stop.returncode == 0, stop.stdout + stop.stderr
            wait(lambda p=dpid: gone(p), f"{drv} driver stopped by {other(drv)} upsdrvctl")
        print(json.dumps({"rows": rows, "seconds": round(time.monotonic() - started, 1)}))
    except (AssertionError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(json.dumps({"rows": rows, "error": f"{type(exc).__name__}: {exc}"}))
    finally:
        for name in ("upsmon.pid", "upsd.pid", "dummy-ups-ups.pid"):
            pid = pid_of(name)
            if alive(pid):
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(conf, ignore_errors=True)


if __name__ == "__main__":
    main()
