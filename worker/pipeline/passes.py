"""Two-pass scoring between the scoring shards and the selection (ALGORITHMS §1.3):
retrieval over the whole pool (pass 1), ranking of the retrieved candidates only (pass 2).

The shard that completes pass 1 runs the strategy's retrieval over the pass-1 records of the
still-unlabeled images, with the seed the selection uses (so the final selection retrieves
the same candidates), and creates and enqueues the pass-2 shards in one transaction. Exactly
once: the cycle row is locked (:func:`alp.services.cycle_flow.lock_scoring`: ``scoring`` and
not cancelled) before the pass-2 shards are looked for, and the unique key (cycle, pass,
index) backs it up. The selection merges both passes' records with ``Strategy.merge_passes``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.cycle_config import CycleConfig
from alp.db import Cycle, Image, Job, ScoreShard
from alp.services import cycle_flow

FIRST, SECOND = 1, 2


def selection_seed(cycle: Cycle) -> int:
    """The seed of the cycle's tie-breaking order (retrieval and selection alike)."""
    return CycleConfig.parse(cycle.config).seed * 100_003 + cycle.index


def still_unlabeled(db: Session, pool_id: int) -> set[int]:
    return set(
        db.scalars(select(Image.id).where(Image.pool_id == pool_id, Image.state == "unlabeled"))
    )


def pass_entries(db: Session, cycle_id: int, pass_no: int) -> list[dict[str, Any]]:
    """Every ``{"record", "prediction"}`` entry of the cycle's shards of one pass."""
    shards = db.scalars(
        select(ScoreShard)
        .where(ScoreShard.cycle_id == cycle_id, ScoreShard.pass_no == pass_no)
        .order_by(ScoreShard.index)
    )
    return [e for shard in shards for e in (shard.records or [])]


def start_second_pass(
    db: Session, cycle_id: int, job_id: int, shard_size: int, strategy: Any, ctx: Any
) -> int | None:
    """Retrieval, then the pass-2 shards (flushed and enqueued; the caller commits).

    Returns the number of pass-2 shards created now; 0 when there are no candidates or
    the pass-2 shards exist already; None when the cycle left ``scoring`` or is cancelled."""
    from acquisition.records import ImageRecord

    if not cycle_flow.lock_scoring(db, cycle_id):
        return None
    exists = db.scalar(
        select(func.count()).where(ScoreShard.cycle_id == cycle_id, ScoreShard.pass_no == SECOND)
    )
    if exists:
        return 0
    cycle = db.get(Cycle, cycle_id)
    assert cycle is not None
    keep = still_unlabeled(db, cycle.pool_id)
    records = [
        rec
        for e in pass_entries(db, cycle_id, FIRST)
        if (rec := ImageRecord.from_dict(e["record"])).image_id in keep
    ]
    budget = CycleConfig.parse(cycle.config).batch_size
    ids = sorted(int(i) for i in strategy.retrieve_ids(records, budget, ctx, selection_seed(cycle)))
    size = max(1, int(shard_size))
    shards = [
        ScoreShard(cycle_id=cycle_id, pass_no=SECOND, index=k // size, image_ids=ids[k : k + size])
        for k in range(0, len(ids), size)
    ]
    db.add_all(shards)
    db.flush()
    for shard in shards:
        outbox.enqueue(db, jobs.CYCLE_SCORE_SHARD, shard.id)
    job = db.get(Job, job_id)
    if job is not None and shards:
        job.payload = {**(job.payload or {}), "pass2_shards": len(shards), "candidates": len(ids)}
    return len(shards)


def merged_records(
    db: Session, cycle: Cycle, strategy: Any, keep: set[int]
) -> tuple[list[Any], dict[int, dict[str, Any]]]:
    """The records the selection ranks (pass 1 joined with pass 2 for two-pass strategies)
    of the images in ``keep``, and their pre-annotations (from pass 1)."""
    from acquisition.records import ImageRecord

    first, predictions = [], {}
    for entry in pass_entries(db, cycle.id, FIRST):
        rec = ImageRecord.from_dict(entry["record"])
        if rec.image_id in keep:
            first.append(rec)
            predictions[rec.image_id] = entry.get("prediction") or {}
    if strategy.passes < 2:
        return first, predictions
    second = [ImageRecord.from_dict(e["record"]) for e in pass_entries(db, cycle.id, SECOND)]
    return strategy.merge_passes(first, second), predictions
