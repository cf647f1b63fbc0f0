"""Pydantic schemas of cycles, jobs, next-batch items and annotations (API + worker + demo).

Kept apart from :mod:`alp.schemas` (pools/images) so the two evolve independently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alp.schemas import Box
from alp.schemas_limits import MAX_BOXES


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    pool_id: int | None
    cycle_id: int | None
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(description="0..1")
    message: str
    error: str | None
    attempts: int
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CycleOut(BaseModel):
    id: int
    pool_id: int
    index: int
    state: str
    failed_stage: str | None
    error: str | None
    metrics: dict[str, Any]
    timings: dict[str, Any] = Field(description="stage -> wall seconds")
    labeled_count: int
    selection_size: int
    remaining: int = Field(description="selected images not yet labeled or skipped")
    issues: list[Any]
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    strategy: str | None = Field(None, description="Acquisition strategy of this cycle.")
    strategy_backtest_id: int | None = Field(
        None, description="The backtest that justified the strategy (pool settings snapshot)."
    )
    jobs: list[JobOut] = Field(default_factory=list)


class CycleStarted(BaseModel):
    """Answer of ``POST /pools/{id}/cycles`` and ``POST /cycles/{id}/retry`` (HTTP 202)."""

    cycle: CycleOut
    job: JobOut


class BatchItem(BaseModel):
    image_id: int
    cycle_id: int
    rank: int
    score: float
    components: dict[str, float]
    boxes: list[Box] = Field(description="The model's prediction used for pre-annotation.")
    width: int
    height: int
    filename: str
    content_url: str = Field(description="Signed, expiring URL of the image bytes.")


class NextBatch(BaseModel):
    cycle_id: int | None
    cycle_index: int | None = Field(
        None, description="The cycle's number in its pool (#0, #1 ...), as people see it."
    )
    cycle_state: str | None
    remaining: int = Field(description="Selected images of the cycle still to label.")
    items: list[BatchItem]


class AnnotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    boxes: list[Box] = Field(
        default_factory=list,
        max_length=MAX_BOXES,
        description=f"Empty list = no objects; at most {MAX_BOXES} boxes.",
    )
    skipped: bool = Field(False, description="Skip the image (takes no boxes).")


class AnnotationOut(BaseModel):
    image_id: int
    state: str
    skipped: bool
    source: str | None
    boxes: list[Box]
    updated_at: datetime | None


class AnnotationRevisionOut(BaseModel):
    """One change of an image's annotations (``GET /images/{id}/annotation/history``)."""

    id: int = Field(description="Increases with every change: the order they happened in.")
    action: Literal["put", "skip", "delete"]
    source: str
    external_id: str | None = Field(description="e.g. the Label Studio annotation id.")
    boxes: list[Box] = Field(description="The boxes after a put; empty for skip/delete.")
    author: str | None = Field(description="API key name or Label Studio user; None if unknown.")
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> AnnotationRevisionOut:
        return cls(
            id=row.id, action=row.action, source=row.source, external_id=row.external_id,
            boxes=[Box(**b) for b in row.boxes], author=row.author, created_at=row.created_at,
        )  # fmt: skip
