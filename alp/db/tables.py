"""SQLAlchemy 2.0 typed tables for every entity of DESIGN §3: pools and their images,
annotations, cycles, selections and predictions here; the work queue (jobs, score shards,
worker heartbeats, backtests) in :mod:`alp.db.tables_work`; API keys and the audit log in
:mod:`alp.db.tables_access`. The state vocabularies of all of them are here.

Deleting a pool cascades to its images, annotations, cycles, selections, jobs and Label
Studio connection (database-level ``ON DELETE CASCADE`` plus ORM ``passive_deletes``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alp.db.base import Base, utcnow

IMAGE_STATES = ("unlabeled", "queued", "labeled", "skipped")
SPLITS = ("train", "val")
CYCLE_STATES = (
    "pending",
    "training",
    "evaluating",
    "scoring",
    "selecting",
    "labeling",
    "done",
    "failed",
    "cancelled",
)
ACTIVE_CYCLE_STATES = ("pending", "training", "evaluating", "scoring", "selecting", "labeling")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ANNOTATION_SOURCES = ("api", "labelstudio", "import", "simulated")
BACKTEST_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_BACKTEST_STATES = ("queued", "running")

PK = BigInteger().with_variant(Integer, "sqlite")
MAX_ID = 2**63 - 1  # largest primary key either engine can hold (signed 64-bit)


class Pool(Base):
    __tablename__ = "pools"

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    classes: Mapped[list[Any]]
    settings: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    images: Mapped[list[Image]] = relationship(back_populates="pool", passive_deletes=True)
    cycles: Mapped[list[Cycle]] = relationship(back_populates="pool", passive_deletes=True)


class LabelStudioConnection(Base):
    __tablename__ = "labelstudio_connections"

    pool_id: Mapped[int] = mapped_column(
        ForeignKey("pools.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(500))
    token: Mapped[str] = mapped_column(Text)  # never returned by the API nor logged
    project_id: Mapped[int]
    webhook_id: Mapped[int | None]
    state: Mapped[str] = mapped_column(String(20), default="connected")
    last_sync_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Label Studio integration (alp/labelstudio): shared secret Label Studio sends with each
    # webhook, and the sync cursor = the newest Label Studio task ``updated_at`` ingested.
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    sync_cursor: Mapped[datetime | None]
    last_push_at: Mapped[datetime | None]
    # when a webhook last queued a sync that has not started yet (webhook bursts coalesce)
    sync_queued_at: Mapped[datetime | None]


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("pool_id", "sha256", name="uq_images_pool_sha256"),
        Index("ix_images_pool_state_id", "pool_id", "state", "id"),
        Index("ix_images_pool_filename", "pool_id", "filename"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int]
    height: Mapped[int]
    state: Mapped[str] = mapped_column(String(20), default="unlabeled")
    split: Mapped[str] = mapped_column(String(10), default="train")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    pool: Mapped[Pool] = relationship(back_populates="images")
    annotations: Mapped[list[Annotation]] = relationship(
        back_populates="image", passive_deletes=True
    )


class Annotation(Base):
    """Boxes ``[{"x1","y1","x2","y2","label"}]`` in pixels; ``label`` is a class name."""

    __tablename__ = "annotations"
    __table_args__ = (
        # one row per external annotation (e.g. a Label Studio annotation id) ...
        UniqueConstraint("image_id", "source", "external_id", name="uq_annotations_external"),
        # ... and one per (image, source) without one (NULLs are distinct in the constraint
        # above): upserts in alp.services.annotations name this index in ON CONFLICT
        Index(
            "uq_annotations_image_source_local",
            "image_id",
            "source",
            unique=True,
            sqlite_where=text("external_id IS NULL"),
            postgresql_where=text("external_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    boxes: Mapped[list[Any]]
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    image: Mapped[Image] = relationship(back_populates="annotations")


class AnnotationRevision(Base):
    """Append-only history of an image's annotations: one row per change, written in the
    transaction of the change (``alp.services.annotations``). ``action``: ``put`` (the
    boxes of (source, external_id) became ``boxes``), ``skip`` (the image was skipped) or
    ``delete`` (that annotation was removed, e.g. in Label Studio). Never updated."""

    __tablename__ = "annotation_revisions"
    __table_args__ = (Index("ix_annotation_revisions_image_id", "image_id", "id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(100))
    boxes: Mapped[list[Any]]
    author: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Cycle(Base):
    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("pool_id", "index", name="uq_cycles_pool_index"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    index: Mapped[int]
    state: Mapped[str] = mapped_column(String(20), default="pending")
    failed_stage: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)  # alp.cycle_config.CycleConfig
    # pool-level scoring context, computed once per cycle (worker.pipeline.score)
    scoring_context: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    checkpoint_key: Mapped[str | None] = mapped_column(String(300))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labeled_count: Mapped[int] = mapped_column(default=0)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # stage -> seconds
    issues: Mapped[list[Any]] = mapped_column(default=list)  # non-fatal problems (e.g. sync)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    pool: Mapped[Pool] = relationship(back_populates="cycles")


class Selection(Base):
    __tablename__ = "selections"
    __table_args__ = (
        UniqueConstraint("cycle_id", "image_id", name="uq_selections_cycle_image"),
        Index("ix_selections_cycle_rank", "cycle_id", "rank"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int]
    score: Mapped[float] = mapped_column(Float)
    components: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prediction: Mapped[dict[str, Any]] = mapped_column(default=dict)  # boxes/labels/scores
    ls_task_id: Mapped[int | None] = mapped_column(BigInteger)
    # What the Label Studio task last said: None (not annotated) | "annotated" | "skipped".
    ls_outcome: Mapped[str | None] = mapped_column(String(20))
    # How many boxes the pushed Label Studio task got pre-drawn (None: not pushed yet).
    ls_boxes: Mapped[int | None]


class Prediction(Base):
    """The latest on-demand detections of one image (``POST /pools/{id}/predictions``):
    boxes in image pixels with label names and scores, and the cycle whose model made them."""

    __tablename__ = "predictions"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    boxes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
