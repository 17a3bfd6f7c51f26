"""The driver socket served by a real ``pnut driver dummy-ups`` process."""
# ruff: noqa: F811 - test parameters named after the imported ddir fixture

from __future__ import annotations

import os
import socket
import time

import pytest
from drvutil import DriverDir, SockConn, ddir  # noqa: F401 - the fixture

from support import wait_for

DEV = """\
ups.status: OL
battery.charge: 100
ups.mfr: "Acme \\"Power\\""
"""
CONF = "[u]\n driver = dummy-ups\n port = u.dev\n pollinterval = 1\n"


@pytest.fixture
def running(ddir: DriverDir) -> DriverDir:
    ddir.write("ups.conf", CONF)
    ddir.write("u.dev", DEV)
    ddir.start("dummy-ups", "u")
    return ddir


def test_dump_ping_pid_and_logout(running: DriverDir) -> None:
    path = running.socket("dummy-ups", "u")
    assert oct(path.stat().st_mode & 0o777) == "0o660"
    with running.conn("dummy-ups", "u") as c:
        dump = c.dump()
        assert dump[-2:] == ["DATAOK", "DUMPDONE"]
        assert 'SETINFO ups.mfr "Acme \\"Power\\""' in dump
        assert "ADDCMD load.off" in dump
        assert 'SETINFO driver.name "dummy-ups"' in dump
        c.send("PING")
        assert c.line() == "PONG"
        c.send("GETPID")
        pid = int(c.line().split()[1])
        assert pid == running.procs[0].pid
        c.send("DUMPSTATUS")
        assert c.until(lambda line: line == "DUMPDONE") == [
            'SETINFO ups.status "OL"', "SETAUX ups.status 32", "SETFLAGS ups.status RW STRING",
            "DATAOK", "DUMPDONE"]
        c.send("LOGOUT")
        assert c.line() == "OK Goodbye"
        with pytest.raises(ConnectionError):
            c.line(timeout=5)


def test_changes_are_broadcast_to_every_client_that_wants_them(running: DriverDir) -> None:
    with running.conn("dummy-ups", "u") as a, running.conn("dummy-ups", "u") as b, \
            running.conn("dummy-ups", "u") as quiet:
        for c in (a, b, quiet):
            c.send("DUMPALL")
            c.until(lambda line: line == "DUMPDONE")
        quiet.send("NOBROADCAST")
        assert a.tracking('SET ups.status "OB LB"', "t-1") == 0
        assert 'SETINFO ups.status "OB LB"' in b.until(lambda line: "ups.status" in line)
        # Only the asking connection gets the TRACKING answer.
        assert a.tracking('SET battery.charge "42"', "t-2") == 0
        got = b.until(lambda line: "battery.charge" in line)
        assert got == ['SETINFO battery.charge "42"']
        quiet.send("PING")
        assert quiet.line() == "PONG"  # nothing was broadcast to it in between
        quiet.send("BROADCAST 1")
        quiet.send("PING")
        assert quiet.line() == "PONG"
        assert a.tracking('SET ups.status "OL"', "t-3") == 0
        assert quiet.line() == 'SETINFO ups.status "OL"'


def test_instcmd_and_set_results_like_nut_dummy_ups(running: DriverDir) -> None:
    with running.conn("dummy-ups", "u") as c:
        c.send("NOBROADCAST")
        assert c.tracking("INSTCMD load.off", "c1") == 1
        assert c.tracking("INSTCMD load.off.delay 5", "c2") == 1
        assert c.tracking("INSTCMD no.such.cmd", "c3") == 1
        assert c.tracking('SET brand.new "hello world"', "s1") == 0
        c.send("DUMPVALUE brand.new")
        assert c.until(lambda line: line == "DUMPDONE")[:3] == [
            'SETINFO brand.new "hello world"', "SETAUX brand.new 32",
            "SETFLAGS brand.new RW STRING"]
        assert c.tracking('SET brand.new ""', "s2") == 0
        assert c.value("brand.new") is None
        assert c.tracking('SET driver.name "evil"', "s3") == 2
        assert c.value("driver.name") == "dummy-ups"
        # INSTCMD/SET without TRACKING answer nothing; malformed ones are ignored.
        c.send("INSTCMD load.off", 'SET ups.load "5"', "SET ups.load", "INSTCMD a b c")
        c.send("PING")
        assert c.line() == "PONG"
        assert c.value("ups.load") == "5"


def test_garbage_on_one_connection_does_not_disturb_another(running: DriverDir) -> None:
    with running.conn("dummy-ups", "u") as good, running.conn("dummy-ups", "u") as bad:
        good.send("NOBROADCAST")
        bad.sock.sendall(b"\x00\xff\xfe garbage\n" + b'SET "#oops\n' + b"NOSUCH cmd\n"
                         + b"INSTCMD\n" + b"X" * 200_000 + b"\n" + bytes(range(256)) + b"\n")
        bad.send("PING")
        assert bad.line() == "PONG"
        good.send("PING")
        assert good.line() == "PONG"
        assert good.value("ups.status") == "OL"
    assert running.procs[0].poll() is None


def test_client_that_never_reads_is_dropped_not_waited_for(running: DriverDir) -> None:
    slow = SockConn(running.socket("dummy-ups", "u"))
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    request = b"DUMPALL\n" * 200
    sent = 0
    with running.conn("dummy-ups", "u") as good:
        good.send("NOBROADCAST")
        started = time.monotonic()
        try:
            while sent < 20_000:  # ~3 MB of replies nobody reads
                slow.sock.sendall(request)
                sent += 200
        except OSError:
            pass  # the driver already hung up on us
        good.send("PING")
        assert good.line() == "PONG"
        assert time.monotonic() - started < 15

        def dropped() -> bool:
            try:
                slow.sock.setblocking(False)
                while slow.sock.recv(1 << 20):
                    pass
            except BlockingIOError:
                return False
            except OSError:
                return True
            return True  # EOF

        wait_for(dropped, timeout=15)
    slow.close()
    assert "does not read" in running.log_text()


def test_sigterm_removes_socket_and_pid_file(running: DriverDir) -> None:
    path = running.socket("dummy-ups", "u")
    pidfile = running.state / "dummy-ups-u.pid"
    assert pidfile.read_text().strip() == str(running.procs[0].pid)
    assert running.stop(running.procs[0]) == 0
    assert not path.exists() and not pidfile.exists()


def test_sigterm_with_clients_connected_ends_without_a_traceback(running: DriverDir) -> None:
    """upsd (or any client) still connected at SIGTERM: the driver drops it and
    its task ends on the EOF (cancelled, Python 3.11's streams logged a
    traceback at every stop)."""
    with running.conn("dummy-ups", "u") as c, running.conn("dummy-ups", "u") as d:
        assert c.value("ups.status") == "OL" and d.value("ups.status") == "OL"
        assert running.stop(running.procs[0]) == 0
    log = running.log_text()
    assert "Signal 15: exiting" in log
    assert "Traceback" not in log and "CancelledError" not in log, log


def test_stale_socket_is_replaced(ddir: DriverDir) -> None:
    ddir.write("ups.conf", CONF)
    ddir.write("u.dev", DEV)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(ddir.socket("dummy-ups", "u")))
    stale.close()  # the file stays, nobody listens
    ddir.start("dummy-ups", "u")
    with ddir.conn("dummy-ups", "u") as c:
        assert c.value("ups.status") == "OL"


def test_second_instance_replaces_the_first(ddir: DriverDir) -> None:
    ddir.write("ups.conf", CONF)
    ddir.write("u.dev", DEV)
    first = ddir.start("dummy-ups", "u")
    second = ddir.spawn("driver", "dummy-ups", "-a", "u", "-F", "-u", "root", name="second")
    first.wait(20)
    assert first.returncode == 0
    wait_for(lambda: (ddir.state / "dummy-ups-u.pid").read_text().strip() == str(second.pid))
    wait_for(lambda: ddir.socket("dummy-ups", "u").exists())
    with ddir.conn("dummy-ups", "u") as c:
        c.send("GETPID")
        assert c.line() == f"PID {second.pid}"


def test_socket_path_too_long_is_refused(ddir: DriverDir) -> None:
    name = "u" * 100
    ddir.write("ups.conf", f"[{name}]\n driver = dummy-ups\n port = u.dev\n")
    ddir.write("u.dev", DEV)
    result = ddir.run("driver", "dummy-ups", "-a", name)
    assert result.returncode == 1
    assert "Unix sockets allow at most 107" in result.stderr


def test_control_reload_and_exit(running: DriverDir) -> None:
    ddir = running
    ddir.write("ups.conf", CONF.replace("pollinterval = 1", "pollinterval = 3"))
    result = ddir.run("driver", "dummy-ups", "-a", "u", "-c", "reload")
    assert result.returncode == 0, result.stderr
    with ddir.conn("dummy-ups", "u") as c:
        wait_for(lambda: c.value("driver.parameter.pollinterval") == "3")
    result = ddir.run("driver", "dummy-ups", "-a", "u", "-c", "exit")
    assert result.returncode == 0
    assert ddir.procs[0].wait(10) == 0
    result = ddir.run("driver", "dummy-ups", "-a", "u", "-c", "exit")
    assert result.returncode == 1 and "no running dummy-ups driver" in result.stderr


def test_pid_file_of_a_stranger_is_not_signalled(ddir: DriverDir) -> None:
    """A stale PID file naming some other live process (here: this test) is left alone."""
    ddir.write("ups.conf", CONF)
    ddir.write("u.dev", DEV)
    (ddir.state / "dummy-ups-u.pid").write_text(f"{os.getpid()}\n")
    proc = ddir.start("dummy-ups", "u")  # had it signalled us, pytest would be dead now
    assert (ddir.state / "dummy-ups-u.pid").read_text().strip() == str(proc.pid)
