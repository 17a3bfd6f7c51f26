"""The HTTP face of pnut web: /metrics, the JSON API, Server-Sent Events, the page.

How this works
--------------
:func:`make_app` builds an aiohttp application over a :class:`Backend`:
something that has a :class:`~pnut.poller.Fleet` (the state of every UPS),
hands out change subscriptions, and can describe a UPS or run a command
with the caller's credentials.  ``pnut web`` gives it a
:class:`PollerBackend` (upsd servers polled over the network); upsd's
embedded HTTP_LISTEN can give it its own state.  Everything the handlers
decide - status codes for upsd's ERR names, JSON shapes - is in
:mod:`pnut.web.shapes`, without I/O.

Credentials for commands and SETs come with each request (HTTP basic) and
go straight to upsd as USERNAME/PASSWORD on a fresh connection; pnut web
stores none.  A request with an ``Origin`` of another site is refused, so a
page elsewhere cannot use credentials a browser remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Final, Protocol

from aiohttp import BasicAuth, web

from pnut.client.errors import ClientError, ServerError
from pnut.poller.aio import ActionResult, Poller, Subscription, SubscriptionLost, run_action
from pnut.poller.core import Fleet
from pnut.web import shapes
from pnut.web.history import History
from pnut.web.metrics import Exposition

#: Seconds between SSE keep-alive comments (proxies drop idle streams).
KEEPALIVE: Final = 15.0
#: Changes an SSE client may lag behind before it is dropped (it reconnects).
SSE_QUEUE: Final = 5000
#: Event streams served at once; more are refused with 503 (each holds a queue).
MAX_STREAMS: Final = 256
#: Largest request body accepted (a SET value or a command parameter).
MAX_BODY: Final = 4096

BACKEND: web.AppKey[Backend] = web.AppKey("backend")
HISTORY: web.AppKey[History] = web.AppKey("history")
EXPOSITION: web.AppKey[Exposition] = web.AppKey("exposition")
#: Prometheus' text exposition format.
METRICS_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
STREAMS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("streams")


class Backend(Protocol):
    """Where the UPS data comes from."""

    @property
    def fleet(self) -> Fleet: ...

    def subscribe(self, maxsize: int) -> Subscription: ...

    async def details(self, server: str, ups: str) -> dict[str, object]: ...

    async def action(self, server: str, user: str, password: str, ups: str, *,
                     command: str | None = None, param: str | None = None,
                     var: str | None = None, value: str | None = None) -> ActionResult: ...

    async def refresh(self, budget: float | None) -> None:
        """Before a scrape: make sure what is up still answers (``budget`` seconds)."""


class PollerBackend:
    """A :class:`Poller` as a backend: reads use its kept connections."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller

    @property
    def fleet(self) -> Fleet:
        return self.poller.fleet

    def subscribe(self, maxsize: int) -> Subscription:
        return self.poller.subscribe(maxsize)

    async def details(self, server: str, ups: str) -> dict[str, object]:
        client = await self.poller.query(server)
        writable = []
        for name in await client.list_rw(ups):
            try:
                writable.append(shapes.variable(await client.describe_var(ups, name)))
            except ServerError as exc:
                writable.append({"name": name, "error": exc.name})
        commands = [{"name": c.name, "description": c.description}
                    for c in await client.commands(ups)]
        clients = [c.address for c in await client.list_client(ups)]
        return {"writable": writable, "commands": commands, "clients": clients}

    async def action(self, server: str, user: str, password: str, ups: str, *,
                     command: str | None = None, param: str | None = None,
                     var: str | None = None, value: str | None = None) -> ActionResult:
        return await run_action(self.poller, server, user, password, ups, command=command,
                                param=param, var=var, value=value)

    async def refresh(self, budget: float | None) -> None:
        """Probe every server that is up (see :meth:`Poller.probe`): a server
        that died since its last poll fails this scrape's series, not the next."""
        limit = self.poller.reply_timeout
        await self.poller.probe_all(limit if budget is None else min(budget, limit))


# -- handlers ------------------------------------------------------------------------
def _backend(request: web.Request) -> Backend:
    return request.app[BACKEND]


async def metrics(request: web.Request) -> web.Response:
    await _backend(request).refresh(_scrape_budget(request))
    return web.Response(body=request.app[EXPOSITION].render(),
                        headers={"Content-Type": METRICS_TYPE})


def _scrape_budget(request: web.Request) -> float | None:
    """Half the scrape timeout Prometheus announces (the rest is for rendering)."""
    try:
        timeout = float(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds", ""))
    except ValueError:
        return None
    return timeout / 2 if timeout > 0 else None


async def list_ups(request: web.Request) -> web.Response:
    return web.json_response(shapes.fleet(_backend(request).fleet))


def _ups_or_404(request: web.Request) -> tuple[str, str]:
    server, ups = request.match_info["server"], request.match_info["ups"]
    if _backend(request).fleet.get(server, ups) is None:
        raise shapes.http_error(404, "UNKNOWN-UPS", f"no UPS {ups} on {server}")
    return server, ups


async def get_ups(request: web.Request) -> web.Response:
    server, ups = _ups_or_404(request)
    state = _backend(request).fleet.get(server, ups)
    assert state is not None
    body = state.to_json()
    try:
        body.update(await _backend(request).details(server, ups))
    except ClientError as exc:
        raise shapes.client_error(exc) from None
    return web.json_response(body)


async def get_history(request: web.Request) -> web.Response:
    server, ups = _ups_or_404(request)
    series = request.app[HISTORY].series(server, ups)
    return web.json_response(series or {"step": request.app[HISTORY].step, "t": []})


def _credentials(request: web.Request) -> tuple[str, str]:
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        raise shapes.http_error(403, "CROSS-ORIGIN", "request from another site refused")
    header = request.headers.get("Authorization")
    auth = None
    if header:
        with contextlib.suppress(ValueError):
            auth = BasicAuth.decode(header)
    if auth is None or not auth.login:
        # The page sends X-Pnut-Page so that browsers do not pop their own dialog.
        challenge = None if request.headers.get("X-Pnut-Page") else 'Basic realm="pnut"'
        raise shapes.http_error(401, "USERNAME-REQUIRED", "upsd user and password needed "
                                "(HTTP basic authentication)", challenge)
    return auth.login, auth.password


async def _body_value(request: web.Request, key: str) -> str | None:
    if request.content_length and request.content_length > MAX_BODY:
        raise shapes.http_error(413, "TOO-LONG", f"body over {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise shapes.http_error(413, "TOO-LONG", f"body over {MAX_BODY} bytes")
    if not raw.strip():
        return None
    if request.content_type == "application/json":
        try:
            data = json.loads(raw)
        except ValueError:
            raise shapes.http_error(400, "INVALID-ARGUMENT", "body is not JSON") from None
        value = data.get(key) if isinstance(data, dict) else None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise shapes.http_error(400, "INVALID-ARGUMENT", f"{key} must be a string")
        return str(value)
    return raw.decode("utf-8", "replace").strip()


async def _act(request: web.Request, **what: str | None) -> web.Response:
    user, password = _credentials(request)
    server, ups = _ups_or_404(request)
    try:
        result = await _backend(request).action(server, user, password, ups, **what)
    except ClientError as exc:
        raise shapes.client_error(exc) from None
    except ValueError as exc:  # a character upsd's protocol cannot carry
        raise shapes.http_error(400, "INVALID-ARGUMENT", str(exc)) from None
    return web.json_response({"tracking": result.tracking, "result": result.result})


async def post_command(request: web.Request) -> web.Response:
    param = await _body_value(request, "param")
    return await _act(request, command=request.match_info["cmd"], param=param)


async def put_var(request: web.Request) -> web.Response:
    value = await _body_value(request, "value")
    if value is None:
        raise shapes.http_error(400, "INVALID-ARGUMENT", "no value given")
    return await _act(request, var=request.match_info["name"], value=value)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: a ``snapshot`` first, then one ``change`` per change."""
    backend = _backend(request)
    if len(request.app[STREAMS]) >= MAX_STREAMS:
        raise shapes.http_error(503, "TOO-MANY-STREAMS", f"{MAX_STREAMS} event streams open")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    task = asyncio.current_task()
    assert task is not None
    request.app[STREAMS].add(task)
    try:
        with backend.subscribe(SSE_QUEUE) as sub:  # before the snapshot: nothing missed
            fleet = backend.fleet
            await resp.write(shapes.sse("snapshot", shapes.fleet(fleet), fleet.seq))
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE):
                        first = await sub.get()
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                except SubscriptionLost:
                    break  # the browser reconnects and gets a fresh snapshot
                out = b"".join(shapes.sse("change", shapes.change(c, fleet), c.seq)
                               for c in [first, *sub.pending()])
                await resp.write(out)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        request.app[STREAMS].discard(task)
    return resp


def static_dir() -> Path:
    return Path(str(resources.files("pnut.web").joinpath("static")))


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "index.html",
                            headers={"Cache-Control": "no-cache"})


# -- the application -----------------------------------------------------------------
async def _sampler(app: web.Application) -> AsyncIterator[None]:
    history, backend = app[HISTORY], app[BACKEND]

    async def loop() -> None:
        while True:
            history.sample(backend.fleet, time.time())
            await asyncio.sleep(history.step)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _end_streams(app: web.Application) -> None:
    streams = app[STREAMS]
    for task in list(streams):
        task.cancel()


@web.middleware
async def _headers(request: web.Request, handler: shapes.Handler) -> web.StreamResponse:
    resp = await handler(request)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp


def make_app(backend: Backend, history: History | None = None) -> web.Application:
    app = web.Application(middlewares=[_headers], client_max_size=MAX_BODY)
    app[BACKEND] = backend
    app[HISTORY] = history or History()
    app[EXPOSITION] = Exposition(backend.fleet)
    streams: set[asyncio.Task[None]] = set()
    app[STREAMS] = streams
    app.cleanup_ctx.append(_sampler)
    app.on_shutdown.append(_end_streams)
    ups_path = "/api/v1/ups/{server}/{ups}"
    app.add_routes([
        web.get("/", index),
        web.get("/metrics", metrics),
        web.get("/api/v1/ups", list_ups),
        web.get(ups_path, get_ups),
        web.get(ups_path + "/history", get_history),
        web.post(ups_path + "/command/{cmd}", post_command),
        web.put(ups_path + "/var/{name}", put_var),
        web.get("/api/v1/events", events),
        web.static("/static", static_dir()),
    ])
    return app
