"""Label Studio: connect a pool, status, forced sync, disconnect, and the webhook receiver."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Header

from alp.labelstudio import connect, sync
from alp.labelstudio.schemas import LabelStudioConnect, LabelStudioStatus, SyncQueued
from api.deps import DB, KEYED, Id, IdQuery, State

router = APIRouter(tags=["labelstudio"], dependencies=KEYED)
public = APIRouter(tags=["labelstudio"])  # the webhook: checked by its shared secret


@router.post(
    "/pools/{pool_id}/labelstudio",
    status_code=201,
    response_model=LabelStudioStatus,
    responses={400: {}, 409: {}, 502: {}},
)
def connect_pool(pool_id: Id, body: LabelStudioConnect, db: DB, state: State) -> LabelStudioStatus:
    connect.connect_pool(db, state.settings, pool_id, body)
    db.commit()
    return connect.status(db, pool_id)


@router.get("/pools/{pool_id}/labelstudio", response_model=LabelStudioStatus)
def get_status(pool_id: Id, db: DB) -> LabelStudioStatus:
    return connect.status(db, pool_id)


@router.post("/pools/{pool_id}/labelstudio/sync", status_code=202, response_model=SyncQueued)
def force_sync(pool_id: Id, db: DB) -> SyncQueued:
    connect.request_sync(db, pool_id, full=True)
    db.commit()
    return SyncQueued(pool_id=pool_id)


@router.delete("/pools/{pool_id}/labelstudio", status_code=204)
def disconnect(pool_id: Id, db: DB) -> None:
    connect.disconnect_pool(db, pool_id)
    db.commit()


@public.post("/webhooks/label-studio", status_code=202, responses={401: {}})
def webhook(
    db: DB,
    pool_id: IdQuery,
    payload: dict[str, Any] = Body(...),
    x_alp_webhook_secret: str | None = Header(None),
) -> dict[str, bool]:
    """Label Studio's webhook: checked by the shared secret header; only queues a sync."""
    queued = sync.accept_webhook(db, pool_id, x_alp_webhook_secret, payload)
    db.commit()
    return {"queued": queued}
