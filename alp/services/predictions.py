"""On-demand predictions: request a job (validated, nothing stored on bad input), store
and read per-image results. No torch: the ``predict`` job runs on the gpu queue
(``worker.pipeline.predict``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, Image, Job, Prediction, utcnow
from alp.errors import NotFound
from alp.schemas_predictions import ImagePredictionOut, PredictionRequest
from alp.services import models_out, pools
from alp.storage import Storage

KIND = "predict"


def request(
    db: Session, storage: Storage, pool_id: int, req: PredictionRequest
) -> tuple[Job, Cycle, int]:
    """Queue a ``predict`` job; returns (job, cycle, image count). ``NotFound`` when the
    pool, the cycle (or its model) or any image is not in this pool. Flushes; the job is
    sent after the caller commits."""
    pools.get_pool(db, pool_id)
    if req.cycle_id is None:
        cycle, _ = models_out.pool_model(db, storage, pool_id, "best")
    else:
        cycle, _ = models_out.cycle_model(db, storage, req.cycle_id)
        if cycle.pool_id != pool_id:
            raise NotFound(f"cycle {req.cycle_id} not found in pool {pool_id}")
    if req.image_ids is None:
        ids = list(db.scalars(select(Image.id).where(Image.pool_id == pool_id,
                                                     Image.state == "unlabeled")))  # fmt: skip
    else:
        ids = sorted(set(req.image_ids))
        found = set(db.scalars(select(Image.id).where(Image.pool_id == pool_id,
                                                      Image.id.in_(ids))))  # fmt: skip
        missing = [i for i in ids if i not in found]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            raise NotFound(f"images not in pool {pool_id}: {shown}")
    job = Job(kind=KIND, pool_id=pool_id, cycle_id=None, state="queued", message="queued",
              payload={"cycle_id": cycle.id, "image_ids": ids}, heartbeat_at=utcnow())  # fmt: skip
    db.add(job)
    db.flush()
    outbox.enqueue(db, jobs.PREDICT, job.id)
    return job, cycle, len(ids)


def store(db: Session, job: Job, image_id: int, boxes: list[dict[str, Any]]) -> None:
    """Replace the image's stored prediction (flushes)."""
    row = db.get(Prediction, image_id)
    if row is None:
        row = Prediction(image_id=image_id, pool_id=job.pool_id)
        db.add(row)
    row.cycle_id, row.job_id = job.payload.get("cycle_id"), job.id
    row.boxes, row.created_at = boxes, utcnow()
    db.flush()


def for_image(db: Session, image_id: int) -> ImagePredictionOut | None:
    row = db.get(Prediction, image_id)
    return None if row is None else ImagePredictionOut.model_validate(row)
