"""Cycles: start (one active per pool), retry, cancel, labeling completion, read models.

Every state change goes through :mod:`alp.services.cycle_flow`; the worker runs the stages.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from alp.cycle_config import CycleConfig
from alp.db import Cycle, Image, Job, Pool, Selection, utcnow
from alp.db.tables import ACTIVE_CYCLE_STATES
from alp.errors import Conflict, NotFound
from alp.schemas_cycles import CycleOut
from alp.services import cycle_flow, job_rows


def get_cycle(db: Session, cycle_id: int) -> Cycle:
    cycle = db.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(f"cycle {cycle_id} not found")
    return cycle


def list_cycles(db: Session, pool_id: int) -> list[Cycle]:
    return list(db.scalars(select(Cycle).where(Cycle.pool_id == pool_id).order_by(Cycle.index)))


def active_cycle(db: Session, pool_id: int) -> Cycle | None:
    return db.scalar(
        select(Cycle)
        .where(Cycle.pool_id == pool_id, Cycle.state.in_(ACTIVE_CYCLE_STATES))
        .order_by(Cycle.index.desc())
        .limit(1)
    )


def _lock_pool(db: Session, pool_id: int) -> Pool:
    """Serialise cycle starts per pool: a row lock on PostgreSQL; on SQLite (where FOR UPDATE
    is a no-op and reads run outside any transaction) a no-op update takes the database
    write lock first, so the active-cycle check and the insert see the same, latest data.
    The unique (pool_id, index) constraint stays as the last guard."""
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text("UPDATE pools SET id = id WHERE id = :id"), {"id": pool_id})
    pool = db.scalar(
        select(Pool)
        .where(Pool.id == pool_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if pool is None:
        raise NotFound(f"pool {pool_id} not found")
    return pool


def _cannot_start(db: Session, pool_id: int) -> str | None:
    active = active_cycle(db, pool_id)
    if active is not None:
        return (
            f"pool {pool_id} already has an active cycle #{active.index} (id {active.id}, "
            f"state {active.state}); cancel it or wait until it is done"
        )
    has_candidates = db.scalar(
        select(Image.id)
        .where(Image.pool_id == pool_id, Image.state == "unlabeled", Image.split == "train")
        .limit(1)
    )
    if has_candidates is None:
        return f"pool {pool_id} has no unlabeled images left to select from"
    return None


def start_cycle(db: Session, pool_id: int) -> tuple[Cycle, Job]:
    """Create the pool's next cycle (``pending``) and queue its training job.

    Raises ``NotFound`` for an unknown pool, ``Conflict`` when a cycle is already active or
    no unlabeled image is left to select from.
    """
    pool = _lock_pool(db, pool_id)
    reason = _cannot_start(db, pool_id)
    if reason is not None:
        raise Conflict(reason)
    last = db.scalar(select(func.max(Cycle.index)).where(Cycle.pool_id == pool_id))
    cycle = Cycle(
        pool_id=pool_id,
        index=0 if last is None else last + 1,
        state="pending",
        config=CycleConfig.from_pool_settings(pool.settings).to_json(),
        metrics={},
        timings={},
        issues=[],
    )
    db.add(cycle)
    db.flush()
    job = cycle_flow.enter_stage(db, cycle, "training")
    return cycle, job


def retry_cycle(db: Session, cycle_id: int) -> tuple[Cycle, Job]:
    """Resume a ``failed`` cycle from its failed stage with the pool's current settings
    (finished shards are kept). ``Conflict`` if not failed or another cycle is active."""
    cycle = get_cycle(db, cycle_id)
    pool = _lock_pool(db, cycle.pool_id)
    if cycle.state != "failed":
        raise Conflict(
            f"cycle #{cycle.index} (id {cycle_id}) is {cycle.state}; "
            "only a failed cycle can be retried"
        )
    active = active_cycle(db, cycle.pool_id)
    if active is not None:
        raise Conflict(
            f"pool {cycle.pool_id} already has an active cycle #{active.index} (id {active.id})"
        )
    job = cycle_flow.retry(db, cycle, CycleConfig.from_pool_settings(pool.settings))
    return cycle, job


def cancel_cycle(db: Session, cycle_id: int) -> Cycle:
    """Cancel an active cycle: running work stops at its next check, queued jobs are
    cancelled, selected-but-unlabeled images return to ``unlabeled``."""
    cycle = get_cycle(db, cycle_id)
    if cycle.state not in ACTIVE_CYCLE_STATES:
        raise Conflict(
            f"cycle #{cycle.index} (id {cycle_id}) is {cycle.state}; "
            "only an active cycle can be cancelled"
        )
    cycle_flow.cancel(db, cycle)
    return cycle


def remaining_count(db: Session, cycle_id: int) -> int:
    """Selected images of the cycle neither labeled nor skipped."""
    return int(
        db.scalar(
            select(func.count())
            .select_from(Selection)
            .join(Image, Image.id == Selection.image_id)
            .where(Selection.cycle_id == cycle_id, Image.state.not_in(("labeled", "skipped")))
        )
        or 0
    )


def on_image_done(db: Session, image: Image) -> None:
    """After an image was labeled/skipped: finish the labeling cycle once its whole
    selection is done and, with ``auto_advance``, start the next cycle."""
    cycle = db.scalar(
        select(Cycle)
        .where(Cycle.pool_id == image.pool_id, Cycle.state == "labeling")
        .with_for_update()
    )
    if cycle is None:
        return
    db.flush()
    if remaining_count(db, cycle.id) > 0:
        return
    cycle_flow.finish_labeling(db, cycle)
    pool = db.get(Pool, cycle.pool_id)
    if pool is not None and pool.settings.get("auto_advance", True):
        reason = _cannot_start(db, cycle.pool_id)
        if reason is None:
            start_cycle(db, cycle.pool_id)
        else:  # e.g. nothing left to label: the pool is finished
            record_issue(db, cycle.id, f"auto-advance did not start a cycle: {reason}")


def record_issue(db: Session, cycle_id: int, message: str) -> None:
    """Append a non-fatal problem (with a timestamp) to ``Cycle.issues``.

    The cycle row is re-read under a row lock (PostgreSQL), so concurrent writers (e.g. two
    scoring shards finishing together) never lose each other's issues."""
    cycle = db.scalar(
        select(Cycle)
        .where(Cycle.id == cycle_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if cycle is None:
        return
    cycle.issues = [*(cycle.issues or []), {"at": utcnow().isoformat(), "message": message}]
    db.flush()


def to_out(db: Session, cycle: Cycle, with_jobs: bool = True) -> CycleOut:
    size = int(
        db.scalar(select(func.count()).select_from(Selection).where(Selection.cycle_id == cycle.id))
        or 0
    )
    jobs = (
        list(db.scalars(select(Job).where(Job.cycle_id == cycle.id).order_by(Job.id)))
        if with_jobs
        else []
    )
    return CycleOut(
        id=cycle.id,
        pool_id=cycle.pool_id,
        index=cycle.index,
        state=cycle.state,
        failed_stage=cycle.failed_stage,
        error=cycle.error,
        metrics=cycle.metrics or {},
        timings=cycle.timings or {},
        labeled_count=cycle.labeled_count,
        selection_size=size,
        remaining=remaining_count(db, cycle.id) if size else 0,
        issues=cycle.issues or [],
        cancel_requested=cycle.cancel_requested,
        created_at=cycle.created_at,
        started_at=cycle.started_at,
        finished_at=cycle.finished_at,
        strategy=(cycle.config or {}).get("strategy"),
        strategy_backtest_id=(cycle.config or {}).get("strategy_backtest_id"),
        jobs=[job_rows.to_out(j) for j in jobs],
    )
