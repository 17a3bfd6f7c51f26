"""Follow several upsd servers and get their changes: the core of ``pnut web``
and ``pnut mqtt``.

>>> async def main():                                     # doctest: +SKIP
...     poller = Poller(parse_servers(["nut://localhost", "nut://nas:3493"]))
...     with poller.subscribe() as changes:
...         task = asyncio.create_task(poller.run())
...         async for change in changes:
...             print(change.server, change.ups, change.kind, change.set)

:mod:`pnut.poller.core` is the sans-IO part (URLs, the poll operation, the
:class:`Fleet` state and its :class:`Change` events); :mod:`pnut.poller.aio`
runs it on asyncio.
"""

from pnut.poller.aio import ActionResult, Poller, Subscription, SubscriptionLost, run_action
from pnut.poller.core import (
    STATUS_FLAGS,
    Change,
    Fleet,
    ServerSpec,
    ServerState,
    UpsPoll,
    UpsState,
    parse_server,
    parse_servers,
    poll_server,
    read_server_file,
    status_flags,
)

__all__ = [
    "STATUS_FLAGS", "ActionResult", "Change", "Fleet", "Poller", "ServerSpec", "ServerState",
    "Subscription", "SubscriptionLost", "UpsPoll", "UpsState", "parse_server",
    "parse_servers", "poll_server", "read_server_file", "run_action", "status_flags",
]
