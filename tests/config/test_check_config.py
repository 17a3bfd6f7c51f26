"""``pnut check-config`` and the same checks at every start (issue 11, item 6).

Run as a real process on files in a temp dir; the expected lines are the
whole output, so a check that stops reporting, or reports twice, fails.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import PNUT, requires_nut, use_nut, wait_for

BROKEN = {
    "nut.conf": "MODE = standalone\nMODE=netservr\n",
    "ups.conf": ("[myups]\n  drvier = dummy-ups\n  port = a.dev\n"
                 "[sim1]\n  driver = sim\n  port = x\n  pollintreval = 2\n"
                 "[typo]\n  driver = dumy-ups\n  port = a.dev\n"),
    "upsd.conf": "LISTEN 0.0.0.0\nMAXAEG 5\n",
    "upsd.users": ("[admin]\n  password = secret\n  actions = SET FDS\n"
                   "  instcmds = beeper.of load.off\n  upsmon primary\n"),
    "upsmon.conf": ("MONITOR myups@localhost 1 admni secret primary\n"
                    "MONITOR sim1@192.0.2.5 1 admin secret secondary\n"
                    'SHUTDOWNCDM "/sbin/poweroff"\n'),
    "upssched.conf": "CMDSCRIPT /bin/true\nPIPEFN /tmp/p\nLOKFN /tmp/l\n",
}


@pytest.fixture
def confdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cc-") as tmp:
        yield Path(tmp)


def _write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (base / name).write_text(text)
        (base / name).chmod(0o640)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PNUT, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=env)


def test_every_problem_is_one_line_with_file_and_line(confdir: Path) -> None:
    _write(confdir, BROKEN)
    (confdir / "upsd.users").chmod(0o644)
    result = _run("check-config", "--confdir", str(confdir), "-u", "root")
    assert result.returncode == 1
    d = str(confdir)
    expected = [
        f"{d}/nut.conf:1: error: no blanks around '=' in MODE=... (nut.conf is read by the "
        "shell, which would run a command instead)",
        f"{d}/nut.conf:2: error: MODE=netservr is not one of none, standalone, netserver, "
        "netclient (did you mean 'netserver'?)",
        f"{d}/ups.conf:1: error: UPS [myups] has no 'driver' setting, so nothing will run it "
        "('drvier' on line 2: did you mean 'driver'?)",
        f"{d}/ups.conf:7: error: UPS [sim1]: 'pollintreval' is not a setting of the sim driver "
        "(did you mean 'pollinterval'?)",
        f"{d}/ups.conf:9: error: UPS [typo]: no driver named 'dumy-ups' (pnut's or in /lib/nut) "
        "(did you mean 'dummy-ups'?)",
        f"{d}/upsd.conf:2: warning: unknown directive 'MAXAEG' is ignored "
        "(did you mean 'MAXAGE'?)",
        f"{d}/upsd.conf:1: warning: LISTEN 0.0.0.0: clients on other hosts that do not use "
        "STARTTLS send their passwords in clear text; pnut offers STARTTLS with its own "
        "certificate - add 'REQUIRE_TLS yes' to refuse clear text, or 'REQUIRE_TLS no' to "
        "accept it knowingly (docs/security.md)",
        f"{d}/upsd.users:3: warning: user [admin]: unknown action 'FDS' grants nothing "
        "(did you mean 'FSD'?)",
        f"{d}/upsd.users: warning: is readable by every user of this machine and holds "
        "passwords: chmod 0640 (group nut)",
    ]
    if use_nut():  # the instant command list is NUT's installed cmdvartab
        expected.append(f"{d}/upsd.users:1: warning: user [admin]: instcmds: 'beeper.of' is "
                        "not an instant command NUT knows (/usr/share/nut/cmdvartab) "
                        "(did you mean 'beeper.off'?)")
    expected += [
        f"{d}/upsmon.conf:3: warning: unknown directive 'SHUTDOWNCDM' is ignored "
        "(did you mean 'SHUTDOWNCMD'?)",
        f"{d}/upsmon.conf: warning: no SHUTDOWNCMD defined",
        f"{d}/upsmon.conf:1: warning: MONITOR myups@localhost: user 'admni' is not in "
        f"{d}/upsd.users (did you mean 'admin'?)",
        f"{d}/upsmon.conf:2: warning: MONITOR sim1@192.0.2.5: the password goes to 192.0.2.5 "
        "in clear text unless its upsd offers STARTTLS; 'FORCESSL 1' (with CERTVERIFY 1 and "
        "CERTPATH) makes sure it never does",
        f"{d}/upssched.conf:3: warning: unknown directive 'LOKFN' is ignored "
        "(did you mean 'LOCKFN'?)",
    ]
    errors = 5
    expected.append(f"{d}: {errors} error(s), {len(expected) - errors} warning(s)")
    assert result.stdout.splitlines() == expected


def test_a_clean_directory_passes(confdir: Path) -> None:
    _write(confdir, {
        "nut.conf": "MODE=standalone\n",
        "ups.conf": "[sim]\n  driver = sim\n  port = sim\n",
        "upsd.conf": "LISTEN 127.0.0.1 3493\n",
        "upsd.users": "[mon]\n  password = pw\n  upsmon primary\n",
        "upsmon.conf": 'MONITOR sim@localhost 1 mon pw primary\nSHUTDOWNCMD "/sbin/poweroff"\n',
    })
    env = dict(os.environ, NUT_CONFPATH=str(confdir))
    result = _run("check-config", env=env)
    assert result.returncode == 0, result.stdout
    assert result.stdout == (f"{confdir}: no problems found in nut.conf, ups.conf, upsd.conf, "
                             "upsd.users, upsmon.conf\n")


def test_clear_text_beyond_loopback_is_fine_when_said_so(confdir: Path) -> None:
    # -u root: upsd stays root, so replacing its own certificate later is root's too
    # (the run-as user's check: tests/tls/test_upsd_tls_unavailable.py)
    _write(confdir, {"upsd.conf": "LISTEN 0.0.0.0\nREQUIRE_TLS no\n"})
    assert _run("check-config", "--confdir", str(confdir), "-u", "root").returncode == 0
    _write(confdir, {"upsd.conf": "LISTEN 0.0.0.0\nREQUIRE_TLS yes\n"})
    assert _run("check-config", "--confdir", str(confdir), "-u", "root").returncode == 0


def test_syntax_errors_and_empty_directories(confdir: Path) -> None:
    assert _run("check-config", "--confdir", str(confdir)).stdout.startswith(
        f"{confdir}: error: no NUT configuration files here")
    _write(confdir, {"upsd.conf": 'STATEPATH "/run/nut\nMAXAGE 5\n'})
    result = _run("check-config", "--confdir", str(confdir))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [  # read as written: a warning, still exit 1
        f"{confdir}/upsd.conf:1: warning: missing closing quote: the value is read to the end "
        "of this line (NUT reads on into the lines after it); close it with \", or end the line "
        "with a backslash to continue it",
        f"{confdir}: 0 error(s), 1 warning(s)"]


def test_lines_nut_reads_past_are_listed_as_warnings_and_fail_the_check(confdir: Path) -> None:
    """Issue 11: the daemons start with these lines (NUT does); check-config still
    names every one, and exits 1 for them."""
    _write(confdir, {
        "ups.conf": "[sim] rack\n  driver = sim\n  port = sim\n",
        "upsd.conf": "LISTEN 127.0.0.1 3493 extra\nALLOW_NO_DEVICE perhaps\n",
        "upsd.users": "[mon]\n  password = pw\n  upsmon primary\n",
        "upsmon.conf": 'MONITOR sim@localhost 1 mon pw primary\nFORCESSL maybe\n'
                       'SHUTDOWNCMD "/sbin/poweroff\n',
        "upssched.conf": "CMDSCRIPT /bin/true\nPIPEFN /tmp/p\nLOCKFN /tmp/l\n"
                         "AT ONBATT * START-TIMER t 5m\n",
    })
    result = _run("check-config", "--confdir", str(confdir))
    assert result.returncode == 1
    d = str(confdir)
    assert result.stdout.splitlines() == [
        f"{d}/ups.conf:1: warning: the words after [sim] are ignored, as NUT ignores them",
        f"{d}/upsd.conf:1: warning: LISTEN takes an address and optionally a port: the words "
        "after the port are ignored, as NUT ignores them",
        f"{d}/upsd.conf:2: warning: ALLOW_NO_DEVICE: expected a boolean (yes/no), got "
        "'perhaps': the line is ignored",
        f"{d}/upsmon.conf:3: warning: missing closing quote: the value is read to the end of "
        "this line (NUT reads on into the lines after it); close it with \", or end the line "
        "with a backslash to continue it",
        f"{d}/upsmon.conf:2: warning: FORCESSL 'maybe' is read as 0, as NUT reads it",
        f"{d}/upssched.conf:4: warning: AT ONBATT * START-TIMER: time '5m' is read as 5 "
        "seconds, as NUT reads it",
        f"{d}: 0 error(s), 6 warning(s)",
    ]


def test_upsdrvctl_reports_a_misspelt_driver_line_and_fails(confdir: Path) -> None:
    _write(confdir, {"ups.conf": "[u]\n  drvier = dummy-ups\n  port = u.dev\n"})
    result = _run("upsdrvctl", "--confdir", str(confdir), "--statepath", str(confdir), "start")
    assert result.returncode == 1
    assert (f"{confdir}/ups.conf:1: error: UPS [u] has no 'driver' setting, so nothing will run "
            "it ('drvier' on line 2: did you mean 'driver'?)") in result.stderr.splitlines()
    assert f"{confdir}/ups.conf:1: UPS [u] has no 'driver' setting: not started" in result.stderr


@requires_nut
def test_upsdrvctl_hands_confdir_to_nuts_c_drivers(confdir: Path) -> None:
    """NUT's dummy-ups finds ups.conf and its .dev file only through NUT_CONFPATH."""
    state = confdir / "s"
    state.mkdir()
    _write(confdir, {"ups.conf": "[u]\n  driver = dummy-ups\n  port = u.dev\n",
                     "u.dev": "ups.status: OL\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUT_")}
    args = ("upsdrvctl", "-u", "root", "--confdir", str(confdir), "--statepath", str(state))
    try:
        result = _run(*args, "start", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        wait_for(lambda: (state / "dummy-ups-u").exists(), timeout=10)
        assert (state / "dummy-ups-u.pid").exists()
    finally:
        stop = _run(*args, "stop", env=env)
    assert stop.returncode == 0, stop.stderr
    assert not (state / "dummy-ups-u").exists()


@pytest.mark.parametrize("mode", ["none", "netclient", "standalone"])
def test_errors_in_files_the_mode_never_reads_are_warnings(confdir: Path, mode: str) -> None:
    """Debian's NUT installs MODE=none and an upsmon.conf without MONITOR: NUT's
    upsmon would refuse to start, but nothing starts it.  An error in a file the
    MODE leaves unread is a warning that names the MODE; under a MODE that
    starts the program it stays an error."""
    _write(confdir, {
        "nut.conf": f"MODE={mode}\n",
        "ups.conf": "[ups]\n  port = auto\n",
        "upsmon.conf": "MINSUPPLIES 1\nSHUTDOWNCMD /sbin/poweroff\n",
    })
    result = _run("check-config", "--confdir", str(confdir))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    ups = [line for line in lines if line.startswith(f"{confdir}/ups.conf")]
    mon = [line for line in lines if line.startswith(f"{confdir}/upsmon.conf")]
    assert len(ups) == 1 and len(mon) == 1, lines
    unread = {"none": ("the drivers are", "upsmon is"), "netclient": ("the drivers are",),
              "standalone": ()}[mode]
    for line, programs in ((ups[0], "the drivers are"), (mon[0], "upsmon is")):
        if programs in unread:
            assert ": warning: " in line and line.endswith(
                f"(with nut.conf MODE={mode}, {programs} not started, so this stops nothing "
                "until MODE changes)"), line
        else:
            assert ": error: " in line and "MODE=" not in line, line
    assert "insufficient power configured" in mon[0]
    errors = 2 - len(unread)
    assert lines[-1] == f"{confdir}: {errors} error(s), {len(lines) - 1 - errors} warning(s)"
