"""upsmon and upssched: the power-state machine, notifications, timers.

To run upsmon inside another program (``pnut demo`` does it as a child
process instead: ``pnut upsmon -F --confdir DIR``)::

    from pnut.monitor import Options, parse_upsmon_conf, run
    conf = parse_upsmon_conf(text)           # raises ConfigError(file, line)
    run(conf, options=Options(demo=True))    # blocks; SHUTDOWNCMD is printed

or, inside a running event loop, ``await Upsmon(conf, logger, options).run()``
and ``.stop()`` to end it.  ``Options.on_event`` receives every
:class:`~pnut.monitor.events.Notification`.

Exports are loaded lazily, so that ``upssched`` (run once per event) does
not import the asyncio daemon.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run": "pnut.monitor.daemon",
    "Options": "pnut.monitor.daemon",
    "Upsmon": "pnut.monitor.daemon",
    "Notification": "pnut.monitor.events",
    "NotifyType": "pnut.config.notify",
    "parse_upsmon_conf": "pnut.config.upsmon_conf",
    "load_upsmon_conf": "pnut.config.upsmon_conf",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pnut.monitor' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
