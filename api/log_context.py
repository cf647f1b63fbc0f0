"""Per-request log ids for ``ALP_LOG_FORMAT=json`` (:mod:`alp.logs`): ``request_id`` (the
client's ``X-Request-ID``, else a new one) and the ``pool_id``/``cycle_id``/``job_id`` named
by the request path, bound for everything the request logs."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Receive, Scope, Send

from alp import logs

_PATH_IDS = re.compile(r"/(pools|cycles|jobs)/(\d+)(?=/|$)")
_NAMES = {"pools": "pool_id", "cycles": "cycle_id", "jobs": "job_id"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def path_ids(path: str) -> dict[str, int]:
    return {_NAMES[m[1]]: int(m[2]) for m in _PATH_IDS.finditer(path)}


class LogContext:
    """Pure ASGI middleware (it never buffers a body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        with logs.bound(request_id=rid, **path_ids(scope.get("path", ""))):
            await self.app(scope, receive, send)
