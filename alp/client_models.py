"""Typed results of :mod:`alp.client`: pydantic models that ignore unknown fields, so a
newer server with more fields keeps working with an older client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Pool(_Model):
    id: int
    name: str
    classes: list[str]
    settings: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)


class Image(_Model):
    id: int
    pool_id: int
    sha256: str
    filename: str
    width: int
    height: int
    state: str
    split: str


class Job(_Model):
    id: int
    kind: str
    state: str
    progress: float = 0.0
    message: str = ""
    error: str | None = None


class Cycle(_Model):
    id: int
    pool_id: int
    index: int
    state: str
    failed_stage: str | None = None
    error: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    selection_size: int = 0
    remaining: int = 0
    jobs: list[Job] = Field(default_factory=list)


class CycleStarted(_Model):
    cycle: Cycle
    job: Job


class BatchItem(_Model):
    image_id: int
    rank: int
    score: float
    filename: str
    width: int
    height: int
    content_url: str
    boxes: list[dict[str, Any]] = Field(default_factory=list)


class NextBatch(_Model):
    cycle_id: int | None
    cycle_index: int | None = None
    cycle_state: str | None
    remaining: int
    items: list[BatchItem]


class UploadResult(_Model):
    accepted: list[dict[str, Any]] = Field(default_factory=list)
    duplicates: list[dict[str, Any]] = Field(default_factory=list)
    rejected: list[dict[str, Any]] = Field(default_factory=list)


class ImportResult(_Model):
    images_labeled: int
    images_from_archive: int = 0
    annotations: int
    classes_added: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    upload: UploadResult | None = None
