"""Scoring stage, one task per shard: predict the shard's images, run the strategy's
per-image step, store ``{"record", "prediction"}`` per image in ``ScoreShard.records``.
An unreadable image file gets no record (it cannot be selected) and a cycle issue naming
it, written in the transaction that stores the shard's records.

Shards are claimed with a lease (``attempts`` is the token) so a redelivered or duplicated
shard message never scores twice; a failed shard is re-enqueued (up to
``MAX_SHARD_ATTEMPTS``) without touching finished shards; the last shard to finish moves
the cycle to ``selecting``.

Two-pass strategies (``Strategy.passes == 2``, e.g. ``hua``): the shards above are pass 1
(retrieval needs only); the shard that completes pass 1 creates the pass-2 shards over the
retrieved candidates (:mod:`worker.pipeline.passes`), and the last pass-2 shard moves the
cycle on. A redelivered message for a finished shard re-checks whether the cycle can move on.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, Image, Pool, ScoreShard, utcnow
from alp.services import cycle_flow, job_rows
from worker import context
from worker.pipeline import data, decode, modelling, passes
from worker.pipeline.common import beating, device_name, error_text, heartbeat_interval

log = logging.getLogger("alp.worker.score")
MAX_SHARD_ATTEMPTS = 3
RETRY_DELAY_S = 2.0


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
            if job is not None and shard.state == "done":  # e.g. the advance was lost
                _after_shard(db, cycle.id, job.id, shard.pass_no)
            return
        job_rows.touch_running(db, job.id)
        db.commit()
        job_id, cycle_id = job.id, cycle.id
    skipped: list[tuple[int, str]] = []
    try:
        with beating(lambda: _beat(shard_id), heartbeat_interval()):
            records, pass_no = _score(shard_id, cycle_id, skipped)
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
            _after_shard(db, cycle_id, job_id, pass_no)


def _score(
    shard_id: int, cycle_id: int, skipped: list[tuple[int, str]]
) -> tuple[list[dict[str, Any]], int]:
    """Records of the shard's images (of its pass) and the pass; unreadable images get
    none and are appended to ``skipped`` as ``(image id, reason)``. Pre-annotations come
    from pass 1 only."""
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
        config = dict(cycle.config or {})
        pass_no = shard.pass_no
        db.commit()
    from acquisition.types import ImagePrediction

    step = min(pass_no, strategy.passes) - 1
    req = strategy.pass_requirements[step]
    if not req.needs_model or key is None:
        preds = [ImagePrediction(image_id=i, width=w, height=h, views={}) for i, _, w, h in rows]
        return [_entry(r, None) for r in strategy.score_pass(step, preds, ctx)], pass_no
    device = device_name(context.settings().device)
    model = modelling.load_model(context.cache(), key, len(classes), device)
    batch = modelling.score_batch_size(config, device)
    workers = modelling.train_config(config, device, None).num_workers  # training's loader
    out: list[dict[str, Any]] = []
    for items in decode.decoded_batches([context.cache().blob(r[1]) for r in rows], batch, workers):
        images, ids = [], []
        for k, image, error in items:
            image_id, skey = rows[k][0], rows[k][1]
            if error is None:
                images.append(image)
                ids.append(image_id)
            else:
                reason = "file missing" if not storage.exists(skey) else error
                skipped.append((image_id, f"unreadable image file ({reason})"))
        if ids:
            preds = modelling.predict(model, images, ids, req, device, ids[0], batch)
            records = strategy.score_pass(step, preds, ctx)
            out += [
                _entry(r, modelling.preannotation(p, min_score, max_boxes) if step == 0 else None)
                for r, p in zip(records, preds, strict=True)
            ]
        _beat(shard_id)
    return out, pass_no


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


def _after_shard(db: Session, cycle_id: int, job_id: int, pass_no: int) -> None:
    """Progress; the shard that completes pass 1 of a two-pass strategy starts pass 2, and
    the shard that completes the set moves the cycle on (each exactly once)."""
    by_pass = passes.counts(db, cycle_id)
    total, done = (sum(c[i] for c in by_pass.values()) for i in (0, 1))
    passes.progress(db, job_id, by_pass)
    db.commit()
    if done < total:
        return
    cycle = db.get(Cycle, cycle_id)
    if cycle is None:
        return
    strategy = strategy_for(cycle)
    if pass_no == passes.FIRST and strategy.passes == 2:
        try:
            pool = db.get(Pool, cycle.pool_id)
            ctx = scoring_context(db, cycle, list(pool.classes) if pool else [])
            size = context.settings().score_shard_size
            created = passes.start_second_pass(db, cycle_id, job_id, size, strategy, ctx)
        except Exception as exc:  # a retry of the cycle re-runs the retrieval
            db.rollback()
            log.exception("retrieval between the passes of cycle %s failed", cycle_id)
            cycle = db.get(Cycle, cycle_id)
            assert cycle is not None
            cycle_flow.fail_stage(db, cycle, "scoring", job_id, f"retrieval: {error_text(exc)}")
            db.commit()
            return
        if created is None:  # cancelled or moved on
            db.rollback()
            return
        if created:
            passes.record_time(db, cycle_id, job_id, "scoring_pass1")
            passes.progress(db, job_id, passes.counts(db, cycle_id))
            db.commit()
            return
        db.commit()
        by_pass = passes.counts(db, cycle_id)
        if any(d < t for t, d in by_pass.values()):
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
    cycle = db.get(Cycle, cycle_id)
    assert cycle is not None
    db.refresh(cycle)
    seconds = passes.record_time(db, cycle_id, job_id, "scoring")
    first = (cycle.timings or {}).get("scoring_pass1")
    if passes.SECOND in by_pass and first is not None:
        cycle.timings = {**cycle.timings, "scoring_pass2": round(seconds - first, 3)}
    job_rows.finish(db, job_id, None, message=f"scored {total} shards")
    cycle_flow.enter_stage(db, cycle, "selecting")
    db.commit()
