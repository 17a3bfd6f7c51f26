"""NUT's process model for pnut's daemons (issue 11, items 2-4), on real processes.

Background by default with the pid file where NUT puts it, ``-c`` with a
hint, the drop from root to the run-as user after opening what needs root
(sockets and pid files then belong to that user, mode 0660 as NUT's), a
POWERDOWNFLAG left in a root-owned directory, and systemd's notify
protocol spoken to a datagram socket that stands in for systemd.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import PNUT, Stack, Ups, free_port, run, wait_for

ROOT = os.geteuid() == 0
try:
    NUT_USER: pwd.struct_passwd | None = pwd.getpwnam("nut")
except KeyError:
    NUT_USER = None
needs_nut_user = pytest.mark.skipif(not ROOT or NUT_USER is None,
                                    reason="needs root and Debian's 'nut' account")
DEV = "ups.status: OL\nups.load: 7\n"


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


@pytest.fixture
def st() -> Iterator[Stack]:
    stack = Stack([Ups("u", DEV)])
    try:
        yield stack
    finally:
        stack.close()


def test_upsd_goes_to_the_background_with_a_pid_file(st: Stack) -> None:
    st.start_driver(st.upses[0], "pnut")
    started = run([*PNUT, "upsd", "-u", "root", "--confdir", str(st.dir)], env=st.env, timeout=30)
    assert started.returncode == 0, started.stderr  # returns once upsd listens
    pidfile = st.state / "upsd.pid"
    pid = int(pidfile.read_text())
    try:
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2:4] == [b"pnut", b"upsd"]
        assert os.getsid(pid) == pid  # its own session: no terminal
        assert wait_for(lambda: st.talk(["GET VAR u ups.load"]) == ['VAR u ups.load "7"'])
        assert run([*PNUT, "upsd", "-c", "reload"], env=st.env).returncode == 0
        assert run([*PNUT, "upsd", "-c", "stop"], env=st.env).returncode == 0
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=15)
    finally:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    assert not pidfile.exists()
    hint = run([*PNUT, "upsd", "-c", "reload"], env=st.env)
    assert hint.returncode == 1
    assert hint.stderr == (
        f"upsd: no PID file {pidfile}: upsd is not running, or runs in the foreground with -F "
        "(which writes none: start it with -FF, or signal it with -P PID, or "
        "'systemctl reload/stop' when systemd runs it)\n")


def test_a_failed_background_start_says_why_and_exits_1(st: Stack) -> None:
    st.write("upsd.conf", f"LISTEN 127.0.0.1 {st.port}\nLISTEN 127.0.0.1 nosuchservice\n")
    done = run([*PNUT, "upsd", "-u", "root", "--confdir", str(st.dir)], env=st.env, timeout=30)
    assert done.returncode == 1
    assert done.stderr.endswith(f"upsd: {st.dir}/upsd.conf:2: port 'nosuchservice' is neither "
                                "a number nor a known service name\n")
    assert not (st.state / "upsd.pid").exists()


@needs_nut_user
def test_upsd_and_driver_become_nut_after_opening_what_needs_root() -> None:
    """No -u: as Debian's build, the daemons become 'nut' when started as root."""
    assert NUT_USER is not None
    base = Path(tempfile.mkdtemp(prefix="pnut-priv-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        base.chmod(0o755)
        state = base / "state"
        state.mkdir()
        os.chown(state, 0, NUT_USER.pw_gid)
        state.chmod(0o770)  # as Debian's /run/nut: root:nut 0770
        port = free_port()
        (base / "ups.conf").write_text("[u]\n  driver = dummy-ups\n  port = u.dev\n")
        (base / "u.dev").write_text(DEV)
        (base / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
        (base / "upsd.users").write_text("[a]\n  password = b\n")
        for name in ("ups.conf", "u.dev", "upsd.conf", "upsd.users"):
            os.chown(base / name, 0, NUT_USER.pw_gid)
            (base / name).chmod(0o640)  # root:nut 0640, as Debian installs them
        env = {**os.environ, "NUT_CONFPATH": str(base), "NUT_STATEPATH": str(state),
               "NUT_ALTPIDPATH": str(state), "STATE_DIRECTORY": str(base / "lib")}
        drv = subprocess.Popen([*PNUT, "driver", "dummy-ups", "-a", "u", "-F"], env=env,
                               stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(drv)
        sock = state / "dummy-ups-u"
        wait_for(lambda: sock.exists() or drv.poll() is not None, timeout=20)
        assert drv.poll() is None, drv.stderr.read() if drv.stderr else ""
        info = sock.stat()
        assert (info.st_uid, info.st_gid) == (NUT_USER.pw_uid, NUT_USER.pw_gid)
        assert stat.S_IMODE(info.st_mode) == 0o660
        assert (state / "dummy-ups-u.pid").stat().st_uid == NUT_USER.pw_uid
        assert _uid_of(drv.pid) == NUT_USER.pw_uid
        upsd = subprocess.Popen([*PNUT, "upsd", "-FF", "--confdir", str(base)], env=env,
                                stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(upsd)
        wait_for(lambda: (state / "upsd.pid").exists() or upsd.poll() is not None, timeout=20)
        assert upsd.poll() is None
        assert _uid_of(upsd.pid) == NUT_USER.pw_uid
        assert (state / "upsd.pid").stat().st_uid == NUT_USER.pw_uid
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET VAR u ups.load\n")
            assert conn.recv(100) == b'VAR u ups.load "7"\n'
        # A reload reads the files again as nut (root:nut 0640 lets it).
        upsd.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert upsd.poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(15)
        shutil.rmtree(base, ignore_errors=True)


@needs_nut_user
def test_upsmon_starts_when_powerdownflag_is_left_in_a_root_owned_directory() -> None:
    """The first boot after an outage: NUT removes the flag and starts; so does pnut."""
    base = Path(tempfile.mkdtemp(prefix="pnut-pdf-"))
    try:
        base.chmod(0o755)  # root-owned: the unprivileged child could not remove the flag
        flag = base / "killpower"
        flag.write_text("upsmon-shutdown-file")
        conf = base / "upsmon.conf"
        conf.write_text(f"MONITOR u@127.0.0.1:{free_port()} 1 a b primary\n"
                        f"POWERDOWNFLAG {flag}\nSHUTDOWNCMD /bin/true\nPOLLFREQ 1\n")
        env = {**os.environ, "NUT_CONFPATH": str(base), "NUT_ALTPIDPATH": str(base)}
        proc = subprocess.Popen([*PNUT, "upsmon", "-F", "-f", str(conf)], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: not flag.exists() or proc.poll() is not None, timeout=15)
            time.sleep(1.5)  # the child is up and polling (its failures are expected)
            assert proc.poll() is None
            assert not flag.exists()
        finally:
            proc.terminate()
            out = proc.communicate(timeout=15)[0].decode()
        assert f"Removed POWERDOWNFLAG {flag} left by the last shutdown" in out
        assert "Traceback" not in out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_systemd_notify_ready_reloading_watchdog_stopping(st: Stack) -> None:
    """A datagram socket plays systemd: what a driver, pnut upsd and upsmon tell it."""
    path = st.dir / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(15)
    env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}

    def until(word: str) -> list[str]:
        seen: list[str] = []
        while word not in seen:
            seen += listener.recv(4096).decode().split("\n")
        return seen

    try:
        drv = st.spawn([*PNUT, "driver", "dummy-ups", "-a", "u", "-F", "-u", "root"],
                       "driver-notify", env=env)
        until("READY=1")
        until("WATCHDOG=1")
        drv.send_signal(signal.SIGHUP)
        reload = until("READY=1")
        assert "RELOADING=1" in reload
        assert any(w.startswith("MONOTONIC_USEC=") for w in reload)
        upsd = st.spawn([*PNUT, "upsd", "-F", "-u", "root", "--confdir", str(st.dir)],
                        "upsd-notify", env=env)
        until("READY=1")
        until("WATCHDOG=1")
        upsd.send_signal(signal.SIGHUP)
        assert "RELOADING=1" in until("READY=1")
        upsd.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        assert upsd.wait(15) == 0
        drv.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        mon_conf = st.write("upsmon.conf", f"MONITOR u@127.0.0.1:{st.port} 1 monuser mon "
                                           "secondary\nSHUTDOWNCMD /bin/true\n")
        mon = st.spawn([*PNUT, "upsmon", "-F", "-p", "-f", str(mon_conf)], "upsmon-notify",
                       env=env)
        until("READY=1")
        until("WATCHDOG=1")
        mon.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        assert mon.wait(15) == 0
    finally:
        listener.close()


@pytest.mark.skipif(not ROOT, reason="chroot needs root")
def test_driver_chroot_keeps_socket_and_pid_file_inside() -> None:
    """-r DIR: after opening the device the driver chroots; its state path is inside DIR."""
    base = Path(tempfile.mkdtemp(prefix="pnut-chroot-"))
    try:
        (base / "st").mkdir()
        (base / "etc").mkdir()
        (base / "etc" / "ups.conf").write_text("[u]\n  driver = dummy-ups\n  port = u.dev\n")
        (base / "etc" / "u.dev").write_text(DEV)
        env = {**os.environ, "NUT_CONFPATH": str(base / "etc"), "NUT_STATEPATH": "/st"}
        env.pop("NUT_ALTPIDPATH", None)
        proc = subprocess.Popen([*PNUT, "driver", "dummy-ups", "-a", "u", "-F", "-u", "root",
                                 "-r", str(base)], env=env, stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            sock = base / "st" / "dummy-ups-u"
            wait_for(lambda: sock.exists() or proc.poll() is not None, timeout=20)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert Path(f"/proc/{proc.pid}/root").resolve() == base.resolve()
            assert (base / "st" / "dummy-ups-u.pid").read_text().strip() == str(proc.pid)
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(10)
                conn.connect(str(sock))
                conn.sendall(b"DUMPVALUE ups.load\n")
                assert conn.recv(200).startswith(b'SETINFO ups.load "7"')
        finally:
            proc.terminate()
            proc.wait(15)
    finally:
        shutil.rmtree(base, ignore_errors=True)
