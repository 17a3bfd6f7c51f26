"""ups.conf: every line NUT's readers (upsd, upsdrvctl, the drivers) read past
is read the same way, or more safely, with a file:line warning (issue 11)."""

from __future__ import annotations

import pytest

from pnut.config.parser import parse_text
from pnut.config.ups_conf import UpsConf, parse_ups_conf

FIRST = "[first]\n  driver = dummy-ups\n  port = first.dev\n"


def ups(text: str) -> UpsConf:
    return parse_ups_conf(parse_text(text.encode(), "ups.conf"), "ups.conf")


def settings(conf: UpsConf) -> dict[str, dict[str, str]]:
    return {u.name: u.settings for u in conf.upses}


@pytest.mark.parametrize(("text", "warning", "upses"), [
    # NUT (common/upsconf.c) skips a line of two words, or three without '=', silently
    (FIRST + "  what ever\n",
     "ups.conf:4: expected 'key = value' or a single flag word, got 'what ever' (NUT skips it "
     "silently): the line is ignored",
     {"first": {"driver": "dummy-ups", "port": "first.dev"}}),
    # NUT reads the first word after '=' only
    (FIRST + "  desc = Server room\n",
     "ups.conf:4: desc = Server: the words after the value are ignored, as NUT ignores them "
     "(quote a value with spaces)",
     {"first": {"driver": "dummy-ups", "port": "first.dev", "desc": "Server"}}),
    # NUT takes the first word as the header
    ("[first] # the rack UPS\n  driver = dummy-ups\n  port = first.dev\n[second] rack\n"
     "  driver = dummy-ups\n  port = second.dev\n",
     "ups.conf:4: the words after [second] are ignored, as NUT ignores them",
     {"first": {"driver": "dummy-ups", "port": "first.dev"},
      "second": {"driver": "dummy-ups", "port": "second.dev"}}),
    # NUT would give [my ups]'s lines to [first]: its driver and port overridden
    (FIRST + "[my ups]\n  driver = usbhid-ups\n  port = auto\n",
     "ups.conf:4: malformed section header '[my ups]': the lines up to the next section are "
     "ignored (NUT would give them to the section before)",
     {"first": {"driver": "dummy-ups", "port": "first.dev"}}),
    (FIRST + "[]\n  driver = usbhid-ups\n  port = auto\n",
     "ups.conf:4: empty section name []: the lines up to the next section are ignored",
     {"first": {"driver": "dummy-ups", "port": "first.dev"}}),
    (FIRST + "[a/b]\n  driver = usbhid-ups\n  port = auto\n",
     "ups.conf:4: UPS name 'a/b' has a space or '/', which no driver socket can carry: this "
     "section is ignored",
     {"first": {"driver": "dummy-ups", "port": "first.dev"}}),
    ("[default]\n  driver = dummy-ups\n  port = d.dev\n",
     "ups.conf:1: NUT's documentation reserves the UPS name 'default' (NUT 2.8.0 takes it, and "
     "so does pnut): rename it",
     {"default": {"driver": "dummy-ups", "port": "d.dev"}}),
    # NUT adds a repeated section's settings to the first one
    (FIRST + "[first]\n  port = other.dev\n  desc = x\n",
     "ups.conf:4: UPS [first] is defined twice: its settings are added to the first one, as "
     "NUT does",
     {"first": {"driver": "dummy-ups", "port": "other.dev", "desc": "x"}}),
    # NUT's upsd: "UPS name [FIRST] is already in use!"
    (FIRST + "[FIRST]\n  driver = usbhid-ups\n  port = auto\n",
     "ups.conf:4: UPS [FIRST] differs from [first] only in case: this section is ignored, as "
     "NUT's upsd ignores it",
     {"first": {"driver": "dummy-ups", "port": "first.dev"}}),
])
def test_lines_nut_reads_past_are_warnings(text: str, warning: str,
                                           upses: dict[str, dict[str, str]]) -> None:
    conf = ups(text)
    assert conf.warnings == [warning]
    assert settings(conf) == upses
