"""Read models for the status dashboard (the pages and the JSON they poll).

Every function here only reads. Costs are bounded independently of pool size: image counts
are one grouped ``COUNT`` over ``ix_images_pool_state_id``, the timeline reads at most
``TIMELINE_LIMIT`` cycles, Label Studio task counts are one grouped query over the pool's
selections and the gallery (``dashboard_gallery``) reads one page of one cycle's selection.

Cycles are named by their pool-wide ``index`` wherever a person reads them (``#0``, ``#1``
...); the database ``id`` only appears in URLs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alp.db import Cycle, Job, LabelStudioConnection, Pool, ScoreShard, Selection
from alp.services.dashboard_gallery import gallery_cycle
from alp.services.dashboard_views import (
    ClassAP,
    CurvePoint,
    CycleView,
    JobView,
    LabelStudioView,
    PerClass,
    PoolStatus,
    PoolSummary,
    ShardPass,
    ShardProgress,
)
from alp.services.pools import get_pool, image_counts

TIMELINE_LIMIT = 100
ERROR_CHARS = 4000
ACTIVE_JOB_STATES = ("queued", "running")


def _metric(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) else None


def _count(metrics: dict[str, Any], name: str) -> int | None:
    value = metrics.get(name)
    return int(value) if isinstance(value, int | float) and value >= 0 else None


def train_images(labeled_count: int, metrics: dict[str, Any]) -> int | None:
    """Labeled training images of a cycle: ``metrics["train_images"]`` (stored by the
    training stage before it trains); for cycles from before it was stored, the labeled
    count less the validation images; None while unknown."""
    n = _count(metrics, "train_images")
    if n is not None:
        return n
    val = _count(metrics, "val_images")
    return max(0, labeled_count - val) if val is not None and labeled_count else None


def _cycle_view(c: Cycle) -> CycleView:
    error = c.error if c.error is None or len(c.error) <= ERROR_CHARS else c.error[:ERROR_CHARS]
    timings = {str(k): float(v) for k, v in (c.timings or {}).items() if isinstance(v, int | float)}
    metrics = dict(c.metrics or {})
    return CycleView(
        id=c.id,
        index=c.index,
        state=c.state,
        failed_stage=c.failed_stage,
        error=error,
        labeled_count=c.labeled_count,
        train_images=train_images(c.labeled_count, metrics),
        val_images=_count(metrics, "val_images"),
        metrics=metrics,
        timings=timings,
        created_at=c.created_at,
        started_at=c.started_at,
        finished_at=c.finished_at,
        strategy=(c.config or {}).get("strategy"),
        strategy_backtest_id=(c.config or {}).get("strategy_backtest_id"),
    )


def _job_view(j: Job, now: datetime, stale_after_s: float) -> JobView:
    beat = j.heartbeat_at or j.started_at  # UTCDateTime: always aware
    stale = (
        j.state == "running" and beat is not None and now - beat > timedelta(seconds=stale_after_s)
    )
    return JobView(
        id=j.id,
        kind=j.kind,
        state=j.state,
        progress=min(1.0, max(0.0, float(j.progress or 0))),
        message=j.message or "",
        error=j.error,
        heartbeat_at=j.heartbeat_at,
        stale=stale,
    )


def learning_curve(cycles: list[CycleView]) -> list[CurvePoint]:
    """One point per cycle with a known training-image count and an AP50 or COCO AP, in
    cycle order."""
    points = []
    for c in cycles:
        m50, ap = _metric(c.metrics, "map50"), _metric(c.metrics, "coco_ap")
        if (m50 is not None or ap is not None) and c.train_images is not None:
            points.append(
                CurvePoint(cycle_index=c.index, train_images=c.train_images, map50=m50, coco_ap=ap)
            )
    return points


def per_class(cycles: list[CycleView], classes: list[str]) -> PerClass | None:
    """Per-class AP of the latest cycle whose metrics have ``per_class``, in the pool's
    class order (classes the evaluation did not report come last)."""
    for c in reversed(cycles):
        table = c.metrics.get("per_class")
        if not isinstance(table, dict) or not table:
            continue
        names = [n for n in classes if n in table] + [n for n in table if n not in classes]
        rows = []
        for name in names:
            m = table[name] if isinstance(table[name], dict) else {}
            rows.append(
                ClassAP(
                    name=str(name),
                    num_gt=_count(m, "num_gt"),
                    ap50=_metric(m, "ap50"),
                    coco_ap=_metric(m, "coco_ap"),
                )
            )
        return PerClass(cycle_index=c.index, val_images=c.val_images, classes=rows)
    return None


def _ls_view(db: Session, conn: LabelStudioConnection | None) -> LabelStudioView | None:
    """The connection with its task counts. A task pushed again for a later selection of
    the same image counts once, with what its latest selection says."""
    if conn is None:
        return None
    latest = (
        select(func.max(Selection.id).label("sid"))
        .join(Cycle, Cycle.id == Selection.cycle_id)
        .where(Cycle.pool_id == conn.pool_id, Selection.ls_task_id.is_not(None))
        .group_by(Selection.ls_task_id)
        .subquery()
    )
    by_outcome: dict[str | None, int] = {
        outcome: int(n)
        for outcome, n in db.execute(
            select(Selection.ls_outcome, func.count())
            .join(latest, latest.c.sid == Selection.id)
            .group_by(Selection.ls_outcome)
        ).all()
    }
    pushed = sum(by_outcome.values())
    annotated, skipped = by_outcome.get("annotated", 0), by_outcome.get("skipped", 0)
    return LabelStudioView(
        url=conn.url,
        project_id=conn.project_id,
        state=conn.state,
        last_sync_at=conn.last_sync_at,
        last_error=conn.last_error,
        pushed=pushed,
        annotated=annotated,
        skipped=skipped,
        remaining=pushed - annotated - skipped,
    )


def overview(db: Session) -> list[PoolSummary]:
    """Every pool with image counts, its latest cycle, last mAP and Label Studio state."""
    pools = list(db.scalars(select(Pool).order_by(Pool.id)))
    ids = [p.id for p in pools]
    counts = image_counts(db, ids)
    latest_idx = (
        select(Cycle.pool_id, func.max(Cycle.index).label("mx")).group_by(Cycle.pool_id).subquery()
    )
    latest = {
        c.pool_id: c
        for c in db.scalars(
            select(Cycle).join(
                latest_idx,
                (Cycle.pool_id == latest_idx.c.pool_id) & (Cycle.index == latest_idx.c.mx),
            )
        )
    }
    last_metrics: dict[int, dict[str, Any]] = {}
    for pid, metrics in db.execute(
        select(Cycle.pool_id, Cycle.metrics).order_by(Cycle.pool_id, Cycle.index)
    ):
        if metrics and ("map50" in metrics or "coco_ap" in metrics):
            last_metrics[pid] = metrics
    ls = {c.pool_id: c.state for c in db.scalars(select(LabelStudioConnection))}
    out = []
    for p in pools:
        m = last_metrics.get(p.id, {})
        cur = latest.get(p.id)
        out.append(
            PoolSummary(
                id=p.id,
                name=p.name,
                counts=counts[p.id],
                current_cycle=_cycle_view(cur) if cur is not None else None,
                last_map50=_metric(m, "map50"),
                last_coco_ap=_metric(m, "coco_ap"),
                labelstudio=ls.get(p.id),
            )
        )
    return out


def _version(
    cycles: list[CycleView],
    jobs: list[JobView],
    gallery_cycle: int | None,
    shard_passes: int = 0,
) -> str:
    sig = [
        [(c.id, c.state, c.labeled_count, c.train_images) for c in cycles],
        [(j.id, j.state, j.stale) for j in jobs],
        gallery_cycle,
        shard_passes,  # pass 2 appearing adds a bar
    ]
    return hashlib.sha1(json.dumps(sig).encode()).hexdigest()[:16]


def pool_status(db: Session, pool_id: int, stale_after_s: float = 120.0) -> PoolStatus:
    """Status of one pool; raises ``NotFound`` for an unknown pool."""
    pool = get_pool(db, pool_id)
    rows = list(
        db.scalars(
            select(Cycle)
            .where(Cycle.pool_id == pool_id)
            .order_by(Cycle.index.desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    cycles = [_cycle_view(c) for c in reversed(rows)]
    current = cycles[-1] if cycles else None
    now = datetime.now(UTC)
    job_filter = (
        (Job.pool_id == pool_id) & (Job.cycle_id.is_(None)) & (Job.state.in_(ACTIVE_JOB_STATES))
    )
    if current is not None:
        job_filter = job_filter | (Job.cycle_id == current.id)
    job_rows = db.scalars(select(Job).where(job_filter).order_by(Job.id))
    jobs = [_job_view(j, now, stale_after_s) for j in job_rows]
    shards = None
    if current is not None:
        rows = db.execute(
            select(ScoreShard.pass_no, ScoreShard.state, func.count())
            .where(ScoreShard.cycle_id == current.id)
            .group_by(ScoreShard.pass_no, ScoreShard.state)
        ).all()
        by_pass: dict[int, dict[str, int]] = {}
        for pass_no, state, n in rows:
            by_pass.setdefault(int(pass_no), {})[state] = int(n)
        passes = [
            ShardPass(
                pass_no=p,
                total=sum(c.values()),
                done=c.get("done", 0),
                failed=c.get("failed", 0),
            )
            for p, c in sorted(by_pass.items())
        ]
        if passes:
            shards = ShardProgress(
                total=sum(x.total for x in passes),
                done=sum(x.done for x in passes),
                failed=sum(x.failed for x in passes),
                passes=passes,
            )
    ls = _ls_view(db, db.get(LabelStudioConnection, pool_id))
    return PoolStatus(
        pool_id=pool.id,
        name=pool.name,
        settings=dict(pool.settings),
        counts=image_counts(db, [pool.id])[pool.id],
        cycles=cycles,
        current=current,
        jobs=jobs,
        shards=shards,
        curve=learning_curve(cycles),
        per_class=per_class(cycles, list(pool.classes)),
        labelstudio=ls,
        version=_version(
            cycles, jobs, gallery_cycle(db, pool_id), len(shards.passes) if shards else 0
        ),
    )
