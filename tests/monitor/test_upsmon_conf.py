"""upsmon.conf: every directive, and every bad line refused with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnut.config.notify import STOCK_MESSAGES, NotifyFlag, NotifyType
from pnut.config.parser import ConfigError
from pnut.config.upsmon_conf import load_upsmon_conf, parse_upsmon_conf
from pnut.monitor.events import format_message

GOOD = """\
MONITOR ups1@10.0.0.1:3494 2 admin "pw with space" primary
MONITOR ups2 1 mon pw slave
MONITOR ups3@[::1] 0 mon pw MASTER
MINSUPPLIES 2
SHUTDOWNCMD "/sbin/shutdown -h +0"
SHUTDOWNEXIT no
NOTIFYCMD /usr/sbin/upssched
NOTIFYMSG onbatt "On battery: %s"
NOTIFYFLAG ONBATT SYSLOG+WALL+EXEC
NOTIFYFLAG cal IGNORE
POLLFREQ 3
POLLFREQALERT 1
POLLFAIL_LOG_THROTTLE_MAX 10
HOSTSYNC 20
DEADTIME 25
POWERDOWNFLAG /etc/killpower
RBWARNTIME 600
NOCOMMWARNTIME 60
FINALDELAY 0
OFFDURATION 10
RUN_AS_USER nutmon
CERTPATH /etc/nut/certs
CERTIDENT "my cert" "db pw"
CERTHOST 10.0.0.1 "upsd cert" 1 0
CERTVERIFY 1
FORCESSL 0
debug_min 2
"""


def test_every_directive() -> None:
    conf = parse_upsmon_conf(GOOD)
    m1, m2, m3 = conf.monitors
    assert (m1.system, m1.upsname, m1.host, m1.port, m1.power_value, m1.username, m1.password,
            m1.primary, m1.lineno) == ("ups1@10.0.0.1:3494", "ups1", "10.0.0.1", 3494, 2, "admin",
                                       "pw with space", True, 1)
    assert (m2.host, m2.port, m2.primary) == ("localhost", 3493, False)
    assert (m3.host, m3.primary, m3.power_value) == ("::1", True, 0)
    assert conf.minsupplies == 2 and conf.total_power == 3
    assert conf.shutdowncmd == "/sbin/shutdown -h +0" and conf.shutdownexit == -1
    assert conf.notifycmd == "/usr/sbin/upssched"
    assert conf.messages[NotifyType.ONBATT] == "On battery: %s"
    assert conf.messages[NotifyType.ONLINE] == STOCK_MESSAGES[NotifyType.ONLINE]
    assert conf.flags[NotifyType.ONBATT] == NotifyFlag.SYSLOG | NotifyFlag.WALL | NotifyFlag.EXEC
    assert conf.flags[NotifyType.CAL] == NotifyFlag.IGNORE
    assert conf.flags[NotifyType.ONLINE] == NotifyFlag.SYSLOG | NotifyFlag.WALL
    assert (conf.pollfreq, conf.pollfreqalert, conf.hostsync, conf.deadtime) == (3, 1, 20, 25)
    assert conf.powerdownflag == "/etc/killpower"
    assert (conf.rbwarntime, conf.nocommwarntime, conf.finaldelay) == (600, 60, 0)
    assert conf.pollfail_log_throttle_max == 10 and conf.offduration == 10
    assert conf.run_as_user == "nutmon" and conf.certpath == "/etc/nut/certs"
    assert conf.certident == ("my cert", "db pw")
    assert [(h.host, h.certname, h.verify, h.force_ssl) for h in conf.certhosts] == [
        ("10.0.0.1", "upsd cert", True, False)]
    assert conf.certverify is True and conf.forcessl is False and conf.debug_min == 2
    # Later-NUT directives are accepted but flagged as having no effect.
    assert any("OFFDURATION" in w for w in conf.warnings)


def test_defaults_are_nut_2_8_0() -> None:
    conf = parse_upsmon_conf("MONITOR u@h 1 u p secondary\n")
    assert (conf.minsupplies, conf.pollfreq, conf.pollfreqalert, conf.hostsync, conf.deadtime,
            conf.finaldelay, conf.rbwarntime, conf.nocommwarntime, conf.shutdownexit) == (
        1, 5, 5, 15, 15, 5, 43200, 300, 0)
    assert conf.flags[NotifyType.CAL] == NotifyFlag.SYSLOG
    assert all(conf.flags[t] == NotifyFlag.SYSLOG | NotifyFlag.WALL
               for t in NotifyType if t is not NotifyType.CAL)
    assert conf.powerdownflag is None and conf.notifycmd is None
    assert any("no SHUTDOWNCMD" in w for w in conf.warnings)


@pytest.mark.parametrize(("line", "problem"), [
    # NUT: "Fatal error: unusable configuration"
    ("MONITOR u@h 1 pw primary", "old-style MONITOR"),
])
def test_bad_line_names_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "upsmon.conf"
    path.write_text(f"# header\nMONITOR ups@h 1 u p primary\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_upsmon_conf(path)
    assert info.value.path == str(path) and info.value.lineno == 3
    assert problem in info.value.problem
    assert str(info.value).startswith(f"{path}:3: ")


@pytest.mark.parametrize(("line", "warning"), [
    ("pollfreq 5", "unknown directive 'pollfreq' is ignored (directives are upper-case: POLLFREQ)"),
    ("SHUTDOWNCOMMAND x", "unknown directive 'SHUTDOWNCOMMAND' is ignored "
                          "(did you mean 'SHUTDOWNCMD'?)"),
])
def test_unknown_directive_is_a_warning_as_in_nut(tmp_path: Path, line: str, warning: str) -> None:
    path = tmp_path / "upsmon.conf"
    path.write_text(f"# header\nMONITOR ups@h 1 u p primary\n{line}\nSHUTDOWNCMD x\n")
    conf = load_upsmon_conf(path)
    assert conf.warnings == [f"{path}:3: {warning}"]
    assert conf.pollfreq == 5 and conf.shutdowncmd == "x"


@pytest.mark.parametrize(("line", "warning"), [
    ("MONITOR u@h 1 u p primay", "MONITOR u@h: 'primay' is not primary or secondary: this UPS "
                                 "is monitored as secondary, as NUT does (did you mean "
                                 "'primary'?)"),
    ("MONITOR ups@h 1 u p primary", "MONITOR ups@h: duplicate UPS, line ignored (as NUT does)"),
    ("NOTIFYFLAG ONBATT SYSLOG+WAL", "unknown notify flag 'WAL' is ignored (as NUT does) "
                                     "(did you mean 'WALL'?)"),
    ("NOTIFYFLAG ONBAT SYSLOG", "unknown notify event 'ONBAT', line ignored (as NUT does) "
                                "(did you mean 'ONBATT'?)"),
    ("NOTIFYMSG NOSUCH text", "unknown notify event 'NOSUCH', line ignored (as NUT does)"),
    ("POLLFREQ 7s", "POLLFREQ '7s' is read as 7, as NUT reads it"),
    ("POLLFREQ often", "POLLFREQ has a non-numeric value 'often': the line is ignored"),
    ("POLLFREQ 0", "POLLFREQ 0 is below the minimum 1: using 1"),
    ("HOSTSYNC -5", "HOSTSYNC -5 is below the minimum 0: using 0"),
    # Issue 11, second round: every line NUT's upsmon reads past, read as NUT reads it.
    ("POLLFREQ -5", "POLLFREQ -5 is negative: the line is ignored"),
    ("MINSUPPLIES -1", "MINSUPPLIES -1 is negative: the line is ignored"),
    ("MINSUPPLIES", "MINSUPPLIES needs 1 argument(s), got 0: the line is ignored"),
    ("MONITOR u@h -1 u p primary", "MONITOR u@h: invalid power value '-1': the line is ignored"),
    ("MONITOR u@h one u p primary", "MONITOR u@h: power value 'one' is read as 0, as NUT reads it "
     "(0: monitored, but not powering this machine)"),
    ("MONITOR u@h 1 u p primary extra", "MONITOR takes 5 argument(s): the words after them are "
     "ignored, as NUT ignores them"),
    ("MONITOR @h 1 u p primary", "MONITOR @h: upscli_splitname: missing UPS name before '@' "
     "(NUT counts its power value 1 and never reaches it): the line is ignored"),
    ("MONITOR u@[::1 1 u p primary", "MONITOR u@[::1: upscli_splitaddr: missing closing bracket "
     "in [domain literal] (NUT counts its power value 1 and never reaches it): the line is "
     "ignored"),
    ("MONITOR u@h", "MONITOR needs 4 argument(s), got 1: the line is ignored"),
    ("FORCESSL maybe", "FORCESSL 'maybe' is read as 0, as NUT reads it"),
    ("FORCESSL yes", "FORCESSL 'yes' is read as 1 (NUT's atoi reads it as 0: write 1)"),
    ("CERTVERIFY 2", "certificate verification is on for h but CERTPATH is not set: upsd's "
     "certificate is checked against the system's CA certificates"),
    ("SHUTDOWNCMD /sbin/shutdown -h +0", "SHUTDOWNCMD has 3 words: read as the command "
     "'/sbin/shutdown -h +0' (NUT runs only '/sbin/shutdown'; quote the command)"),
    ("NOTIFYMSG ONBATT on battery", "NOTIFYMSG takes 2 argument(s): the words after them are "
     "ignored, as NUT ignores them"),
    ("ALARMCRITICAL maybe", "ALARMCRITICAL: expected a boolean (yes/no), got 'maybe': the line "
     "is ignored"),
    # pnut's own directives: NUT ignores the line whatever it holds
    ("CERTPIN h 12:34", "CERTPIN needs the SHA-256 fingerprint of upsd's certificate: 64 hex "
     "digits, colons allowed (as 'pnut cert show' prints it): the line is ignored"),
    ("NOTIFY_LOAD_ABOVE lots", "NOTIFY_LOAD_ABOVE: expected a number, got 'lots': the line is "
     "ignored"),
    ('NOTIFYCMD "/usr/sbin/upssched', "missing closing quote: the value is read to the end of "
     "this line (NUT reads on into the lines after it); close it with \", or end the line with "
     "a backslash to continue it"),
    ('NOTIFYMSG ONBATT "UPS #1 on battery"', "'#' inside quotes is read as part of the value "
     "(NUT drops this line as a parse error and reads what follows the '#' as a line of its "
     "own); write \\# to be clear"),
])
def test_lines_nut_accepts_are_warnings(tmp_path: Path, line: str, warning: str) -> None:
    """Issue 11: what NUT logs and carries on with starts under pnut too, with a
    warning that names the line (NUT says nothing about a misspelt role)."""
    path = tmp_path / "upsmon.conf"
    path.write_text(f"# header\nMONITOR ups@h 1 u p primary\n{line}\nSHUTDOWNCMD x\n")
    conf = load_upsmon_conf(path)
    assert conf.warnings == [f"{path}:3: {warning}"]
    pollfreq = {"POLLFREQ 7s": 7, "POLLFREQ 0": 1}.get(line)
    assert conf.pollfreq == (pollfreq or 5)  # 5: NUT's default, kept for a line ignored
    if "primay" in line:
        assert [m.primary for m in conf.monitors] == [True, False]
    if "NOTIFYCMD" in line or "#" in line:  # read to the end of its line; the next line counts
        assert conf.notifycmd == "/usr/sbin/upssched" or \
            conf.messages[NotifyType.ONBATT] == "UPS #1 on battery"
        assert conf.shutdowncmd == "x"
    powers = {"MONITOR u@h one u p primary": [1, 0], "MONITOR u@h 1 u p primary extra": [1, 1],
              "MONITOR u@h 1 u p primay": [1, 1]}
    assert [m.power_value for m in conf.monitors] == powers.get(line, [1])
    assert conf.minsupplies == 1  # a negative MINSUPPLIES is ignored, as NUT ignores it
    assert conf.forcessl is (line == "FORCESSL yes")
    if line.startswith("SHUTDOWNCMD"):  # the later SHUTDOWNCMD x wins
        assert conf.shutdowncmd == "x"
    if "duplicate" in warning:
        assert len(conf.monitors) == 1
    if "WAL'" in warning:
        assert conf.flags[NotifyType.ONBATT] == NotifyFlag.SYSLOG


@pytest.mark.parametrize(("text", "command"), [
    # quoted: one word, NUT's unescaping, exactly NUT's string
    ('SHUTDOWNCMD "/bin/sh -c \'echo \\"a b\\" > /tmp/x\'"', "/bin/sh -c 'echo \"a b\" > /tmp/x'"),
    # unquoted over several words: the rest of the line as written, quotes kept
    ("SHUTDOWNCMD /bin/sh -c \"echo 'a b' > /tmp/x\"  # why", "/bin/sh -c \"echo 'a b' > /tmp/x\""),
    ("SHUTDOWNCMD\t/bin/echo a\\ b  'c  d'", "/bin/echo a\\ b  'c  d'"),
    ('NOTIFYCMD /bin/sh -c \\\n "echo \\"$1\\""', '/bin/sh -c  "echo \\"$1\\""'),
])
def test_command_keeps_its_quoting(text: str, command: str) -> None:
    """The shell gets the command with its quotes: NUT's own string when it
    is quoted, else the rest of the line as written (the words joined with
    spaces lost the quotes)."""
    conf = parse_upsmon_conf(f"MONITOR ups@h 1 u p primary\n{text}\n")
    key = text.split()[0].lower()
    assert getattr(conf, key) == command
    quoted = text.split(None, 1)[1].startswith('"')
    assert any("NUT runs only" in w for w in conf.warnings) is not quoted


def test_no_monitor_line_starts_only_as_nut_does() -> None:
    """NUT refuses to start only when the power values sum to less than
    MINSUPPLIES; with MINSUPPLIES 0 it runs, monitoring nothing."""
    with pytest.raises(ConfigError, match="no MONITOR line: insufficient power configured"):
        parse_upsmon_conf("MINSUPPLIES 1\nSHUTDOWNCMD x\n")
    conf = parse_upsmon_conf("MINSUPPLIES 0\nSHUTDOWNCMD x\n")
    assert conf.monitors == [] and conf.warnings == [
        "upsmon.conf: no MONITOR line: upsmon monitors nothing"]


def test_unsplittable_ups_name_counts_its_power_as_in_nut() -> None:
    """NUT keeps a MONITOR line whose name it cannot split (never reached) and
    counts its power value, so it starts: pnut starts too, and warns."""
    conf = parse_upsmon_conf("MONITOR u@h:99999 1 u p primary\nSHUTDOWNCMD x\n")
    assert conf.monitors == [] and conf.total_power == 1
    assert conf.warnings[0].startswith("upsmon.conf:1: MONITOR u@h:99999: ")
    with pytest.raises(ConfigError, match="insufficient power"):
        parse_upsmon_conf("MONITOR u@h:99999 1 u p primary\nMINSUPPLIES 2\n")


def test_insufficient_power_refused() -> None:
    with pytest.raises(ConfigError, match="sum of power values 1 < MINSUPPLIES 2"):
        parse_upsmon_conf("MONITOR u 1 u p primary\nMINSUPPLIES 2\n")


def test_check_flag_mode_needs_no_monitor() -> None:
    conf = parse_upsmon_conf("POWERDOWNFLAG /x\n", require_monitor=False)
    assert conf.powerdownflag == "/x"


def test_later_nut_event_names_are_accepted_with_a_warning() -> None:
    conf = parse_upsmon_conf("MONITOR u 1 u p primary\nNOTIFYFLAG OFF SYSLOG+EXEC\n"
                             "NOTIFYMSG BYPASS \"x %s\"\n")
    assert sum("never raised" in w for w in conf.warnings) == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_upsmon_conf(confdir=str(tmp_path))


@pytest.mark.parametrize(("template", "out"), [
    ("UPS %s on battery", "UPS u@h on battery"),
    ("no name", "no name"),
    ("100%% sure: %s", "100% sure: u@h"),
    ("%s and %s", "u@h and "),
    ("odd %d %", "odd %d %"),
])
def test_format_message(template: str, out: str) -> None:
    assert format_message(template, "u@h") == out
