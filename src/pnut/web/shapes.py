"""JSON shapes and HTTP status choices of pnut web, as data.  No I/O.

The JSON schemas are stable: fields may be added, never renamed or removed
(docs/web.md).  upsd's ERR names map onto HTTP statuses through
:data:`ERR_STATUS`; the body always carries the ERR name and NUT's text.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from pnut.client.errors import ClientError, NutConnectionError, ServerError
from pnut.client.models import Variable
from pnut.poller.core import Change, Fleet

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: upsd ERR name -> HTTP status (anything else: 502).
ERR_STATUS: Final = {
    "ACCESS-DENIED": 403,
    "USERNAME-REQUIRED": 401,
    "PASSWORD-REQUIRED": 401,
    "INVALID-USERNAME": 401,
    "INVALID-PASSWORD": 401,
    "UNKNOWN-UPS": 404,
    "VAR-NOT-SUPPORTED": 404,
    "CMD-NOT-SUPPORTED": 404,
    "INVALID-ARGUMENT": 400,
    "INVALID-VALUE": 400,
    "TOO-LONG": 400,
    "READONLY": 409,
    "SET-FAILED": 502,
    "INSTCMD-FAILED": 502,
    "DATA-STALE": 503,
    "DRIVER-NOT-CONNECTED": 503,
    "FEATURE-NOT-CONFIGURED": 501,
    "FEATURE-NOT-SUPPORTED": 501,
}


def http_error(status: int, name: str, message: str,
               challenge: str | None = None) -> web.HTTPException:
    """An aiohttp exception whose body is ``{"error": name, "message": ...}``."""
    body = json.dumps({"error": name, "message": message})
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return HttpError(status, text=body, content_type="application/json", headers=headers)


class HttpError(web.HTTPException):
    """An HTTP error of any status (aiohttp has one class per status)."""

    def __init__(self, status: int, **kwargs: object) -> None:
        self.status_code = status
        super().__init__(**kwargs)  # type: ignore[arg-type]  # aiohttp's own keywords


def client_error(exc: ClientError) -> web.HTTPException:
    """What upsd (or the way to it) said, as an HTTP error."""
    if isinstance(exc, ServerError):
        status = ERR_STATUS.get(exc.name, 502)
        return http_error(status, exc.name, exc.nut_text,
                          'Basic realm="pnut"' if status == 401 else None)
    name = "UPSD-UNREACHABLE" if isinstance(exc, NutConnectionError) else "UPSD-PROTOCOL"
    return http_error(502, name, str(exc))


def fleet(f: Fleet) -> dict[str, object]:
    """``GET /api/v1/ups`` and the SSE snapshot."""
    return {
        "seq": f.seq,
        "servers": [{"server": label, "up": s.up, "error": s.error, "last_poll": s.last_poll}
                    for label, s in f.servers.items()],
        "upses": [u.to_json() for u in f.upses()],
    }


def change(c: Change, f: Fleet) -> dict[str, object]:
    """One SSE ``change`` event: what changed plus the UPS's status now."""
    state = f.get(c.server, c.ups)
    return {"seq": c.seq, "time": c.time, "server": c.server, "ups": c.ups, "kind": c.kind,
            "up": c.up, "reason": c.reason, "set": dict(c.set), "unset": list(c.unset),
            "status": state.status if state is not None else [],
            "description": state.description if state is not None else ""}


def variable(v: Variable) -> dict[str, object]:
    """A writable variable as in ``upsrw --json``."""
    return {"name": v.name, "value": v.value, "description": v.description,
            "type": v.type.kind, "flags": list(v.type.words), "max_length": v.type.max_length,
            "enum": list(v.enum) if v.type.enum else None,
            "ranges": [{"low": r.low, "high": r.high} for r in v.ranges]
            if v.type.range else None}


def sse(event: str, data: object, ident: int | None = None) -> bytes:
    """One Server-Sent Event (JSON on a single data line)."""
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
