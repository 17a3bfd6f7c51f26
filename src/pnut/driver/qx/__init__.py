"""nutdrv_qx: the Q* (Megatec and descendants) protocol family.

:mod:`.transport` moves bytes, :mod:`.engine` runs a dialect table,
:mod:`.blazer` and the other modules hold the dialects; :data:`DIALECTS`
is the order in which auto-detection tries them (NUT's order, minus the
dialects pnut does not implement: Masterguard, Ablerex).
"""

from __future__ import annotations

from pnut.driver.qx.bestups import BESTUPS
from pnut.driver.qx.blazer import HUNNOX, MEGATEC, MEGATEC_OLD, MUSTEK, Q1, ZINTO
from pnut.driver.qx.engine import Dialect
from pnut.driver.qx.mecer import MECER
from pnut.driver.qx.voltronic import VOLTRONIC
from pnut.driver.qx.voltronic_qs import VOLTRONIC_QS
from pnut.driver.qx.voltronic_qs_hex import VOLTRONIC_QS_HEX

#: Auto-detection order (NUT's subdriver_list; Q1 is the fallback).
DIALECTS: tuple[Dialect, ...] = (VOLTRONIC, VOLTRONIC_QS, VOLTRONIC_QS_HEX, MUSTEK, MEGATEC_OLD,
                                 BESTUPS, MECER, MEGATEC, ZINTO, HUNNOX, Q1)
