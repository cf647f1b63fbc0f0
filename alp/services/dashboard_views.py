"""What the dashboard reads (``alp.services.dashboard``) and its JSON returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class CycleView(BaseModel):
    id: int
    index: int
    state: str
    failed_stage: str | None
    error: str | None
    labeled_count: int  # all labeled images (validation included) when the cycle trained
    train_images: int | None  # labeled training images it trains on; None until known
    val_images: int | None  # validation images it was evaluated on; None until evaluated
    metrics: dict[str, Any]
    timings: dict[str, float]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    strategy: str | None = None  # from the cycle's settings snapshot
    strategy_backtest_id: int | None = None  # the backtest that justified that strategy


class JobView(BaseModel):
    id: int
    kind: str
    state: str
    progress: float  # 0..1
    message: str
    error: str | None
    heartbeat_at: datetime | None
    stale: bool  # running, but no heartbeat for longer than the stale threshold


class ShardPass(BaseModel):
    """Scoring shards of one pass (1: the whole pool; 2: a two-pass strategy's ranking of
    the retrieved candidates)."""

    pass_no: int
    total: int
    done: int
    failed: int


class ShardProgress(BaseModel):
    total: int
    done: int
    failed: int
    passes: list[ShardPass] = []


class LabelStudioView(BaseModel):
    url: str
    project_id: int
    state: str
    last_sync_at: datetime | None
    last_error: str | None
    # tasks of the pool in Label Studio, by what the task last said (one per task id)
    pushed: int = 0
    annotated: int = 0
    skipped: int = 0
    remaining: int = 0  # pushed, neither annotated nor skipped


class CurvePoint(BaseModel):
    cycle_index: int
    train_images: int  # labeled training images (the x axis)
    map50: float | None
    coco_ap: float | None


class ClassAP(BaseModel):
    name: str
    num_gt: int | None  # ground-truth boxes of the class in the validation images
    ap50: float | None  # None: no ground truth of the class
    coco_ap: float | None


class PerClass(BaseModel):
    """Per-class AP of the latest cycle that has it."""

    cycle_index: int
    val_images: int | None
    classes: list[ClassAP]


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
    per_class: PerClass | None
    labelstudio: LabelStudioView | None
    version: str
