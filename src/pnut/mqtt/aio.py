"""asyncio helpers shared by the MQTT bridge and the watcher.

Why :func:`publish` exists: aiomqtt waits for every publish with
``asyncio.wait_for``, and Python 3.11's ``wait_for`` returns normally -
swallowing the cancellation - when a cancel arrives in the loop turn in
which the publish completes (fixed in 3.12, where ``wait_for`` is built
on ``asyncio.timeout``).  A cancelled loop then went on publishing, and a
``TaskGroup`` waiting for it waited for ever: ``pnut mqtt`` did not exit
on SIGTERM.  :func:`publish` raises the swallowed cancellation again, so
a publish is a cancellation point as it should be.  Stopping itself does
not rely on it: see the ``stop`` event in :mod:`pnut.mqtt.bridge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    import aiomqtt

T = TypeVar("T")


async def publish(client: aiomqtt.Client, topic: str, payload: str, *, qos: int,
                  retain: bool) -> None:
    """``client.publish`` that never swallows a cancellation of the calling task."""
    task = asyncio.current_task()
    asked = task.cancelling() if task is not None else 0
    await client.publish(topic, payload, qos=qos, retain=retain)
    if task is not None and task.cancelling() > asked:
        raise asyncio.CancelledError  # cancelled while the publish completed


async def nap(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()


class DaemonExecutor(ThreadPoolExecutor):
    """The event loop's default executor for ``pnut mqtt``: each call in a
    daemon thread of its own, which the exit does not wait for.

    aiomqtt runs paho's blocking connect there; to a broker that drops the
    SYN (a host down, a firewall) it blocks up to paho's connect timeout
    (5 s), and asyncio.run's shutdown waited for it after a SIGTERM. The
    loop needs it only for that and for resolving host names: a thread per
    call is cheap at that rate.  (A ThreadPoolExecutor only by type, as
    the loop wants one; its pool stays empty.)
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=run, name="pnut-mqtt-blocking", daemon=True).start()
        return future
