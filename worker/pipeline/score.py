"""Scoring stage, one task per shard: predict the shard's images, run the strategy's
per-image step, store ``{"record", "prediction"}`` per image in ``ScoreShard.records``.
An unreadable image file gets no record (it cannot be selected) and a cycle issue naming
it, written in the transaction that stores the shard's records.

Each shard runs in its frame (:class:`~worker.pipeline.shard_run.ShardRun`): a lease
(``attempts`` is the token) so a redelivered or duplicated shard message never scores
twice; a failed shard is re-enqueued (up to ``MAX_SHARD_ATTEMPTS``) without touching
finished shards; the last shard to finish moves the cycle to ``selecting``
(:func:`alp.services.cycle_flow.complete_scoring`).

Two-pass strategies (``Strategy.passes == 2``, e.g. ``hua``): the shards above are pass 1
(retrieval needs only); the shard that completes pass 1 creates the pass-2 shards over the
retrieved candidates (:mod:`worker.pipeline.passes`), and the last pass-2 shard moves the
cycle on. A redelivered message for a finished shard re-checks whether the cycle can move on.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.cycle_config import CycleConfig
from alp.db import Cycle, Image, Pool, ScoreShard
from alp.services import cycle_flow, job_rows
from worker import context
from worker.pipeline import data, decode, modelling, passes
from worker.pipeline.common import device_name, error_text
from worker.pipeline.shard_run import MAX_SHARD_ATTEMPTS, RETRY_DELAY_S, ShardRun

__all__ = ["MAX_SHARD_ATTEMPTS", "RETRY_DELAY_S", "run_shard", "scoring_context", "strategy_for"]
log = logging.getLogger("alp.worker.score")


def strategy_for(cycle: Cycle) -> Any:
    """The cycle's strategy; ``random`` when no model was trained (e.g. cycle 0)."""
    from acquisition.registry import get_strategy

    if cycle.checkpoint_key is None:
        return get_strategy("random")
    name, params = CycleConfig.parse(cycle.config).strategy_spec()
    return get_strategy(name, **params)


def scoring_context(db: Session, cycle: Cycle, classes: list[str]) -> Any:
    """Pool-level context shared by every shard and the selection, computed once per cycle
    (cached in ``Cycle.scoring_context``): ``labeled_class_freq`` (mean boxes per class per
    labeled train image, from annotations) and ``class_quality`` (PPAL, from the training
    stage's ``metrics["class_quality"]``; None for models without that buffer). The
    selection stage adds the labeled images' embeddings and pool statistics itself."""
    from acquisition.records import ScoringContext

    cached = cycle.scoring_context
    if cached is None:
        cached = {
            "labeled_class_freq": data.labeled_class_freq(db, cycle.pool_id, classes),
            "class_quality": modelling.class_quality_list(cycle.metrics, classes),
        }
        cycle.scoring_context = cached
        db.flush()
    return ScoringContext(num_classes=len(classes), **cached)


def run_shard(shard_id: int) -> None:
    """Score one shard in its frame (:class:`~worker.pipeline.shard_run.ShardRun`)."""
    run = ShardRun.claim(shard_id, _after_shard)
    if run is None:
        return
    skipped: list[tuple[int, str]] = []
    records: list[dict[str, Any]] | None = None
    with run:  # a failure re-sends the shard (or, the last attempt, fails the cycle)
        records, _ = _score(shard_id, run.cycle_id, skipped)
    if records is not None:
        run.complete(records, also=_skipped_issue(run.cycle_id, skipped))


def _skipped_issue(cycle_id: int, skipped: list[tuple[int, str]]) -> Any:
    """Records the unreadable images (a cycle issue) with the shard's records, or not at all."""

    def record(db: Session) -> None:
        if skipped:
            data.record_skipped(db, cycle_id, "scoring", skipped)

    return record


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
        config = CycleConfig.parse(cycle.config)
        min_score, max_boxes = modelling.preannotation_limits(config)
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
        job_rows.beat_shard(db, shard_id)
        db.commit()


def _after_shard(db: Session, cycle_id: int, job_id: int, pass_no: int) -> None:
    """Progress; the shard that completes pass 1 of a two-pass strategy starts pass 2, and
    the shard that completes the set moves the cycle on (each exactly once:
    :func:`alp.services.cycle_flow.complete_scoring`)."""
    by_pass = cycle_flow.shard_progress(db, cycle_id, job_id)
    db.commit()
    if any(d < t for t, d in by_pass.values()):
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
            cycle_flow.record_scoring_time(db, cycle_id, job_id, "scoring_pass1")
            cycle_flow.shard_progress(db, cycle_id, job_id)
            db.commit()
            return
        db.commit()
        by_pass = cycle_flow.shard_counts(db, cycle_id)
        if any(d < t for t, d in by_pass.values()):
            return
    if cycle_flow.complete_scoring(db, cycle_id, job_id, by_pass):
        db.commit()
    else:
        db.rollback()
