"""The cycle state machine's transitions (DB only; the worker does the torch work).

``pending -> training -> evaluating -> scoring -> selecting -> labeling -> done``; any
stage may go to ``failed`` (with ``failed_stage`` and error text) or ``cancelled``. Each
stage has one Job row (kind ``train | evaluate | score | select``). Entering a stage
(re)queues its job and enqueues its task(s) after commit; scoring fans out over
:class:`~alp.db.ScoreShard` rows, one task per shard.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, Image, Job, LabelStudioConnection, ScoreShard, utcnow
from alp.services import job_rows

STAGES = ("training", "evaluating", "scoring", "selecting")
STAGE_JOB = {
    "training": "train",
    "evaluating": "evaluate",
    "scoring": "score",
    "selecting": "select",
}
STAGE_TASK = {
    "training": jobs.CYCLE_TRAIN,
    "evaluating": jobs.CYCLE_EVALUATE,
    "selecting": jobs.CYCLE_SELECT,
}
NEXT = {"training": "evaluating", "evaluating": "scoring", "scoring": "selecting"}
STAGE_OF_JOB = {v: k for k, v in STAGE_JOB.items()}


def candidate_ids(db: Session, cycle: Cycle) -> list[int]:
    """Unlabeled train-split images of the pool, by id (a seeded subset if ``score_subset``)."""
    ids = list(
        db.scalars(
            select(Image.id)
            .where(
                Image.pool_id == cycle.pool_id, Image.state == "unlabeled", Image.split == "train"
            )
            .order_by(Image.id)
        )
    )
    subset = (cycle.config or {}).get("score_subset")
    if subset and len(ids) > subset:
        rng = random.Random(f"{cycle.config.get('seed', 0)}:{cycle.index}")
        ids = sorted(rng.sample(ids, int(subset)))
    return ids


def _create_or_reset_shards(db: Session, cycle: Cycle, shard_size: int) -> list[ScoreShard]:
    shards = list(
        db.scalars(
            select(ScoreShard)
            .where(ScoreShard.cycle_id == cycle.id)
            .order_by(ScoreShard.pass_no, ScoreShard.index)
        )
    )
    if not shards:
        ids = candidate_ids(db, cycle)
        size = max(1, int(shard_size))
        for i in range(0, len(ids), size):
            shard = ScoreShard(cycle_id=cycle.id, index=i // size, image_ids=ids[i : i + size])
            db.add(shard)
            shards.append(shard)
    for shard in shards:
        if shard.state == "failed":  # a retry gives it a fresh set of attempts
            shard.attempts = 0
        if shard.state != "done":
            shard.state, shard.error = "pending", None
    db.flush()
    return shards


def enter_stage(db: Session, cycle: Cycle, stage: str, *, shard_size: int = 256) -> Job:
    """Move ``cycle`` into ``stage`` (``training`` keeps ``pending`` until a worker claims
    it), (re)queue its job and enqueue the work after commit."""
    job = job_rows.ensure_job(db, kind=STAGE_JOB[stage], pool_id=cycle.pool_id, cycle_id=cycle.id)
    cycle.state = "pending" if stage == "training" else stage
    cycle.failed_stage = cycle.error = None
    if stage == "scoring":
        shards = _create_or_reset_shards(db, cycle, shard_size)
        todo = [s for s in shards if s.state != "done"]
        job.payload = {"shards": len(shards)}
        job.progress = (len(shards) - len(todo)) / len(shards) if shards else 0.0
        for shard in todo:
            outbox.enqueue(db, jobs.CYCLE_SCORE_SHARD, shard.id)
        if shards and not todo:  # every shard is done (e.g. a two-pass retrieval failed):
            outbox.enqueue(db, jobs.CYCLE_SCORE_SHARD, shards[-1].id)  # its worker moves on
        if not shards:  # nothing to score: straight to selection
            job_rows.finish(db, job.id, None, message="no unlabeled images to score")
            return enter_stage(db, cycle, "selecting")
    else:
        outbox.enqueue(db, STAGE_TASK[stage], job.id)
    db.flush()
    return job


def complete_stage(
    db: Session,
    cycle: Cycle,
    stage: str,
    job_id: int,
    token: int | None,
    seconds: float,
    message: str = "done",
    shard_size: int = 256,
) -> bool:
    """Finish ``stage``'s job (only while holding the lease ``token``), record its wall time
    and enter the next stage. Returns False (and changes nothing) if the lease was lost or
    the cycle moved on, e.g. it was cancelled."""
    if cycle.state != stage or cycle.cancel_requested:
        return False
    if not job_rows.finish(db, job_id, token, message=message):
        return False
    db.refresh(cycle)
    cycle.timings = {**(cycle.timings or {}), stage: round(float(seconds), 3)}
    enter_stage(db, cycle, NEXT[stage], shard_size=shard_size)
    return True


def fail_stage(db: Session, cycle: Cycle, stage: str, job_id: int | None, error: str) -> None:
    """Mark the job and the cycle failed at ``stage`` with ``error`` (retry resumes there)."""
    if job_id is not None:
        job_rows.finish(db, job_id, None, state="failed", message="failed", error=error)
    db.refresh(cycle)
    if cycle.state in ("done", "cancelled", "failed"):
        return
    cycle.state, cycle.failed_stage, cycle.error = "failed", stage, error[:4000]
    cycle.finished_at = utcnow()
    db.flush()


def enter_labeling(db: Session, cycle: Cycle, selected: int) -> None:
    """After selection: ``labeling`` (Label Studio push if connected) or, with nothing
    selected, ``done``."""
    if selected == 0:
        cycle.state, cycle.finished_at = "done", utcnow()
        db.flush()
        return
    cycle.state = "labeling"
    db.flush()
    if db.get(LabelStudioConnection, cycle.pool_id) is not None:
        outbox.enqueue(db, jobs.LS_PUSH, cycle.id)


def release_queued_images(db: Session, cycle: Cycle) -> None:
    """Selected images of ``cycle`` that are still ``queued`` go back to ``unlabeled``."""
    from alp.db import Selection

    sel = select(Selection.image_id).where(Selection.cycle_id == cycle.id)
    db.execute(
        update(Image)
        .where(Image.id.in_(sel), Image.state == "queued")
        .values(state="unlabeled")
        .execution_options(synchronize_session=False)
    )


def snapshot_config(pool_settings: dict[str, Any]) -> dict[str, Any]:
    return dict(pool_settings)
