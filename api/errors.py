"""Error handlers: every error is ``{"detail": "<human readable reason>"}`` with a 4xx.

Besides the domain errors, two driver-level failures that only bad input can cause are
mapped here once for every route: a number beyond what the database driver can bind
(``OverflowError``, SQLite) and a value the database refuses (``DataError``: PostgreSQL's
"bigint out of range", NUL in text, ...). Both are 422; the request's session is rolled
back, so nothing of it is stored.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from alp.errors import AlpError

log = logging.getLogger("alp.api")


def _loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "")]  # "" = model-level
    return ".".join(parts) or "request"


def validation_message(exc: RequestValidationError) -> str:
    msgs = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        msgs.append(f"{_loc(tuple(err.get('loc', ())))}: {msg}")
    return "; ".join(msgs) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(AlpError)
    async def _alp(_: Request, exc: AlpError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc)}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return JSONResponse({"detail": "conflicts with existing data"}, 409)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        log.info("overflow: %s", exc)
        return JSONResponse(
            {"detail": "a number in the request is out of range (integers are 64-bit)"}, 422
        )

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        log.info("data error: %s", reason)
        return JSONResponse({"detail": f"a value in the request cannot be stored: {reason}"}, 422)
