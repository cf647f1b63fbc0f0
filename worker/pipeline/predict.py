"""On-demand predictions (``POST /pools/{id}/predictions``): the chosen cycle's model on
the requested images, in batches, each image's boxes stored (``alp.services.predictions``)
as it goes. Unreadable images are skipped and named in the job message; a lost lease stops
the run (a redelivered message resumes it from the start, overwriting the same rows)."""

from __future__ import annotations

import logging
from typing import Any

from alp.db import Cycle, Image, Job, Pool
from alp.services import job_rows, predictions
from worker import context
from worker.pipeline import modelling
from worker.pipeline.common import device_name

log = logging.getLogger("alp.worker.predict")
BATCH = 8


def run(job_id: int) -> None:
    settings = context.settings()
    with context.session() as db:
        token = job_rows.claim(db, job_id, settings.worker_stale_after_s)
        db.commit()
    if token is None:
        return
    try:
        message = _predict(job_id, token)
    except Exception as exc:  # the job records why; the task itself does not fail
        log.exception("predict job %s failed", job_id)
        with context.session() as db:
            job_rows.finish(db, job_id, token, "failed", "failed", error=str(exc))
            db.commit()
        return
    if message is not None:
        with context.session() as db:
            job_rows.finish(db, job_id, token, "succeeded", message)
            db.commit()


def _predict(job_id: int, token: int) -> str | None:
    cache = context.cache()
    with context.session() as db:
        job = db.get(Job, job_id)
        assert job is not None and job.pool_id is not None
        cycle = db.get(Cycle, int(job.payload["cycle_id"]))
        pool = db.get(Pool, job.pool_id)
        if cycle is None or not cycle.checkpoint_key or pool is None:
            raise RuntimeError("the model's cycle is gone")
        key, classes = cycle.checkpoint_key, list(pool.classes)
        ids = [int(i) for i in job.payload.get("image_ids", [])]
        paths = {i.id: cache.blob(i.storage_key)
                 for i in db.query(Image).filter(Image.id.in_(ids))}  # fmt: skip
    device = device_name(context.settings().device)
    model = modelling.load_model(cache, key, len(classes), device)
    ids = [i for i in ids if i in paths]  # images deleted since the request
    skipped: list[str] = []
    for start in range(0, len(ids), BATCH):
        chunk, images = _load([(i, paths[i]) for i in ids[start : start + BATCH]], skipped)
        rows = _detect(model, chunk, images, classes, device)
        with context.session() as db:
            job = db.get(Job, job_id)
            assert job is not None
            if not job_rows.beat(db, job_id, token, (start + len(chunk)) / max(1, len(ids)),
                                 f"predicted {start + len(chunk)}/{len(ids)} images"):  # fmt: skip
                db.rollback()
                return None  # lease lost: someone else runs it
            for image_id, boxes in rows:
                predictions.store(db, job, image_id, boxes)
            db.commit()
    done = f"predicted {len(ids) - len(skipped)} images with cycle {cycle.index}'s model"
    return done + (f"; skipped unreadable: {', '.join(skipped[:10])}" if skipped else "")


def _load(items: list[tuple[int, Any]], skipped: list[str]) -> tuple[list[int], list[Any]]:
    from models.data.dataset import load_image

    ids, images = [], []
    for image_id, path in items:
        try:
            images.append(load_image(path))
            ids.append(image_id)
        except (OSError, ValueError):
            skipped.append(str(image_id))
    return ids, images


def _detect(model: Any, ids: list[int], images: list[Any], classes: list[str], device: str
            ) -> list[tuple[int, list[dict[str, Any]]]]:  # fmt: skip
    from acquisition.types import ORIGINAL, Requirements

    if not ids:
        return []
    preds = modelling.predict(model, images, ids, Requirements(probs=False), device)
    out = []
    for pred in preds:
        view = pred.views[ORIGINAL]
        boxes = [
            {"x1": round(b[0], 2), "y1": round(b[1], 2), "x2": round(b[2], 2),
             "y2": round(b[3], 2), "label": classes[int(label)], "score": round(float(s), 4)}
            for b, label, s in zip(view.boxes.tolist(), view.labels.tolist(),
                                   view.scores.tolist(), strict=True)
        ]  # fmt: skip
        out.append((int(pred.image_id), boxes))
    return out
