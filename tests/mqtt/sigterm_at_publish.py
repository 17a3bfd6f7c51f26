"""Run ``pnut mqtt`` in this process and SIGTERM it as a heartbeat is published.

Usage: ``python sigterm_at_publish.py HOPS [pnut mqtt arguments]``.  The
third heartbeat handed to paho sends SIGTERM to this process, ``HOPS``
turns of the event loop later.  With HOPS 0 or 1 the cancellation that
the old stop path (``task.cancel`` from the signal handler) delivered
arrived in the loop turn in which aiomqtt's ``wait_for`` for that publish
completed; Python 3.11's ``wait_for`` swallowed it and the heartbeat loop
went on for ever (tests/mqtt/test_mqtt_bridge.py::test_sigterm_as_a_publish_completes).
The broker, upsd and aiomqtt are real; only the moment of the signal is chosen.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from pnut.cli import mqtt as cli
from pnut.mqtt import bridge

HEARTBEAT_TO_STOP_AT = 3


def main(argv: list[str]) -> int:
    hops = int(argv[0])
    real = bridge.broker_client
    beats = 0

    def later(left: int) -> None:
        if left <= 0:
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            asyncio.get_running_loop().call_soon(later, left - 1)

    def hooked(*args: Any, **kwargs: Any) -> Any:
        client = real(*args, **kwargs)
        paho = client._client  # aiomqtt's paho client: where a publish is handed over
        handover = paho.publish

        def publish(topic: str, *rest: Any, **kw: Any) -> Any:
            nonlocal beats
            info = handover(topic, *rest, **kw)
            if topic.endswith("/heartbeat"):
                beats += 1
                if beats == HEARTBEAT_TO_STOP_AT:
                    later(hops)
            return info

        paho.publish = publish
        return client

    bridge.broker_client = hooked  # type: ignore[assignment]
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
