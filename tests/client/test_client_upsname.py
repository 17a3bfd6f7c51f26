"""upsname[@hostname[:port]] parsing (pnut.protocol.upsname), NUT's grammar."""

from __future__ import annotations

import pytest

from pnut.client import UpsName, UpsNameError, parse_hostport, parse_upsname


@pytest.mark.parametrize(("text", "expected"), [
    ("ups", UpsName("ups", "localhost", 3493)),
    ("ups@nas", UpsName("ups", "nas", 3493)),
    ("ups@nas:3494", UpsName("ups", "nas", 3494)),
    ("ups@127.0.0.1:1", UpsName("ups", "127.0.0.1", 1)),
    ("ups@[::1]", UpsName("ups", "::1", 3493)),
    ("ups@[::1]:65535", UpsName("ups", "::1", 65535)),
    ("ups@[fe80::1%eth0]:3493", UpsName("ups", "fe80::1%eth0", 3493)),
])
def test_valid(text: str, expected: UpsName) -> None:
    assert parse_upsname(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "upscli_splitname: can't parse empty string"),
    ("@nas", "upscli_splitname: missing UPS name before '@'"),
    ("ups@", "upscli_splitaddr: can't parse empty string"),
    ("ups@nas:", "upscli_splitaddr: no port specified after ':' separator"),
    ("ups@nas:0", "upscli_splitaddr: no port specified after ':' separator"),
    ("ups@nas:65536", "upscli_splitaddr: no port specified after ':' separator"),
    ("ups@nas:34x", "upscli_splitaddr: no port specified after ':' separator"),
    ("ups@[::1", "upscli_splitaddr: missing closing bracket in [domain literal]"),
    ("ups@::1", "upscli_splitaddr: IPv6 addresses must be written in brackets: [address]:port"),
])
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(UpsNameError) as exc:
        parse_upsname(text)
    assert str(exc.value) == message


def test_round_trip_and_hostport() -> None:
    for text in ("ups@nas:3493", "ups@[::1]:3494"):
        assert str(parse_upsname(text)) == text
    assert parse_hostport("[::1]:3494") == ("::1", 3494)
    assert parse_hostport("nas") == ("nas", 3493)
