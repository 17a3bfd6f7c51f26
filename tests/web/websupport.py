"""Real programs for the web tests: ``pnut web``, Prometheus, headless Chromium.

Each is started on 127.0.0.1 with a random port and ended by PID.  Chromium
is Debian's binary driven by Playwright (never a downloaded browser), with
a fresh profile and no network beyond loopback.  Screenshots go to
``tests/artifacts/web/`` (gitignored), or ``$PNUT_ARTIFACTS``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support import PNUT, REPO, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def artifacts() -> Path:
    path = Path(os.environ.get("PNUT_ARTIFACTS") or REPO / "tests" / "artifacts" / "web")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Web:
    """A ``pnut web`` process; ``url`` is read from what it prints."""

    def __init__(self, servers: list[str], *extra: str, env: dict[str, str] | None = None,
                 ) -> None:
        self.log = Path(tempfile.mkstemp(prefix="pnut-web-", suffix=".log")[1])
        argv = [*PNUT, "web", "--listen", "127.0.0.1:0", "--interval", "0.5",
                "--history-step", "1", *extra]
        for s in servers:
            argv += ["--server", s]
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1",
                                              **(env or {})})
        found = wait_for(lambda: self._url() or self.proc.poll() is not None, timeout=20)
        if self.proc.poll() is not None:
            raise RuntimeError(f"pnut web exited: {self.log.read_text()}")
        self.url: str = found

    def _url(self) -> str | None:
        m = re.search(r"pnut web: (http://\S+/) ", self.log.read_text())
        return m.group(1) if m else None

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def get(self, path: str) -> tuple[int, bytes]:
        return request(self.url.rstrip("/") + path)

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, body
        return json.loads(body)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.unlink(missing_ok=True)

    def __enter__(self) -> Web:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request(url: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 20) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def promtool_check(text: bytes) -> str:
    """``promtool check metrics`` on the text: its complaints ('' when clean)."""
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                          timeout=30)
    problems = (done.stdout + done.stderr).decode().strip()
    return problems if done.returncode or problems else ""


class Prometheus:
    """Debian's Prometheus scraping the given targets every second."""

    def __init__(self, targets: list[str], scheme: str = "http") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pnut-prom-"))
        self.port = free_port()
        conf = self.dir / "prometheus.yml"
        conf.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: pnut\n"
            f"    scheme: {scheme}\n"
            + ("    tls_config:\n      insecure_skip_verify: true\n" if scheme == "https" else "")
            + f"    static_configs:\n      - targets: {json.dumps(targets)}\n")
        self.log = self.dir / "prometheus.log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={self.dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        wait_for(lambda: self.proc.poll() is not None or
                 request(f"http://127.0.0.1:{self.port}/-/ready", timeout=2)[0] == 200,
                 timeout=30, interval=0.2)
        if self.proc.poll() is not None:
            raise RuntimeError(self.log.read_text())

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": promql}))
        status, body = request(url)
        data = json.loads(body)
        assert status == 200 and data["status"] == "success", body
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def value(self, promql: str, timeout: float = 20) -> float:
        """The single value of a query, waiting until it has one."""
        result = wait_for(lambda: self.query(promql), timeout=timeout, interval=0.3)
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def prometheus(targets: list[str], scheme: str = "http") -> Iterator[Prometheus]:
    prom = Prometheus(targets, scheme)
    try:
        yield prom
    finally:
        prom.close()


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A Playwright browser context on Debian's Chromium, fresh profile."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="pnut-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 860}, ignore_https_errors=True)
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
