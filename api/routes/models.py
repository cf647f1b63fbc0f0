"""The trained model out: a cycle's checkpoint, or a pool's best/latest one, streamed as
stored (weights + config + class names + metrics; ``torch.load(weights_only=True)``), or
as ONNX (``format=onnx``: made on demand by a worker job, then streamed)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from alp.db import Cycle
from alp.schemas_predictions import ModelExportStarted
from alp.services import job_rows, models_onnx, models_out
from api import blobs
from api.deps import DB, KEYED, Id, State

router = APIRouter(tags=["models"], dependencies=KEYED)
RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {models_out.MEDIA_TYPE: {}},
          "description": "The checkpoint file (format=pt) or the ONNX file (format=onnx)."},
    202: {"model": ModelExportStarted,
          "description": "format=onnx: the export job (``Location``); ask again when done."},
    304: {"description": "Unchanged (If-None-Match)."},
    404: {"description": "No such cycle/pool, or no trained model yet."},
    409: {"description": "format=onnx: the export failed (the reason); retry=true retries."},
}  # fmt: skip
Format = Query("pt", description="pt: the checkpoint; onnx: one image in, boxes/labels/"
               "scores out (made on demand: 202 with the job until it is ready).")  # fmt: skip
Retry = Query(False, description="format=onnx: queue a new export after a failed one.")


def _send(request: Request, db: DB, st: State, cycle: Cycle, key: str, fmt: str,
          retry: bool) -> Response:  # fmt: skip
    if fmt == "onnx":
        return _send_onnx(request, db, st, cycle, key, retry)
    tag = models_out.etag(cycle, st.storage.size(key))
    headers = {"ETag": tag, "X-Alp-Cycle-Id": str(cycle.id), "Cache-Control": "no-cache"}
    if tag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    name = models_out.file_name(db, cycle)
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    missing = f"cycle {cycle.id}'s model is missing from storage"
    return blobs.blob_response(st.storage, key, models_out.MEDIA_TYPE, headers, missing)


def _send_onnx(request: Request, db: DB, st: State, cycle: Cycle, checkpoint: str,
               retry: bool) -> Response:  # fmt: skip
    stale = float(st.settings.worker_stale_after_s)
    version, key, job = models_onnx.onnx_model(db, st.storage, cycle, checkpoint, stale, retry)
    if job is not None:
        db.commit()  # the job's message is sent after this commit (outbox)
        body = ModelExportStarted(job=job_rows.to_out(job), cycle_id=cycle.id)
        headers = {"Location": f"/api/v1/jobs/{job.id}", "Retry-After": "5",
                   "X-Alp-Cycle-Id": str(cycle.id)}  # fmt: skip
        return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)
    assert key is not None
    tag = models_onnx.etag(version)
    headers = {"ETag": tag, "X-Alp-Cycle-Id": str(cycle.id), "Cache-Control": "no-cache"}
    if tag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{models_onnx.file_name(db, cycle)}"'
    missing = f"cycle {cycle.id}'s ONNX model is missing from storage"
    return blobs.blob_response(st.storage, key, models_onnx.MEDIA_TYPE, headers, missing)


@router.get("/cycles/{cycle_id}/model", response_class=Response, responses=RESPONSES)
def cycle_model(
    cycle_id: Id, request: Request, db: DB, st: State,
    format: Literal["pt", "onnx"] = Format, retry: bool = Retry,
) -> Response:  # fmt: skip
    """The cycle's checkpoint (or ONNX export); 404 (with the reason) until it trained one."""
    cycle, key = models_out.cycle_model(db, st.storage, cycle_id)
    return _send(request, db, st, cycle, key, format, retry)


@router.get("/pools/{pool_id}/model", response_class=Response, responses=RESPONSES)
def pool_model(
    pool_id: Id, request: Request, db: DB, st: State,
    pick: str = Query("best", pattern="^(best|latest)$",
                      description="best: highest validation mAP@0.5; latest: last trained."),
    format: Literal["pt", "onnx"] = Format, retry: bool = Retry,
) -> Response:  # fmt: skip
    """The pool's best or latest checkpoint or ONNX export (``X-Alp-Cycle-Id`` says whose)."""
    cycle, key = models_out.pool_model(db, st.storage, pool_id, pick)
    return _send(request, db, st, cycle, key, format, retry)
