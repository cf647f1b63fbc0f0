"""The watchdog (task ``alp.watchdog``, on the beat schedule): recover work whose worker
died.

* a ``running`` stage job whose heartbeat is older than ``worker_stale_after_s`` is
  re-queued and its task re-sent (its lease can then be claimed again); after
  ``MAX_REQUEUES`` the job and its cycle fail with a clear error;
* the scoring job: shards stuck ``running`` with a stale ``updated_at`` go back to
  ``pending`` and every unfinished shard is re-sent;
* a ``queued`` job untouched for ``QUEUED_FACTOR`` x the stale time is re-sent (its
  message may have been lost), and so is, on every pass, a ``queued`` job whose message
  says it is ``waiting for broker`` (the process that was retrying it may have died).
  Duplicate messages are harmless: claims are leases.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, Job, ScoreShard, utcnow
from alp.db.tables import ACTIVE_CYCLE_STATES
from alp.services import cycle_flow, job_rows

log = logging.getLogger("alp.worker.watchdog")
MAX_REQUEUES = 3
QUEUED_FACTOR = 5


def _resend(db: Session, job: Job) -> None:
    if job.kind == "score":
        shards = db.scalars(
            select(ScoreShard.id).where(
                ScoreShard.cycle_id == job.cycle_id, ScoreShard.state == "pending"
            )
        )
        for shard_id in shards:
            outbox.enqueue(db, jobs.CYCLE_SCORE_SHARD, shard_id)
    else:
        task = cycle_flow.STAGE_TASK[cycle_flow.STAGE_OF_JOB[job.kind]]
        outbox.enqueue(db, task, job.id)


def _release_stale_shards(db: Session, cycle_id: int, stale_after_s: float) -> int:
    res = db.execute(
        update(ScoreShard)
        .where(
            ScoreShard.cycle_id == cycle_id,
            ScoreShard.state == "running",
            ScoreShard.updated_at < job_rows.stale_cutoff(stale_after_s),
        )
        .values(state="pending", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(res.rowcount or 0)


def check(db: Session, stale_after_s: float) -> dict[str, int]:
    """One watchdog pass (flushes; the caller commits). Returns counts for the log."""
    out = {"requeued": 0, "failed": 0, "resent": 0, "cancelled": 0}
    for job in job_rows.stale_running(db, stale_after_s):
        if job.cycle_id is None or job.kind not in cycle_flow.STAGE_OF_JOB:
            continue
        cycle = db.get(Cycle, job.cycle_id)
        if cycle is None or cycle.state not in ACTIVE_CYCLE_STATES:
            job_rows.finish(db, job.id, None, "cancelled", "cycle no longer active")
            out["cancelled"] += 1
            continue
        if job.kind == "score":
            out["requeued"] += _release_stale_shards(db, cycle.id, stale_after_s)
            job.heartbeat_at = utcnow()
            _resend(db, job)
            continue
        requeues = int((job.payload or {}).get("requeues", 0))
        if requeues >= MAX_REQUEUES:
            error = f"worker lost {requeues + 1} times (heartbeat older than {stale_after_s}s)"
            cycle_flow.fail_stage(db, cycle, cycle_flow.STAGE_OF_JOB[job.kind], job.id, error)
            out["failed"] += 1
            continue
        job.state, job.heartbeat_at = "queued", utcnow()
        job.message = "re-queued: the worker stopped sending heartbeats"
        job.payload = {**(job.payload or {}), "requeues": requeues + 1}
        _resend(db, job)
        out["requeued"] += 1
        log.warning("re-queued stale job %s (%s, cycle %s)", job.id, job.kind, job.cycle_id)
    stuck = job_rows.stuck_queued(db, stale_after_s * QUEUED_FACTOR)
    waiting = db.scalars(
        select(Job).where(
            Job.state == "queued",
            Job.cycle_id.is_not(None),
            Job.message.startswith(outbox.WAITING),
            Job.id.not_in([j.id for j in stuck]),
        )
    )
    for job in [*stuck, *waiting]:
        cycle = db.get(Cycle, job.cycle_id) if job.cycle_id else None
        if job.kind not in cycle_flow.STAGE_OF_JOB or cycle is None:
            continue
        if cycle.state not in ACTIVE_CYCLE_STATES:
            job_rows.finish(db, job.id, None, "cancelled", "cycle no longer active")
            out["cancelled"] += 1
            continue
        job.heartbeat_at, job.message = utcnow(), "queued"
        _resend(db, job)
        out["resent"] += 1
    db.flush()
    return out
