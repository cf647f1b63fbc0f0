"""``/healthz`` and ``/readyz`` (no auth) and Prometheus ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from alp.services import health, metrics
from api.deps import DB, State

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(
    st: State, wait: float = Query(2.0, ge=0, le=30, description="Seconds to await a worker.")
) -> JSONResponse:
    with st.sessions() as db:
        database = await run_in_threadpool(health.database_status, db)
    worker = await run_in_threadpool(health.worker_status, st.sessions, st.celery, wait)
    ok = database == "ok"
    body = {
        "status": "ok" if ok and worker["status"] == "ok" else ("degraded" if ok else "down"),
        "database": database,
        "worker": worker,
    }
    return JSONResponse(body, 200 if ok else 503)


@router.get("/readyz")
async def readyz(st: State) -> JSONResponse:
    """Whether this API process can serve requests: the database answers and the blob
    store (``ALP_STORAGE_URL``) is usable. 503 names what is not. Unlike ``/healthz`` it
    does not look at workers."""
    with st.sessions() as db:
        database = await run_in_threadpool(health.database_status, db)
    storage = await run_in_threadpool(health.storage_status, st.storage)
    ok = database == "ok" and storage == "ok"
    body = {"status": "ready" if ok else "not ready", "database": database, "storage": storage}
    return JSONResponse(body, 200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
def prometheus(db: DB, st: State) -> Response:
    """Database counts and broker queue depths (``alp_queue_depth``); workers serve their
    own stage metrics (``ALP_WORKER_METRICS_PORT``, docs/deploy.md)."""
    return Response(metrics.render(db, st.celery), media_type=CONTENT_TYPE_LATEST)
