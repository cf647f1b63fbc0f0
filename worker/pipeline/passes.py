"""Two-pass scoring between the scoring shards and the selection (ALGORITHMS §1.3):
retrieval over the whole pool (pass 1), ranking of the retrieved candidates only (pass 2).

The shard that completes pass 1 runs the strategy's retrieval over the pass-1 records of the
still-unlabeled images, with the seed the selection uses (so the final selection retrieves
the same candidates), and creates and enqueues the pass-2 shards in one transaction. Exactly
once: the cycle row is locked by a guarded update (``scoring`` and not cancelled) before the
pass-2 shards are looked for, and the unique key (cycle, pass, index) backs it up. The
selection merges both passes' records with ``Strategy.merge_passes``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, Image, Job, ScoreShard, utcnow
from alp.services import job_rows

FIRST, SECOND = 1, 2


def selection_seed(cycle: Cycle) -> int:
    """The seed of the cycle's tie-breaking order (retrieval and selection alike)."""
    return int((cycle.config or {}).get("seed", 0)) * 100_003 + cycle.index


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


def counts(db: Session, cycle_id: int) -> dict[int, tuple[int, int]]:
    """``{pass_no: (shards, done shards)}`` of the cycle."""
    rows = db.execute(
        select(ScoreShard.pass_no, func.count(), func.count().filter(ScoreShard.state == "done"))
        .where(ScoreShard.cycle_id == cycle_id)
        .group_by(ScoreShard.pass_no)
    ).all()
    return {int(p): (int(t), int(d)) for p, t, d in rows}


def start_second_pass(
    db: Session, cycle_id: int, job_id: int, shard_size: int, strategy: Any, ctx: Any
) -> int | None:
    """Retrieval, then the pass-2 shards (flushed and enqueued; the caller commits).

    Returns the number of pass-2 shards created now; 0 when there are no candidates or
    the pass-2 shards exist already; None when the cycle left ``scoring`` or is cancelled."""
    from acquisition.records import ImageRecord

    locked = db.execute(
        update(Cycle)
        .where(Cycle.id == cycle_id, Cycle.state == "scoring", Cycle.cancel_requested.is_(False))
        .values(state="scoring")
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount != 1:
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
    budget = int(cycle.config.get("batch_size", 20))
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


def progress(db: Session, job_id: int, by_pass: dict[int, tuple[int, int]]) -> None:
    """The scoring job's progress and message, counted over every pass's shards."""
    total, done = (sum(c[i] for c in by_pass.values()) for i in (0, 1))
    if len(by_pass) > 1:
        text = ", ".join(f"pass {p}: {d}/{t}" for p, (t, d) in sorted(by_pass.items()))
        message = f"scored {done}/{total} shards ({text})"
    else:
        message = f"scored {done}/{total} shards"
    job_rows.touch_running(db, job_id, done / total if total else 1.0)
    db.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(message=message)
        .execution_options(synchronize_session=False)
    )


def record_time(db: Session, cycle_id: int, job_id: int, key: str) -> float:
    """Seconds since the scoring job started, stored as ``Cycle.timings[key]``."""
    job = db.get(Job, job_id)
    cycle = db.get(Cycle, cycle_id)
    assert job is not None and cycle is not None
    started = job.started_at or job.created_at
    seconds = (utcnow() - _aware(started)).total_seconds()
    cycle.timings = {**(cycle.timings or {}), key: round(seconds, 3)}
    return seconds


def _aware(dt: Any) -> Any:
    from datetime import UTC

    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
