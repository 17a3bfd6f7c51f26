"""The MIB-to-NUT mappings pnut knows, in NUT's ``mib2nut[]`` order.

The order decides auto-detection when no sysObjectID matches.  Each
``mib_*`` module builds on :mod:`.mib`; this registry sits above them all.
"""

from __future__ import annotations

from pnut.driver.snmp.mib import MibInfo
from pnut.driver.snmp.mib_apc import APC
from pnut.driver.snmp.mib_cyberpower import CYBERPOWER
from pnut.driver.snmp.mib_ietf import IETF, TRIPPLITE_IETF
from pnut.driver.snmp.mib_mge import MGE

#: pnut's mappings, in NUT's mib2nut[] order.
MIBS: tuple[MibInfo, ...] = (APC, CYBERPOWER, MGE, TRIPPLITE_IETF, IETF)
