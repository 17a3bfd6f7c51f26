"""A silent upsd is noticed after NUT's 5 s read timeout, not 10 s.

Found by the chaos runs (tests/chaos): a secondary whose link went silent
while on battery shut down after the battery was empty, where NUT's upsmon,
giving up on an answer after 5 s (upsclient's DEFAULT_NETWORK_TIMEOUT),
made it.  Here upsd is stopped (SIGSTOP): connections stay open, nothing
answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

from pnut.monitor import Notification, Options, parse_upsmon_conf
from pnut.monitor.daemon import LOGOUT_TIMEOUT, READ_TIMEOUT, Upsmon
from support import Ups, stack


def test_silent_upsd_gives_commbad_after_the_read_timeout() -> None:
    seen: list[tuple[float, str]] = []
    with stack([Ups("u", "ups.status: OB\n", extra={"pollinterval": "1"})],
               upsd="pnut", driver="pnut") as st:
        upsd = st.procs[-1]
        conf = parse_upsmon_conf(
            f'MONITOR u@127.0.0.1:{st.port} 1 admin "s3cret pw" primary\n'
            "SHUTDOWNCMD /bin/true\nPOLLFREQ 1\nPOLLFREQALERT 1\nDEADTIME 30\n")

        def record(n: Notification) -> None:
            seen.append((time.monotonic(), n.type.value))

        async def scenario() -> float:
            mon = Upsmon(conf, logging.getLogger("test.upsmon"),
                         Options(demo=True, install_signals=False, on_event=record))
            task = asyncio.create_task(mon.run())
            try:
                async with asyncio.timeout(20):
                    while not any(w == "ONBATT" for _, w in seen):
                        await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)  # between two polls
                os.kill(upsd.pid, signal.SIGSTOP)
                stopped = time.monotonic()
                try:
                    async with asyncio.timeout(20):
                        while not any(w == "COMMBAD" for _, w in seen):
                            await asyncio.sleep(0.05)
                finally:
                    os.kill(upsd.pid, signal.SIGCONT)
                commbad = next(t for t, w in seen if w == "COMMBAD")
                return commbad - stopped
            finally:
                mon.stop()
                await asyncio.wait_for(task, 15)

        took = asyncio.run(scenario())
    # The request starts within a poll interval, then NUT's 5 s read timeout
    # runs out; the old 10 s timeout took 10-11 s.
    assert READ_TIMEOUT == 5.0
    assert 4.5 <= took < 7.5, took


def test_shutdown_goes_on_when_the_logout_gets_no_answer() -> None:
    """A LOGOUT unanswered on the way to SHUTDOWNCMD must not stop the shutdown.

    Found by chaos seed 26: a secondary saw FSD, then its link was cut; the
    LOGOUT's timeout escaped as a traceback and upsmon exited without ever
    running SHUTDOWNCMD.
    """
    printed: list[str] = []
    with stack([Ups("u", "ups.status: OL\n")], upsd="pnut", driver="pnut") as st:
        upsd = st.procs[-1]
        conf = parse_upsmon_conf(
            f'MONITOR u@127.0.0.1:{st.port} 1 admin "s3cret pw" secondary\n'
            "SHUTDOWNCMD /bin/true\nFINALDELAY 0\n")

        async def scenario() -> float:
            mon = Upsmon(conf, logging.getLogger("test.upsmon"),
                         Options(demo=True, install_signals=False, print_fn=printed.append))
            link = mon.links[f"u@127.0.0.1:{st.port}"]
            assert await link.connect() and link.authed
            os.kill(upsd.pid, signal.SIGSTOP)
            try:
                start = time.monotonic()
                await mon.shutdown()
                return time.monotonic() - start
            finally:
                os.kill(upsd.pid, signal.SIGCONT)

        took = asyncio.run(scenario())
    assert printed == ["upsmon (demo): would now run SHUTDOWNCMD: /bin/true"]
    assert took < LOGOUT_TIMEOUT + 1.0, took
