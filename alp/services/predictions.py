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


def coco_results(
    db: Session,
    pool_id: int,
    split: str | None,
    images: list[dict[str, Any]],
    cat_id: dict[str, int],
) -> dict[str, list[dict[str, Any]]]:
    """The pool's stored predictions (of ``split`` when given) as COCO results, for a COCO
    export whose ``images`` entries carry ``id`` and ``alp_image_id``.

    Returns ``predictions``: ``{image_id, category_id, bbox: [x, y, w, h], score,
    alp_cycle_id}`` with the export's own image and category ids (boxes of labels that are
    no longer classes are left out), and ``prediction_images``: entries like ``images`` for
    the predicted images that are not in ``images`` (not labeled), with ids continuing after
    them so that every id is unique across both lists."""
    q = select(Prediction, Image).join(Image, Image.id == Prediction.image_id)
    q = q.where(Prediction.pool_id == pool_id)
    if split is not None:
        q = q.where(Image.split == split)
    ids = {e["alp_image_id"]: e["id"] for e in images}
    extra: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for pred, img in db.execute(q.order_by(Image.id)):
        if img.id not in ids:
            ids[img.id] = len(images) + len(extra) + 1
            extra.append(
                dict(id=ids[img.id], file_name=img.filename, width=img.width,
                     height=img.height, alp_image_id=img.id, alp_split=img.split)
            )  # fmt: skip
        for b in pred.boxes:
            if b.get("label") not in cat_id:
                continue
            w, h = b["x2"] - b["x1"], b["y2"] - b["y1"]
            results.append(
                dict(image_id=ids[img.id], category_id=cat_id[b["label"]],
                     bbox=[b["x1"], b["y1"], w, h], score=b.get("score"),
                     alp_cycle_id=pred.cycle_id)
            )  # fmt: skip
    return {"predictions": results, "prediction_images": extra}
