"""Servers for the client tests: one NUT stack and one pnut stack per session.

The fixtures live in conftest.py; this module holds what test modules import.

Both run the same UPSes and users, so every client test can run against
NUT's C upsd + dummy-ups and against pnut's, and the CLI tests can compare
pnut's tools with Debian's on the same server.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from support import FIXTURES, Stack, Ups, requires_nut

USERS = """\
[admin]
  password = adminpw
  actions = SET FSD
  instcmds = ALL
  upsmon primary

[spaced]
  password = "s3cret pw"
  actions = SET
  instcmds = ALL

[monuser]
  password = mon
  upsmon secondary

[setonly]
  password = setpw
  actions = SET
"""

#: dummy's model has the characters a value must survive: quote, backslash.
DUMMY_DEV = """\
ups.status: OB LB
battery.charge: 43
battery.runtime: 720
ups.model: "Quote \\" back\\\\slash"
"""

FSD_DEV = "ups.status: OL\nbattery.charge: 100\n"

#: The two upsds every client test runs against (NUT's must be there: support.requires_nut).
IMPLS = [pytest.param("nut", marks=requires_nut), "pnut"]


def upses() -> list[Ups]:
    apc = (FIXTURES / "APC__Smart-UPS_750__usbhid-ups__2.8.0__01.dev").read_text()
    return [
        Ups("apc", apc, desc="Main UPS"),
        Ups("dummy", DUMMY_DEV),
        Ups("fsdups", FSD_DEV, desc="FSD target"),
        # pnut's simulated UPS has ENUM and RANGE variables, which dummy-ups
        # cannot declare; it runs under both upsds (same driver socket protocol).
        Ups("sim", "", desc="Simulated", driver="sim"),
    ]


def get_stack(stacks: dict[str, Stack], impl: str) -> Stack:
    if impl not in stacks:
        st = Stack(upses(), users=USERS)
        try:
            for ups in st.upses:
                st.start_driver(ups, impl if ups.driver == "dummy-ups" else "pnut")
            st.start_upsd(impl)
        except BaseException:
            st.close()
            raise
        stacks[impl] = st
    return stacks[impl]


@dataclass
class Server:
    """One running stack and which upsd it runs."""

    impl: str
    stack: Stack

    @property
    def port(self) -> int:
        return self.stack.port

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"
