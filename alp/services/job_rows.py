"""Job rows: one per (cycle, stage kind); claimed with a lease, heart-beaten, finished.

Leases: :func:`claim` turns a ``queued`` job (or a ``running`` one whose heartbeat is older
than the stale cutoff) into ``running`` and increments ``attempts``; the new ``attempts``
value is the holder's token. :func:`beat` and :func:`finish` only succeed while the caller
still holds that token (``state == "running" and attempts == token``), so a worker that was
presumed dead and replaced can never overwrite its successor's work. Every helper flushes
only; the caller commits.

Score shards (:class:`~alp.db.ScoreShard`) carry the same kind of lease: :func:`claim_shard`
takes a ``pending`` shard (or a ``running`` one not touched within the stale time), its new
``attempts`` is the token, and :func:`end_shard` only changes the shard while that token
holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from alp.db import Job, ScoreShard, utcnow
from alp.errors import NotFound
from alp.schemas_cycles import JobOut

FINAL_STATES = ("succeeded", "failed", "cancelled")


def get_job(db: Session, job_id: int) -> Job:
    job = db.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def job_for(db: Session, cycle_id: int, kind: str) -> Job | None:
    """The (single) job of ``kind`` for the cycle, or None."""
    return db.scalar(
        select(Job).where(Job.cycle_id == cycle_id, Job.kind == kind).order_by(Job.id).limit(1)
    )


def ensure_job(db: Session, *, kind: str, pool_id: int, cycle_id: int) -> Job:
    """Get-or-create the cycle's job of ``kind`` and (re)set it to ``queued``.

    Re-entering a stage (retry, redelivery) reuses the row so a cycle never has two jobs of
    one kind; ``attempts`` keeps counting.
    """
    job = job_for(db, cycle_id, kind)
    if job is None:
        job = Job(kind=kind, pool_id=pool_id, cycle_id=cycle_id, state="queued", message="queued")
        db.add(job)
    else:
        job.state, job.progress, job.error = "queued", 0.0, None
        job.message, job.finished_at, job.payload = "queued", None, {}
    job.heartbeat_at = utcnow()  # for queued jobs: when it was (re)queued
    db.flush()
    return job


def stale_cutoff(stale_after_s: float) -> datetime:
    return utcnow() - timedelta(seconds=stale_after_s)


def claim(db: Session, job_id: int, stale_after_s: float) -> int | None:
    """Take the lease on ``job_id``; returns the token (new ``attempts``) or None if the job
    is finished or held by a live worker."""
    now = utcnow()
    res = db.execute(
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                Job.state == "queued",
                (Job.state == "running")
                & or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_cutoff(stale_after_s)),
            ),
        )
        .values(state="running", attempts=Job.attempts + 1, heartbeat_at=now, message="running")
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        return None
    job = db.get(Job, job_id)
    assert job is not None
    db.refresh(job)
    if job.started_at is None:
        job.started_at = now
    db.flush()
    return job.attempts


def beat(
    db: Session, job_id: int, token: int, progress: float | None = None, message: str | None = None
) -> bool:
    """Heartbeat (+ progress 0..1 and message); False when the lease was lost."""
    values: dict[str, object] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, float(progress)))
    if message is not None:
        values["message"] = message
    res = db.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "running", Job.attempts == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return res.rowcount == 1


def finish(
    db: Session,
    job_id: int,
    token: int | None,
    state: str = "succeeded",
    message: str = "done",
    error: str | None = None,
) -> bool:
    """Finish a job; with ``token`` only while holding the lease (None: unconditionally, for
    jobs that are not final yet). Returns whether the row changed."""
    cond = [Job.id == job_id]
    if token is not None:
        cond += [Job.state == "running", Job.attempts == token]
    else:
        cond.append(Job.state.not_in(FINAL_STATES))
    values: dict[str, object] = {
        "state": state, "message": message, "error": error, "finished_at": utcnow(),
        "heartbeat_at": utcnow(),
    }  # fmt: skip
    if state == "succeeded":
        values["progress"] = 1.0
    res = db.execute(
        update(Job).where(*cond).values(**values).execution_options(synchronize_session=False)
    )
    db.expire_all()
    return res.rowcount == 1


def touch_running(db: Session, job_id: int, progress: float | None = None) -> None:
    """Fan-out jobs (scoring): mark running on the first shard, heartbeat on every shard."""
    now = utcnow()
    db.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(state="running", message="running", started_at=now)
        .execution_options(synchronize_session=False)
    )
    values: dict[str, object] = {"heartbeat_at": now}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, float(progress)))
    db.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def claim_shard(db: Session, shard_id: int, stale_after_s: float) -> int | None:
    """Take the lease on a score shard; returns the token (new ``attempts``) or None if
    the shard is done, failed or held by a live worker."""
    res = db.execute(
        update(ScoreShard)
        .where(
            ScoreShard.id == shard_id,
            or_(
                ScoreShard.state == "pending",
                (ScoreShard.state == "running")
                & (ScoreShard.updated_at < stale_cutoff(stale_after_s)),
            ),
        )
        .values(state="running", attempts=ScoreShard.attempts + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        return None
    return int(db.scalar(select(ScoreShard.attempts).where(ScoreShard.id == shard_id)))


def beat_shard(db: Session, shard_id: int) -> None:
    """A shard's heartbeat (``updated_at``; the watchdog releases shards without one)."""
    db.execute(
        update(ScoreShard)
        .where(ScoreShard.id == shard_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def end_shard(db: Session, shard_id: int, token: int, state: str, **values: object) -> bool:
    """Move a ``running`` shard held with ``token`` to ``state`` (``done``, ``pending`` for a
    retry, ``failed``) with ``values`` (``records``, ``error``). False: the lease was lost."""
    res = db.execute(
        update(ScoreShard)
        .where(
            ScoreShard.id == shard_id,
            ScoreShard.state == "running",
            ScoreShard.attempts == token,
        )
        .values(state=state, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return res.rowcount == 1


def stale_running(db: Session, stale_after_s: float) -> list[Job]:
    """Running jobs whose heartbeat is older than the cutoff."""
    cutoff = stale_cutoff(stale_after_s)
    return list(
        db.scalars(
            select(Job).where(
                Job.state == "running",
                or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff),
            )
        )
    )


def stuck_queued(db: Session, older_than_s: float) -> list[Job]:
    """Queued cycle jobs created/last touched before the cutoff (their message may be lost)."""
    cutoff = stale_cutoff(older_than_s)
    return list(
        db.scalars(
            select(Job).where(
                Job.state == "queued",
                Job.cycle_id.is_not(None),
                or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff),
            )
        )
    )


def to_out(job: Job) -> JobOut:
    return JobOut.model_validate(job)
