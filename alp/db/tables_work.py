"""Tables of the work queue: jobs, score shards of a cycle's scoring, worker heartbeats
and backtests (the state vocabularies are in :mod:`alp.db.tables`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from alp.db.base import Base, utcnow
from alp.db.tables import PK


class ScoreShard(Base):
    """One shard of a cycle's pool scoring; ``records`` holds its per-image records.

    ``pass_no`` is 1 for the pass over the whole pool and 2 for a two-pass strategy's
    ranking pass over the retrieved candidates (created once pass 1 is done); ``index``
    counts within a pass."""

    __tablename__ = "score_shards"
    __table_args__ = (
        UniqueConstraint("cycle_id", "pass_no", "index", name="uq_score_shards_cycle_pass_index"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    pass_no: Mapped[int] = mapped_column(default=1, server_default="1")
    index: Mapped[int]
    state: Mapped[str] = mapped_column(String(20), default="pending")
    image_ids: Mapped[list[Any]]
    records: Mapped[list[Any] | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_cycle_kind", "cycle_id", "kind"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"))
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class WorkerHeartbeat(Base):
    """Written by the ``alp.ping`` task; ``/healthz`` reads it to prove a worker is alive."""

    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(200), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class Backtest(Base):
    """A replay of active learning on a pool's own labels (issue 22). ``state`` mirrors its
    job's; at most one ``queued``/``running`` backtest per pool (partial unique index, so a
    second concurrent start fails in the database on every engine). ``results`` is written
    once, in the transaction that finishes the job."""

    __tablename__ = "backtests"
    __table_args__ = (
        Index(
            "uq_backtests_pool_active",
            "pool_id",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(20), default="queued")
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)  # validated request + runs
    estimate_s: Mapped[float] = mapped_column(Float, default=0.0)
    results: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
