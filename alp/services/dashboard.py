"""Read models for the status dashboard (the pages and the JSON they poll).

Every function here only reads. Costs are bounded independently of pool size: image counts
are one grouped ``COUNT`` over ``ix_images_pool_state_id``, the timeline reads at most
``TIMELINE_LIMIT`` cycles and the gallery reads one page of one cycle's selection.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from alp.db import Cycle, Image, Job, LabelStudioConnection, Pool, ScoreShard, Selection
from alp.errors import BadRequest
from alp.services.pools import get_pool, image_counts

TIMELINE_LIMIT = 100
ERROR_CHARS = 4000
MAX_PER_PAGE = 100
ACTIVE_JOB_STATES = ("queued", "running")


class CycleView(BaseModel):
    id: int
    index: int
    state: str
    failed_stage: str | None
    error: str | None
    labeled_count: int
    metrics: dict[str, Any]
    timings: dict[str, float]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobView(BaseModel):
    id: int
    kind: str
    state: str
    progress: float  # 0..1
    message: str
    error: str | None
    heartbeat_at: datetime | None
    stale: bool  # running, but no heartbeat for longer than the stale threshold


class ShardProgress(BaseModel):
    total: int
    done: int
    failed: int


class LabelStudioView(BaseModel):
    url: str
    project_id: int
    state: str
    last_sync_at: datetime | None
    last_error: str | None


class CurvePoint(BaseModel):
    cycle_index: int
    labeled: int
    map50: float | None
    coco_ap: float | None


class PoolSummary(BaseModel):
    id: int
    name: str
    counts: dict[str, int]
    current_cycle: CycleView | None
    last_map50: float | None
    last_coco_ap: float | None
    labelstudio: str | None  # connection state, None when not connected


class PoolStatus(BaseModel):
    """What the pool page polls. ``version`` changes whenever the page structure changes
    (a cycle appears or changes state, a job starts or ends); progress values do not."""

    pool_id: int
    name: str
    settings: dict[str, Any]
    counts: dict[str, int]
    cycles: list[CycleView]
    current: CycleView | None
    jobs: list[JobView]
    shards: ShardProgress | None
    curve: list[CurvePoint]
    labelstudio: LabelStudioView | None
    version: str


class GalleryItem(BaseModel):
    selection_id: int
    image_id: int
    filename: str
    width: int
    height: int
    image_state: str
    rank: int
    score: float
    components: dict[str, Any]
    n_boxes: int
    ls_task_url: str | None


class Gallery(BaseModel):
    cycle_id: int | None
    cycle_index: int | None
    total: int
    page: int
    per_page: int
    pages: int
    items: list[GalleryItem]


def _metric(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) else None


def _cycle_view(c: Cycle) -> CycleView:
    error = c.error if c.error is None or len(c.error) <= ERROR_CHARS else c.error[:ERROR_CHARS]
    timings = {str(k): float(v) for k, v in (c.timings or {}).items() if isinstance(v, int | float)}
    return CycleView(
        id=c.id,
        index=c.index,
        state=c.state,
        failed_stage=c.failed_stage,
        error=error,
        labeled_count=c.labeled_count,
        metrics=dict(c.metrics or {}),
        timings=timings,
        created_at=c.created_at,
        started_at=c.started_at,
        finished_at=c.finished_at,
    )


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def _job_view(j: Job, now: datetime, stale_after_s: float) -> JobView:
    beat = _aware(j.heartbeat_at or j.started_at)
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
    """One point per cycle that has an AP50 or COCO AP, in cycle order."""
    points = []
    for c in cycles:
        m50, ap = _metric(c.metrics, "map50"), _metric(c.metrics, "coco_ap")
        if m50 is not None or ap is not None:
            points.append(
                CurvePoint(cycle_index=c.index, labeled=c.labeled_count, map50=m50, coco_ap=ap)
            )
    return points


def _ls_view(conn: LabelStudioConnection | None) -> LabelStudioView | None:
    if conn is None:
        return None
    return LabelStudioView(
        url=conn.url,
        project_id=conn.project_id,
        state=conn.state,
        last_sync_at=conn.last_sync_at,
        last_error=conn.last_error,
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


def _version(cycles: list[CycleView], jobs: list[JobView], gallery_cycle: int | None) -> str:
    sig = [
        [(c.id, c.state, c.labeled_count) for c in cycles],
        [(j.id, j.state, j.stale) for j in jobs],
        gallery_cycle,
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
        by_state = dict(
            db.execute(
                select(ScoreShard.state, func.count())
                .where(ScoreShard.cycle_id == current.id)
                .group_by(ScoreShard.state)
            ).all()
        )
        if by_state:
            shards = ShardProgress(
                total=sum(by_state.values()),
                done=by_state.get("done", 0),
                failed=by_state.get("failed", 0),
            )
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
        labelstudio=_ls_view(db.get(LabelStudioConnection, pool_id)),
        version=_version(cycles, jobs, gallery_cycle(db, pool_id)),
    )


def gallery_cycle(db: Session, pool_id: int) -> int | None:
    """Id of the latest cycle of the pool that has a selection (None if none has)."""
    has_sel = exists(select(Selection.id).where(Selection.cycle_id == Cycle.id))
    return db.scalar(
        select(Cycle.id)
        .where(Cycle.pool_id == pool_id, has_sel)
        .order_by(Cycle.index.desc())
        .limit(1)
    )


def ls_task_url(conn: LabelStudioConnection | None, task_id: int | None) -> str | None:
    """Browser link to a Label Studio task (None when not connected or not pushed)."""
    if conn is None or task_id is None:
        return None
    return f"{conn.url.rstrip('/')}/projects/{conn.project_id}/data?task={task_id}"


def gallery(db: Session, pool_id: int, page: int = 1, per_page: int = 24) -> Gallery:
    """One page (1-based) of the current selection, best rank first."""
    if page < 1:
        raise BadRequest("page must be >= 1")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadRequest(f"per_page must be between 1 and {MAX_PER_PAGE}")
    get_pool(db, pool_id)
    cycle_id = gallery_cycle(db, pool_id)
    if cycle_id is None:
        return Gallery(
            cycle_id=None,
            cycle_index=None,
            total=0,
            page=page,
            per_page=per_page,
            pages=0,
            items=[],
        )
    total = (
        db.scalar(select(func.count()).select_from(Selection).where(Selection.cycle_id == cycle_id))
        or 0
    )
    conn = db.get(LabelStudioConnection, pool_id)
    offset = (page - 1) * per_page
    rows: list[Any] = []
    if offset < total:  # past the end: no query (a huge offset would overflow the driver)
        rows = list(
            db.execute(
                select(Selection, Image.filename, Image.width, Image.height, Image.state)
                .join(Image, Image.id == Selection.image_id)
                .where(Selection.cycle_id == cycle_id)
                .order_by(Selection.rank, Selection.id)
                .limit(per_page)
                .offset(offset)
            ).all()
        )
    items = [
        GalleryItem(
            selection_id=s.id,
            image_id=s.image_id,
            filename=fn,
            width=w,
            height=h,
            image_state=st,
            rank=s.rank,
            score=s.score,
            components=dict(s.components or {}),
            n_boxes=len((s.prediction or {}).get("boxes") or []),
            ls_task_url=ls_task_url(conn, s.ls_task_id),
        )
        for s, fn, w, h, st in rows
    ]
    return Gallery(
        cycle_id=cycle_id,
        cycle_index=db.scalar(select(Cycle.index).where(Cycle.id == cycle_id)),
        total=total,
        page=page,
        per_page=per_page,
        pages=-(-total // per_page),
        items=items,
    )
