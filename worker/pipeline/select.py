"""Selection stage: merge the shards' records, run the strategy's global step (with the
labeled images' embeddings as k-centre centres when the strategy uses embeddings), store
the Selection rows (rank, score, components, pre-annotation) and enter ``labeling``.

The merge order does not matter: the strategy sorts the records by id and breaks ties with
the cycle's seeded random order (seed = pool seed x 100003 + cycle index), so the result is
the same for any sharding. Two-pass strategies get pass 1's records joined with pass 2's
(:func:`worker.pipeline.passes.merged_records`); retrieval then picks the candidates pass 2
scored, unless images were labelled between the passes (such a retrieved image without
pass-2 record is passed over). ``auto`` also gets the labelled train images per class and the
validation mAP, and its choice (strategy and reason) is stored in
``Cycle.metrics["strategy_decision"]``. When the scores carry no information (all equal within
``acquisition.base.TIE_TOLERANCE``) a cycle issue says the selection is effectively random.

Idempotent: the cycle's selections are replaced in the same transaction that finishes the
job, so a redelivered task never duplicates rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from alp.cycle_config import CycleConfig
from alp.db import Cycle, Image, Pool, ScoreShard, Selection
from alp.services import cycles
from worker import context
from worker.pipeline import data, embeddings, passes
from worker.pipeline.common import StageRun
from worker.pipeline.score import scoring_context, strategy_for


def run(job_id: int) -> None:
    run = StageRun.claim(job_id, "selecting")
    if run is None:
        return
    with run:
        _select(run)


def _with_labeled_embeddings(db: Session, cycle: Cycle, ctx: Any) -> Any:
    """``ctx`` with the labeled images' embeddings stored by training (k-centre centres);
    without them (e.g. the strategy was switched and the cycle retried after training) the
    strategy starts from a seeded point and a cycle issue says so."""
    assert cycle.checkpoint_key is not None
    vectors = embeddings.load(context.storage(), embeddings.embeddings_key(cycle.checkpoint_key))
    if vectors is None:
        cycles.record_issue(
            db, cycle.id, "no labeled-image embeddings for this model: k-centre selection "
            "starts without labeled centres and typiclust treats every cluster as unlabeled "
            "(retrain the cycle to compute them)",
        )  # fmt: skip
        return ctx
    return dataclasses.replace(ctx, labeled_embeddings=vectors if vectors.numel() else None)


def _with_pool_stats(db: Session, cycle: Cycle, classes: list[str], ctx: Any) -> Any:
    """``ctx`` with the labelled train images per class and the model's validation mAP@0.5
    (``Cycle.metrics["map50"]``, None without validation images): ``auto``'s budget rule."""
    ids = list(
        db.scalars(
            select(Image.id).where(
                Image.pool_id == cycle.pool_id, Image.state == "labeled", Image.split == "train"
            )
        )
    )
    index = {name: i for i, name in enumerate(classes)}
    counts = [0] * len(classes)
    for boxes in data._latest_boxes(db, ids).values():
        for c in {index[b["label"]] for b in boxes if b.get("label") in index}:
            counts[c] += 1
    vmap = (cycle.metrics or {}).get("map50")
    valid = isinstance(vmap, int | float) and 0.0 <= float(vmap) <= 1.0
    return dataclasses.replace(
        ctx, labeled_images_per_class=counts, validation_map=float(vmap) if valid else None
    )


def _decision(cycle: Cycle, strategy: Any, ctx: Any) -> dict[str, Any]:
    """The cycle updates that store ``Cycle.metrics["strategy_decision"]`` (which strategy
    ``auto`` used and why); none for strategies that decide nothing."""
    decision = strategy.decision(ctx)
    if decision is None:
        return {}
    decision = {"by": strategy.name, **decision}
    return {"metrics": {**(cycle.metrics or {}), "strategy_decision": decision}}


def _select(run: StageRun) -> None:
    with context.session() as db:
        cycle = db.get(Cycle, run.cycle_id)
        pool = db.get(Pool, run.pool_id)
        assert cycle is not None and pool is not None
        missing = [
            f"{p}/{i}" if p != passes.FIRST else str(i)
            for p, i in db.execute(
                select(ScoreShard.pass_no, ScoreShard.index)
                .where(ScoreShard.cycle_id == cycle.id, ScoreShard.state != "done")
                .order_by(ScoreShard.pass_no, ScoreShard.index)
            )
        ]
        if missing:
            raise RuntimeError(f"shards {missing} are not scored")
        strategy = strategy_for(cycle)
        keep = passes.still_unlabeled(db, pool.id)
        records, predictions = passes.merged_records(db, cycle, strategy, keep)
        ctx = scoring_context(db, cycle, list(pool.classes))
        if strategy.requirements.embedding and cycle.checkpoint_key is not None:
            ctx = _with_labeled_embeddings(db, cycle, ctx)
        if strategy.uses_pool_stats:
            ctx = _with_pool_stats(db, cycle, list(pool.classes), ctx)
        budget = CycleConfig.parse(cycle.config).batch_size
        seed = passes.selection_seed(cycle)
        chosen = strategy.select(records, budget, ctx, seed)  # ties: seeded order, not id
        note = strategy.tie_note(records, budget)
        if note is not None:
            cycles.record_issue(db, cycle.id, note)
        db.execute(delete(Selection).where(Selection.cycle_id == cycle.id))
        db.add_all(
            Selection(
                cycle_id=cycle.id,
                image_id=int(s.image_id),
                rank=s.rank,
                score=float(s.score),
                components=dict(s.components),
                prediction=predictions.get(s.image_id, {}),
            )
            for s in chosen
        )
        ids = [int(s.image_id) for s in chosen]
        if ids:
            db.execute(
                update(Image)
                .where(Image.id.in_(ids), Image.state == "unlabeled")
                .values(state="queued")
                .execution_options(synchronize_session=False)
            )
        run.complete(
            f"selected {len(ids)} of {len(records)} images",
            _decision(cycle, strategy, ctx),
            db,
            selected=len(ids),
        )
