"""The cycle state machine's transitions (DB only; the worker does the torch work).

``pending -> training -> evaluating -> scoring -> selecting -> labeling -> done``; any
stage may go to ``failed`` (with ``failed_stage`` and error text) or ``cancelled``. Each
stage has one Job row (kind ``train | evaluate | score | select``). Entering a stage
(re)queues its job and enqueues its task(s) after commit; scoring fans out over
:class:`~alp.db.ScoreShard` rows, one task per shard, and the shard that completes the
set moves the cycle on (:func:`complete_scoring`).

Every write of ``Cycle.state`` is in this module (starting, retrying, cancelling and
finishing cycles as well as the stages' transitions); its helpers flush, the caller commits.
"""

from __future__ import annotations

import random

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.cycle_config import CycleConfig
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
    cfg = CycleConfig.parse(cycle.config)
    subset = cfg.score_subset
    if subset and len(ids) > subset:
        rng = random.Random(f"{cfg.seed}:{cycle.index}")
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


def begin_stage(db: Session, cycle: Cycle, stage: str) -> None:
    """A worker took ``stage``'s job: the cycle is in ``stage`` (``training`` leaves
    ``pending`` here) and has started."""
    cycle.state = stage
    if cycle.started_at is None:
        cycle.started_at = utcnow()
    db.flush()


def complete_stage(
    db: Session,
    cycle: Cycle,
    stage: str,
    job_id: int,
    token: int | None,
    seconds: float,
    message: str = "done",
    shard_size: int = 256,
    selected: int = 0,
) -> bool:
    """Finish ``stage``'s job (only while holding the lease ``token``), record its wall time
    and enter the next stage (after ``selecting``: labeling, or ``done`` when ``selected``
    is 0). Returns False (and changes nothing) if the lease was lost or the cycle moved on,
    e.g. it was cancelled."""
    if cycle.state != stage or cycle.cancel_requested:
        return False
    if not job_rows.finish(db, job_id, token, message=message):
        return False
    db.refresh(cycle)
    cycle.timings = {**(cycle.timings or {}), stage: round(float(seconds), 3)}
    if stage == "selecting":
        enter_labeling(db, cycle, selected)
    else:
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


def retry(db: Session, cycle: Cycle, config: CycleConfig) -> Job:
    """Resume a failed ``cycle`` at its failed stage with ``config`` (the pool's current
    settings)."""
    cycle.config = config.to_json()
    cycle.finished_at = None
    return enter_stage(db, cycle, cycle.failed_stage or "training")


def cancel(db: Session, cycle: Cycle) -> None:
    """``cancelled``: running work stops at its next check, unfinished jobs are cancelled,
    selected-but-unlabeled images return to ``unlabeled``."""
    cycle.cancel_requested = True
    cycle.state, cycle.finished_at = "cancelled", utcnow()
    for job in db.scalars(select(Job).where(Job.cycle_id == cycle.id)):
        if job.state not in job_rows.FINAL_STATES:
            job.state, job.message, job.finished_at = "cancelled", "cancelled", utcnow()
    release_queued_images(db, cycle)
    db.flush()


def finish_labeling(db: Session, cycle: Cycle) -> None:
    """The whole selection is labeled or skipped: the cycle is ``done``."""
    cycle.state, cycle.finished_at = "done", utcnow()
    db.flush()


# ---------------------------------------------------------------- scoring shards
def shard_counts(db: Session, cycle_id: int) -> dict[int, tuple[int, int]]:
    """``{pass_no: (shards, done shards)}`` of the cycle."""
    rows = db.execute(
        select(ScoreShard.pass_no, func.count(), func.count().filter(ScoreShard.state == "done"))
        .where(ScoreShard.cycle_id == cycle_id)
        .group_by(ScoreShard.pass_no)
    ).all()
    return {int(p): (int(t), int(d)) for p, t, d in rows}


def shard_progress(db: Session, cycle_id: int, job_id: int) -> dict[int, tuple[int, int]]:
    """Write the scoring job's progress and message (counted over every pass's shards)
    and return :func:`shard_counts`."""
    by_pass = shard_counts(db, cycle_id)
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
    return by_pass


def lock_scoring(db: Session, cycle_id: int) -> bool:
    """Lock the cycle's row while it is ``scoring`` and not cancelled (a guarded no-op
    update, so concurrent shard finishers serialise); False when it is not."""
    locked = db.execute(
        update(Cycle)
        .where(Cycle.id == cycle_id, Cycle.state == "scoring", Cycle.cancel_requested.is_(False))
        .values(state="scoring")
        .execution_options(synchronize_session=False)
    )
    return locked.rowcount == 1


def record_scoring_time(db: Session, cycle_id: int, job_id: int, key: str) -> float:
    """Seconds since the scoring job started, stored as ``Cycle.timings[key]``."""
    job = db.get(Job, job_id)
    cycle = db.get(Cycle, cycle_id)
    assert job is not None and cycle is not None
    seconds = (utcnow() - (job.started_at or job.created_at)).total_seconds()
    cycle.timings = {**(cycle.timings or {}), key: round(seconds, 3)}
    return seconds


def complete_scoring(
    db: Session, cycle_id: int, job_id: int, by_pass: dict[int, tuple[int, int]]
) -> bool:
    """Every shard (``by_pass``: :func:`shard_counts`) is done: record the scoring time
    (and pass 2's when there was one), finish the job and enter ``selecting``, exactly once
    (a guarded update). False (the caller rolls back) when the cycle is no longer scoring
    or was cancelled."""
    moved = db.execute(
        update(Cycle)
        .where(Cycle.id == cycle_id, Cycle.state == "scoring", Cycle.cancel_requested.is_(False))
        .values(state="selecting")
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    cycle = db.get(Cycle, cycle_id)
    assert cycle is not None
    db.refresh(cycle)
    seconds = record_scoring_time(db, cycle_id, job_id, "scoring")
    first = (cycle.timings or {}).get("scoring_pass1")
    if 2 in by_pass and first is not None:
        cycle.timings = {**cycle.timings, "scoring_pass2": round(seconds - first, 3)}
    total = sum(t for t, _ in by_pass.values())
    job_rows.finish(db, job_id, None, message=f"scored {total} shards")
    enter_stage(db, cycle, "selecting")
    return True
