"""``pnut upsmon`` as a process: refusing bad config, -K, -c, reload, hostile servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import PNUT, free_port, wait_for


class Mon:
    """A private config dir for one upsmon; NOTIFYCMD logs ``TYPE UPSNAME``."""

    def __init__(self, home: Path, port: int, extra: str = "", role: str = "primary") -> None:
        self.home = home
        self.notes = home / "notes"
        self.flag = home / "killpower"
        self.shutdown = home / "shutdown"
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = home / "upsmon.conf"
        self.write(f"MONITOR ups@127.0.0.1:{port} 1 admin adminpw {role}\n" + extra)

    def write(self, monitors: str) -> None:
        notify = self.home / "notify.sh"
        notify.write_text(f'#!/bin/sh\necho "$NOTIFYTYPE $UPSNAME" >> {self.notes}\n')
        notify.chmod(0o755)
        events = " ".join(f"NOTIFYFLAG {e} SYSLOG+EXEC\n" for e in
                          ("COMMOK", "COMMBAD", "NOCOMM", "ONLINE", "ONBATT", "SHUTDOWN"))
        self.conf.write_text(
            f"{monitors}SHUTDOWNCMD \"touch {self.shutdown}\"\nNOTIFYCMD {notify}\n"
            f"POWERDOWNFLAG {self.flag}\nPOLLFREQ 1\nPOLLFREQALERT 1\nFINALDELAY 0\n"
            f"HOSTSYNC 1\nNOCOMMWARNTIME 2\n{events}")

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, NUT_CONFPATH=str(self.home), NUT_ALTPIDPATH=str(self.home))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*PNUT, "upsmon", *args], env=self.env, capture_output=True,
                              text=True, timeout=30)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        self.log = open(self.home / "log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*PNUT, "upsmon", "-F", *args], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return self.proc

    def notes_list(self) -> list[str]:
        return self.notes.read_text().splitlines() if self.notes.exists() else []

    def log_text(self) -> str:
        path = self.home / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self.log.close()


@pytest.fixture
def mon(tmp_path: Path) -> Iterator[Mon]:
    m = Mon(tmp_path, free_port())  # nothing listens there
    yield m
    m.stop()


def test_bad_line_refuses_to_start_naming_file_and_line(mon: Mon) -> None:
    """An old-style MONITOR line (no username) stops NUT's upsmon too."""
    mon.conf.write_text(mon.conf.read_text() + "MONITOR old@127.0.0.1 1 pw primary\n")
    r = mon.run("-F", "-p")
    assert r.returncode == 1
    line = len(mon.conf.read_text().splitlines())
    assert f"{mon.conf}:{line}: old-style MONITOR line without a username" in r.stderr
    assert "refusing to start" in r.stderr


#: upsmon.conf lines NUT 2.8.0's upsmon reads past, with pnut's warning for each.
READ_PAST = [
    ("FORCESSL maybe", "FORCESSL 'maybe' is read as 0, as NUT reads it"),
    ("POLLFREQ 1s", "POLLFREQ '1s' is read as 1, as NUT reads it"),
    ("MINSUPPLIES -1", "MINSUPPLIES -1 is negative: the line is ignored"),
    ("DEADTIME", "DEADTIME needs 1 argument(s), got 0: the line is ignored"),
    ("MONITOR spare@127.0.0.1:{port} none admin adminpw secondary", "MONITOR "
     "spare@127.0.0.1:{port}: power value 'none' is read as 0, as NUT reads it (0: monitored, "
     "but not powering this machine)"),
    ('NOTIFYMSG ONBATT "UPS #1 on battery"', "'#' inside quotes is read as part of the value "
     "(NUT drops this line as a parse error and reads what follows the '#' as a line of its "
     "own); write \\# to be clear"),
    ('RUN_AS_USER "nut', "missing closing quote: the value is read to the end of this line (NUT "
     "reads on into the lines after it); close it with \", or end the line with a backslash to "
     "continue it"),
]


def test_lines_nut_reads_past_start_upsmon_with_warnings(mon: Mon) -> None:
    """Issue 11: a upsmon that refuses to start protects nobody. With each line
    NUT's upsmon reads past, pnut's runs (it reports the unreachable upsd) and
    logs the line with file and line."""
    port = free_port()
    head = mon.conf.read_text()
    mon.conf.write_text(head + "".join(line.format(port=port) + "\n" for line, _ in READ_PAST))
    mon.start("-p")
    wait_for(lambda: any(n.startswith("COMMBAD ups@") for n in mon.notes_list()), timeout=15)
    log = mon.log_text()
    first = len(head.splitlines()) + 1
    for n, (_, warning) in enumerate(READ_PAST, first):
        assert f"{mon.conf}:{n}: warning: {warning.format(port=port)}" in log, (n, log)


def test_unsplittable_ups_name_counts_as_online_power_as_in_nut(tmp_path: Path) -> None:
    """NUT keeps a MONITOR whose name it cannot split, never reaches it and so
    never finds it critical: its power value always counts. pnut must not shut
    the machine down for the power it cannot poll (MINSUPPLIES 2 = 1 + 1)."""
    mon = Mon(tmp_path, free_port(), extra="MONITOR bad@127.0.0.1:99999 1 admin adminpw "
              "primary\nMINSUPPLIES 2\n")
    try:
        mon.start("-p")
        # NOCOMM comes after NOCOMMWARNTIME (2 s) of polls: several power checks ran.
        wait_for(lambda: any(n.startswith("NOCOMM ups@") for n in mon.notes_list()), timeout=15)
        assert "upscli_splitaddr" in mon.log_text()
        assert "Shutting down" not in mon.log_text()
        assert not mon.shutdown.exists()
        assert mon.proc is not None and mon.proc.poll() is None
    finally:
        mon.stop()


def test_zero_monitor_lines_refuse_to_start(mon: Mon) -> None:
    """As in NUT: refused while the power values (none) are below MINSUPPLIES;
    with MINSUPPLIES 0 upsmon runs, monitoring nothing."""
    mon.write("")
    r = mon.run("-F", "-p")
    assert r.returncode == 1 and "no MONITOR line: insufficient power configured" in r.stderr
    mon.write("MINSUPPLIES 0\n")
    mon.start("-p")
    wait_for(lambda: "no MONITOR line: upsmon monitors nothing" in mon.log_text(), timeout=15)
    wait_for(lambda: (mon.home / "upsmon.pid").exists(), timeout=15)
    assert mon.proc is not None and mon.proc.poll() is None
    assert mon.run("-c", "stop").returncode == 0
    assert mon.proc.wait(10) == 0


def test_check_flag(mon: Mon) -> None:
    assert mon.run("-K").returncode == 1  # absent
    mon.flag.write_bytes(b"upsmon-shutdown-file")
    assert mon.run("-K").returncode == 0
    mon.flag.write_bytes(b"something else\n")
    r = mon.run("-K")
    assert r.returncode == 1 and "magic string" in r.stderr


def test_startup_removes_own_stale_flag_but_never_a_foreign_file(mon: Mon) -> None:
    mon.flag.write_bytes(b"upsmon-shutdown-file")
    mon.start("-p")
    wait_for(lambda: not mon.flag.exists(), timeout=15)
    mon.stop()
    mon.flag.write_bytes(b"precious data")
    mon.start("-p")
    wait_for(lambda: "does not contain the upsmon magic string" in mon.log_text(), timeout=15)
    assert mon.flag.read_bytes() == b"precious data"


def test_unreachable_upsd_commbad_then_nocomm_then_stop(mon: Mon, tmp_path: Path) -> None:
    mon.start("-p")
    wait_for(lambda: "NOCOMM ups@127.0.0.1" in " ".join(mon.notes_list()), timeout=15)
    assert mon.notes_list()[0].startswith("COMMBAD ")
    assert (mon.home / "upsmon.pid").read_text().strip() == str(mon.proc.pid)  # type: ignore[union-attr]
    # A second instance is refused while the first runs.
    r = mon.run("-F", "-p")
    assert r.returncode == 1 and "already running" in r.stderr
    assert mon.run("-c", "stop").returncode == 0
    assert mon.proc.wait(10) == 0  # type: ignore[union-attr]
    assert not (mon.home / "upsmon.pid").exists()
    assert not mon.shutdown.exists()


def test_user_fsd_shuts_down(mon: Mon) -> None:
    mon.start("-p")
    wait_for(lambda: (mon.home / "upsmon.pid").exists() and mon.notes_list(), timeout=15)
    assert mon.run("-c", "fsd").returncode == 0
    assert mon.proc.wait(15) == 0  # type: ignore[union-attr]
    assert mon.shutdown.exists()
    assert mon.flag.read_bytes() == b"upsmon-shutdown-file"
    assert "SHUTDOWN " in mon.notes_list()


def test_split_mode_parent_runs_shutdown_and_stop_ends_both(mon: Mon) -> None:
    mon.conf.write_text(mon.conf.read_text() + "RUN_AS_USER root\n")
    parent = mon.start()  # no -p: privileged parent + monitoring child
    wait_for(lambda: (mon.home / "upsmon.pid").exists(), timeout=15)
    child = int((mon.home / "upsmon.pid").read_text())
    assert child != parent.pid
    assert Path(f"/proc/{child}/status").read_text().count(f"PPid:\t{parent.pid}") == 1
    assert mon.run("-c", "stop").returncode == 0
    assert parent.wait(10) == 0
    assert not Path(f"/proc/{child}").exists()
    # SIGTERM to the parent (what a service manager sends) ends the child too.
    parent = mon.start()
    wait_for(lambda: int((mon.home / "upsmon.pid").read_text() or 0) != child, timeout=15)
    child = int((mon.home / "upsmon.pid").read_text())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(10) == 0
    wait_for(lambda: not Path(f"/proc/{child}").exists(), timeout=5)
    # And FSD: the child asks, the parent writes the flag and runs SHUTDOWNCMD.
    parent = mon.start()
    wait_for(lambda: int((mon.home / "upsmon.pid").read_text() or 0) != child, timeout=15)
    assert mon.run("-c", "fsd").returncode == 0
    assert parent.wait(15) == 0
    assert mon.shutdown.exists() and mon.flag.read_bytes() == b"upsmon-shutdown-file"


def test_reload_adds_a_ups_and_survives_a_broken_file(mon: Mon, tmp_path: Path) -> None:
    port = free_port()
    first = mon.conf.read_text()
    mon.start("-p")
    wait_for(lambda: mon.notes_list(), timeout=15)
    mon.conf.write_text(first + f"MONITOR other@127.0.0.1:{port} 1 admin adminpw primary\n")
    assert mon.run("-c", "reload").returncode == 0
    wait_for(lambda: f"COMMBAD other@127.0.0.1:{port}" in mon.notes_list(), timeout=15)
    mon.conf.write_text(first + "MONITOR broken@127.0.0.1 1 pw primary\n")  # old-style: fatal
    assert mon.run("-c", "reload").returncode == 0
    wait_for(lambda: "Reload failed" in mon.log_text(), timeout=15)
    assert mon.proc.poll() is None  # type: ignore[union-attr]


# -- a hostile server -------------------------------------------------------------------


class Hostile:
    """A TCP server on 127.0.0.1 answering upsmon with whatever ``mode`` says."""

    def __init__(self) -> None:
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.mode = "garbage"
        self.served = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        self.served += 1
        with conn:
            try:
                conn.settimeout(5)
                f = conn.makefile("rb")
                while line := f.readline(4096):
                    if self.mode == "close":
                        return
                    if self.mode == "garbage":
                        conn.sendall(b'\xff\x00"unterminated # \\\nVAR x\n')
                    elif self.mode == "huge":
                        conn.sendall(b"X" * 200_000)
                    elif self.mode == "good":
                        word = line.split()[0] if line.split() else b""
                        conn.sendall(b'VAR ups ups.status "OL"\n' if word == b"GET" else b"OK\n")
            except OSError:
                return

    def close(self) -> None:
        self.srv.close()


def test_hostile_server_never_crashes_upsmon(tmp_path: Path) -> None:
    server = Hostile()
    m = Mon(tmp_path, server.port)
    try:
        m.start("-p")
        for mode in ("garbage", "huge", "close"):
            server.mode = mode
            seen = server.served
            wait_for(lambda s=seen: server.served >= s + 2, timeout=15)
        server.mode = "good"
        wait_for(lambda: f"COMMOK ups@127.0.0.1:{server.port}" in m.notes_list(), timeout=15)
        assert m.proc.poll() is None  # type: ignore[union-attr]
        assert m.notes_list()[0].startswith("COMMBAD")
        assert "Traceback" not in m.log_text()
        assert not m.shutdown.exists()
    finally:
        m.stop()
        server.close()


def test_wrong_password_is_reported_but_the_ups_is_still_watched(tmp_path: Path) -> None:
    from support import Ups, stack

    with stack([Ups("ups", "ups.status: OL\n", extra={"pollinterval": "1"})],
               upsd="pnut", driver="pnut") as st:
        m = Mon(tmp_path, st.port, role="secondary")  # "admin adminpw": wrong password
        try:
            m.start("-p")
            wait_for(lambda: "login failed" in m.log_text(), timeout=15)
            assert st.talk(["GET NUMLOGINS ups"]) == ["NUMLOGINS ups 0"]
            st.talk(['USERNAME admin', 'PASSWORD "s3cret pw"', 'SET VAR ups ups.status "OB"'])
            wait_for(lambda: f"ONBATT ups@127.0.0.1:{st.port}" in m.notes_list(), timeout=15)
            assert m.proc.poll() is None  # type: ignore[union-attr]
        finally:
            m.stop()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_shutdownexit_no_stays_up_idle_until_stopped(mon: Mon) -> None:
    mon.conf.write_text(mon.conf.read_text() + "SHUTDOWNEXIT no\n")
    proc = mon.start("-p")
    wait_for(lambda: (mon.home / "upsmon.pid").exists() and mon.notes_list(), timeout=15)
    assert mon.run("-c", "fsd").returncode == 0
    wait_for(mon.shutdown.exists, timeout=15)
    before = _cpu_seconds(proc.pid)
    time.sleep(1.5)
    assert proc.poll() is None
    assert _cpu_seconds(proc.pid) - before < 0.3  # waiting, not spinning
    assert mon.run("-c", "stop").returncode == 0
    assert proc.wait(10) == 0
