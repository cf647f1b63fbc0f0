"""CORS for image bytes only: Label Studio's page (another origin) loads task images.

Only ``GET``/``HEAD`` of ``/api/v1/images/{id}/content`` (signed URLs) and
``/api/v1/dashboard/selections/{id}/thumbnail`` get CORS headers (and preflight answers);
every other path is untouched. Allowed origins: ``ALP_CONTENT_CORS_ORIGINS`` when set, else the
origins of the pools' connected Label Studio servers (read per request, so connecting a
pool takes effect at once). No credentials are allowed cross-origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CONTENT_PATHS = re.compile(r"^/api/v1/(images/\d+/content|dashboard/selections/\d+/thumbnail)$")
MAX_AGE_S = 3600


class ContentCORS:
    """Pure ASGI middleware delegating to Starlette's ``CORSMiddleware`` on content paths."""

    def __init__(self, app: ASGIApp, origins: Callable[[], Collection[str]]) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not CONTENT_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not any(k == b"origin" for k, _ in scope["headers"]):  # same-origin / not a browser
            await self.app(scope, receive, send)
            return
        allowed = await run_in_threadpool(self.origins)
        cors = CORSMiddleware(
            self.app,
            allow_origins=list(allowed),
            allow_methods=["GET", "HEAD"],
            allow_headers=["*"],
            allow_credentials=False,
            expose_headers=["ETag", "Content-Length"],
            max_age=MAX_AGE_S,
        )
        await cors(scope, receive, send)
