"""Evaluation stage: the cycle's checkpoint on the pool's labeled validation split
(VOC mAP@0.5, COCO AP, per class) into ``Cycle.metrics``."""

from __future__ import annotations

from alp.db import Cycle, Pool
from alp.services import cycles
from worker import context
from worker.pipeline import data, modelling
from worker.pipeline.common import StageRun, device_name

# stored by the training stage, kept by evaluation
TRAINING_METRICS = ("class_quality", "train_images", "model", "pretrained")


def run(job_id: int) -> None:
    run = StageRun.claim(job_id, "evaluating")
    if run is None:
        return
    with run:
        _evaluate(run)


def _evaluate(run: StageRun) -> None:
    with context.session() as db:
        cycle = db.get(Cycle, run.cycle_id)
        pool = db.get(Pool, run.pool_id)
        assert cycle is not None and pool is not None
        key = cycle.checkpoint_key
        classes = list(pool.classes)
        kept = {k: v for k, v in (cycle.metrics or {}).items() if k in TRAINING_METRICS}
        manifest = data.labeled_manifest(db, context.cache(), pool.id, "val", classes)
        skipped: list[tuple[int, str]] = []
        if key is not None and manifest:
            manifest, skipped = data.readable_manifest(manifest)
            data.record_skipped(db, cycle.id, "evaluation", skipped)
        if key is None:
            reason = "no model trained in this cycle: evaluation skipped"
        elif not manifest:
            readable = "readable " if skipped else ""
            reason = f"no {readable}labeled validation images: evaluation skipped"
            cycles.record_issue(db, cycle.id, reason)
        else:
            reason = ""
        db.commit()
    if reason:
        run.complete(reason, {"metrics": {**kept, "note": reason}})
        return
    device = device_name(context.settings().device)
    model = modelling.load_model(context.cache(), key, len(classes), device)
    from models.engine import evaluate

    run.progress(0.1, f"evaluating on {len(manifest)} validation images", force=True)
    metrics = evaluate(model, manifest, classes, device=device)
    run.check()
    metrics = {**kept, **metrics, "val_images": len(manifest)}
    modelling.store_metrics(context.storage(), key, metrics)  # the downloadable model carries them
    run.complete(f"mAP@0.5 {metrics['map50']:.3f} on {len(manifest)} images",
                 {"metrics": metrics})  # fmt: skip
