"""`pnut demo` starts the web page and prints its URL and the /metrics URL."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from websupport import request

from support import free_port, wait_for


def test_demo_prints_working_page_and_metrics_urls(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pnut", "demo", "--port", str(free_port()), "--no-upsmon",
             "--web-port", str(free_port())],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        text = lambda: log.read_text(errors="replace")  # noqa: E731
        wait_for(lambda: "pnut demo is running" in text(), timeout=40)
        page = re.search(r"web page: +(http://127\.0\.0\.1:\d+/) ", text())
        metrics = re.search(r"metrics: +(http://127\.0\.0\.1:\d+/metrics)\n", text())
        assert page and metrics, text()
        status, body = request(page.group(1))
        assert status == 200 and b"pnut" in body
        wait_for(lambda: b'nut_battery_charge{server=' in request(metrics.group(1))[1]
                 and b'ups="sim"' in request(metrics.group(1))[1], timeout=20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
