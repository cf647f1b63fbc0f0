"""Scoring stage, one task per shard: predict the shard's images, run the strategy's
per-image step, store ``{"record", "prediction"}`` per image in ``ScoreShard.records``.
An unreadable image file gets no record (it cannot be selected) and a cycle issue naming
it, written in the transaction that stores the shard's records.

Shards are claimed with a lease (``attempts`` is the token) so a redelivered or duplicated
shard message never scores twice; a failed shard is re-enqueued (up to
``MAX_SHARD_ATTEMPTS``) without touching finished shards; the last shard to finish moves
the cycle to ``selecting``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, Image, Job, Pool, ScoreShard, utcnow
from alp.services import cycle_flow, job_rows
from worker import context
from worker.pipeline import data, modelling
from worker.pipeline.common import beating, device_name, error_text, heartbeat_interval

log = logging.getLogger("alp.worker.score")
MAX_SHARD_ATTEMPTS = 3
RETRY_DELAY_S = 2.0
BATCH = 16


def strategy_for(cycle: Cycle) -> Any:
    """The cycle's strategy; ``random`` when no model was trained (e.g. cycle 0)."""
    from acquisition.registry import get_strategy

    if cycle.checkpoint_key is None:
        return get_strategy("random")
    cfg = cycle.config
    return get_strategy(cfg.get("strategy", "hua"), **(cfg.get("strategy_params") or {}))


def scoring_context(db: Session, cycle: Cycle, classes: list[str]) -> Any:
    """Pool-level context shared by every shard and the selection, computed once per cycle
    (cached in the cycle's config): ``labeled_class_freq`` (mean boxes per class per
    labeled train image, from annotations) and ``class_quality`` (PPAL, from the training
    stage's ``metrics["class_quality"]``; None for models without that buffer).
    ``labeled_embeddings`` are added by the selection stage only (:func:`with_embeddings`)."""
    from acquisition.records import ScoringContext

    cached = (cycle.config or {}).get("_scoring_context")
    if cached is None:
        cached = {
            "labeled_class_freq": data.labeled_class_freq(db, cycle.pool_id, classes),
            "class_quality": modelling.class_quality_list(cycle.metrics, classes),
        }
        cycle.config = {**cycle.config, "_scoring_context": cached}
        db.flush()
    return ScoringContext(num_classes=len(classes), **cached)


def _claim(db: Session, shard_id: int, stale_after_s: float) -> int | None:
    cutoff = job_rows.stale_cutoff(stale_after_s)
    res = db.execute(
        update(ScoreShard)
        .where(
            ScoreShard.id == shard_id,
            or_(
                ScoreShard.state == "pending",
                (ScoreShard.state == "running") & (ScoreShard.updated_at < cutoff),
            ),
        )
        .values(state="running", attempts=ScoreShard.attempts + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        return None
    return int(db.scalar(select(ScoreShard.attempts).where(ScoreShard.id == shard_id)))


def run_shard(shard_id: int) -> None:
    s = context.settings()
    with context.session() as db:
        shard = db.get(ScoreShard, shard_id)
        cycle = db.get(Cycle, shard.cycle_id) if shard is not None else None
        if shard is None or cycle is None or cycle.state != "scoring" or cycle.cancel_requested:
            return
        job = job_rows.job_for(db, cycle.id, "score")
        token = _claim(db, shard_id, s.worker_stale_after_s)
        if token is None or job is None:
            db.rollback()
            return
        job_rows.touch_running(db, job.id)
        db.commit()
        job_id, cycle_id = job.id, cycle.id
    skipped: list[tuple[int, str]] = []
    try:
        with beating(lambda: _beat(shard_id), heartbeat_interval()):
            records = _score(shard_id, cycle_id, skipped)
    except Exception as exc:
        log.exception("shard %s of cycle %s failed", shard_id, cycle_id)
        _failed(shard_id, token, cycle_id, job_id, error_text(exc))
        return
    with context.session() as db:
        res = db.execute(
            update(ScoreShard)
            .where(
                ScoreShard.id == shard_id,
                ScoreShard.state == "running",
                ScoreShard.attempts == token,
            )
            .values(state="done", records=records, error=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if res.rowcount == 1 and skipped:  # recorded with the records, or not at all
            data.record_skipped(db, cycle_id, "scoring", skipped)
        db.commit()
        if res.rowcount == 1:
            _after_shard(db, cycle_id, job_id)


def _score(shard_id: int, cycle_id: int, skipped: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """Records of the shard's images; unreadable images get none and are appended to
    ``skipped`` as ``(image id, reason)``."""
    storage = context.storage()
    with context.session() as db:
        shard = db.get(ScoreShard, shard_id)
        cycle = db.get(Cycle, cycle_id)
        pool = db.get(Pool, cycle.pool_id) if cycle else None
        assert shard is not None and cycle is not None and pool is not None
        classes = list(pool.classes)
        rows = db.execute(
            select(Image.id, Image.storage_key, Image.width, Image.height)
            .where(Image.id.in_(list(shard.image_ids)))
            .order_by(Image.id)
        ).all()
        strategy = strategy_for(cycle)
        ctx = scoring_context(db, cycle, classes)
        key = cycle.checkpoint_key
        min_score, max_boxes = modelling.preannotation_limits(cycle.config or {})
        db.commit()
    from acquisition.types import ImagePrediction

    if not strategy.requirements.needs_model or key is None:
        preds = [ImagePrediction(image_id=i, width=w, height=h, views={}) for i, _, w, h in rows]
        return [_entry(strategy.score_image(p, ctx), None) for p in preds]
    from models.data import load_image

    device = device_name(context.settings().device)
    model = modelling.load_model(context.cache(), key, len(classes), device)
    out: list[dict[str, Any]] = []
    for start in range(0, len(rows), BATCH):
        images, ids = [], []
        for image_id, skey, _, _ in rows[start : start + BATCH]:
            try:
                images.append(load_image(context.cache().blob(skey)))
                ids.append(image_id)
            except (OSError, ValueError) as exc:  # load_image wraps decode errors
                reason = "file missing" if not storage.exists(skey) else str(exc.__cause__ or exc)
                skipped.append((image_id, f"unreadable image file ({reason})"))
        if ids:
            preds = modelling.predict(model, images, ids, strategy.requirements, device, ids[0])
            out += [
                _entry(
                    strategy.score_image(p, ctx), modelling.preannotation(p, min_score, max_boxes)
                )
                for p in preds
            ]
        _beat(shard_id)
    return out


def _entry(record: Any, prediction: dict[str, Any] | None) -> dict[str, Any]:
    return {"record": record.to_dict(), "prediction": prediction or {}}


def _beat(shard_id: int) -> None:
    with context.session() as db:
        db.execute(
            update(ScoreShard)
            .where(ScoreShard.id == shard_id)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        db.commit()


def _failed(shard_id: int, token: int, cycle_id: int, job_id: int, error: str) -> None:
    with context.session() as db:
        retry = token < MAX_SHARD_ATTEMPTS
        res = db.execute(
            update(ScoreShard)
            .where(
                ScoreShard.id == shard_id,
                ScoreShard.state == "running",
                ScoreShard.attempts == token,
            )
            .values(state="pending" if retry else "failed", error=error, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:
            db.rollback()
            return
        if retry:
            outbox.enqueue(db, jobs.CYCLE_SCORE_SHARD, shard_id, countdown=RETRY_DELAY_S * token)
            job_rows.touch_running(db, job_id)
        else:
            cycle = db.get(Cycle, cycle_id)
            assert cycle is not None
            index = db.scalar(select(ScoreShard.index).where(ScoreShard.id == shard_id))
            cycle_flow.fail_stage(
                db,
                cycle,
                "scoring",
                job_id,
                f"shard {index} failed after {token} attempts: {error}",
            )
        db.commit()


def _after_shard(db: Session, cycle_id: int, job_id: int) -> None:
    """Progress; the shard that completes the set moves the cycle on (exactly once)."""
    total, done = db.execute(
        select(func.count(), func.count().filter(ScoreShard.state == "done")).where(
            ScoreShard.cycle_id == cycle_id
        )
    ).one()
    job_rows.touch_running(db, job_id, done / total if total else 1.0)
    db.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(message=f"scored {done}/{total} shards")
        .execution_options(synchronize_session=False)
    )
    db.commit()
    if done < total:
        return
    moved = db.execute(
        update(Cycle)
        .where(Cycle.id == cycle_id, Cycle.state == "scoring", Cycle.cancel_requested.is_(False))
        .values(state="selecting")
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        db.rollback()
        return
    job = db.get(Job, job_id)
    cycle = db.get(Cycle, cycle_id)
    assert job is not None and cycle is not None
    db.refresh(cycle)
    started = job.started_at or job.created_at
    seconds = (utcnow() - _aware(started)).total_seconds()
    job_rows.finish(db, job_id, None, message=f"scored {total} shards")
    cycle = db.get(Cycle, cycle_id)
    cycle.timings = {**(cycle.timings or {}), "scoring": round(seconds, 3)}
    cycle_flow.enter_stage(db, cycle, "selecting")
    db.commit()


def _aware(dt: Any) -> Any:
    from datetime import UTC

    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
