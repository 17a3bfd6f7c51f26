"""ups.conf's USB matching (regexes, whole field, case-insensitive) as NUT does it."""

from __future__ import annotations

import subprocess

import pytest

from pnut.driver.usb.transport import DeviceInfo, Matcher
from support import needs
from usbhid.emusupport import C_DRIVER, FIXTURES, Workdir, available, emulator, pnut_cmd

REASON = available()
INFO = DeviceInfo(0x051D, 0x0002, 0x0106, "American Power Conversion", " BK650M2-CH ",
                  "9B2019A14274", "001", "002")

CASES = [
    ({}, True),
    ({"vendorid": "051d"}, True),
    ({"vendorid": "051D"}, True),          # case-insensitive
    ({"vendorid": "051"}, False),          # the whole field must match
    ({"vendorid": "0764"}, False),
    ({"productid": "000[0-3]"}, True),
    ({"vendor": "american.*"}, True),
    ({"product": "BK650M2-CH"}, True),     # blanks around the string are ignored
    ({"product": "Back-UPS.*"}, False),
    ({"serial": "9B2019A14274"}, True),
    ({"serial": "XXX"}, False),
    ({"bus": "001"}, True),
    ({"bus": "1"}, False),
]


@pytest.mark.parametrize(("options", "expected"), CASES)
def test_matcher(options: dict[str, str], expected: bool) -> None:
    assert Matcher(dict(options)).matches(INFO) is expected


def test_bad_regex_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="vendor"):
        Matcher({"vendor": "("})


def _starts(c_driver: bool, options: dict[str, str]) -> bool:
    work = Workdir(options, ("pollonly",))
    try:
        with emulator(FIXTURES / "apc-bk650m2.json") as emu:
            cmd = [str(C_DRIVER), "-u", "root"] if c_driver else [*pnut_cmd(), "usbhid-ups"]
            proc = subprocess.run([*cmd, "-a", "test", "-d", "1"], env=work.env(emu),
                                  capture_output=True, text=True, timeout=60)
    finally:
        work.close()
    assert "Traceback" not in proc.stderr
    return proc.returncode == 0


@needs(REASON or (None if C_DRIVER.exists() else "NUT's usbhid-ups is not installed"))
@pytest.mark.parametrize("options", [{"vendorid": "0764"}, {"product": "bk650m2-ch"},
                                     {"serial": "9B2019.*", "vendorid": "051d"}])
def test_same_choice_as_nut(options: dict[str, str]) -> None:
    assert _starts(False, options) == _starts(True, options)
