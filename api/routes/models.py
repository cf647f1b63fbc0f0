"""The trained model out: a cycle's checkpoint, or a pool's best/latest one, streamed as
stored (weights + config + class names + metrics; ``torch.load(weights_only=True)``)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from alp.db import Cycle
from alp.services import models_out
from api import blobs
from api.deps import DB, KEYED, Id, State

router = APIRouter(tags=["models"], dependencies=KEYED)
RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {models_out.MEDIA_TYPE: {}}, "description": "The checkpoint file."},
    304: {"description": "Unchanged (If-None-Match)."},
    404: {"description": "No such cycle/pool, or no trained model yet."},
}


def _send(request: Request, db: DB, st: State, cycle: Cycle, key: str) -> Response:
    tag = models_out.etag(cycle, st.storage.size(key))
    headers = {"ETag": tag, "X-Alp-Cycle-Id": str(cycle.id), "Cache-Control": "no-cache"}
    if tag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    name = models_out.file_name(db, cycle)
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    missing = f"cycle {cycle.id}'s model is missing from storage"
    return blobs.blob_response(st.storage, key, models_out.MEDIA_TYPE, headers, missing)


@router.get("/cycles/{cycle_id}/model", response_class=Response, responses=RESPONSES)
def cycle_model(cycle_id: Id, request: Request, db: DB, st: State) -> Response:
    """The cycle's checkpoint; 404 (with the reason) until it trained one."""
    cycle, key = models_out.cycle_model(db, st.storage, cycle_id)
    return _send(request, db, st, cycle, key)


@router.get("/pools/{pool_id}/model", response_class=Response, responses=RESPONSES)
def pool_model(
    pool_id: Id, request: Request, db: DB, st: State,
    pick: str = Query("best", pattern="^(best|latest)$",
                      description="best: highest validation mAP@0.5; latest: last trained."),
) -> Response:  # fmt: skip
    """The pool's best or latest checkpoint (``X-Alp-Cycle-Id`` says whose)."""
    cycle, key = models_out.pool_model(db, st.storage, pool_id, pick)
    return _send(request, db, st, cycle, key)
