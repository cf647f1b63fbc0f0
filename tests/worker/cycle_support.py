"""Helpers for cycle tests with real worker processes: tiny-detector pools, settings for
both engines (SQLite + SQLite broker, PostgreSQL + Redis), polling on cycle rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alp.config import Settings
from alp.db import Cycle, Job, Selection, make_engine, make_sessionmaker
from alp.jobs import make_celery
from alp.storage import LocalStorage
from simulation.synthetic_pool import SyntheticPool, create_synthetic_pool
from tests.conftest import make_settings
from tests.support import databases
from tests.support.processes import wait_for

# A Redis db of our own (not ALP_TEST_REDIS_URL's): other suites flush theirs.
CYCLE_REDIS_DB = 12

TINY_TRAIN = {
    "iterations": 8,
    "batch_size": 4,
    "warmup_iters": 2,
    "lr": 0.01,
    "detector": {"min_size": 64, "max_size": 64},
}

# Training of the small pretrained-architecture tests (mobilenet / resnet at 256 px).
FAST_SMALL = {
    "iterations": 2, "batch_size": 2, "warmup_iters": 0,
    "detector": {"min_size": 256, "max_size": 256, "rois_per_image": 32,
                 "rpn_pre_nms_top_n_train": 200, "rpn_post_nms_top_n_train": 100,
                 "rpn_pre_nms_top_n_test": 100, "rpn_post_nms_top_n_test": 50},
}  # fmt: skip

# Env of worker processes under test: fast heartbeat expiry and small shards.
WORKER_ENV = {"ALP_WORKER_STALE_AFTER_S": "3", "ALP_SCORE_SHARD_SIZE": "4"}


def redis_url() -> str | None:
    base = databases.redis_base_url()
    if base is None:
        return None
    return urlsplit(base)._replace(path=f"/{CYCLE_REDIS_DB}").geturl()


def engine_settings(tmp_path: Path, db_url: str, **kw: Any) -> Settings:
    """SQLite db -> SQLite broker; PostgreSQL db -> Redis broker (flushed)."""
    extra: dict[str, Any] = {"worker_stale_after_s": 3, "score_shard_size": 4, **kw}
    if db_url.startswith("postgresql"):
        url = redis_url()
        assert url, f"{databases.REDIS_ENV} must be set with {databases.PG_ENV}"
        import redis

        redis.Redis.from_url(url).flushdb()
        extra["broker_url"] = url
    s = make_settings(tmp_path / "data", db_url, **extra)
    s.ensure_dirs()
    return s


def sessions_for(settings: Settings) -> sessionmaker:
    """Sessions that send enqueued tasks to the settings' broker after commit."""
    return make_sessionmaker(make_engine(settings.database_url), make_celery(settings))


def storage_for(settings: Settings) -> LocalStorage:
    assert settings.storage_dir is not None
    return LocalStorage(settings.storage_dir)


def pool_settings(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "strategy": "hua",
        "batch_size": 4,
        "train_preset": "huale",
        "model": "tiny",
        "train_overrides": TINY_TRAIN,
        "val_fraction": 0.0,
        "auto_advance": True,
    }
    base.update(kw)
    return base


def entropy_pool(
    db: Session,
    settings: Settings,
    name: str,
    *,
    n_labeled: int,
    n_val: int,
    n_unlabeled: int,
    iterations: int = TINY_TRAIN["iterations"],
) -> SyntheticPool:
    """A synthetic 64 px pool in the settings' storage for real-worker cycle tests:
    entropy strategy, vanilla preset, tiny detector trained ``iterations`` steps."""
    return create_synthetic_pool(
        db, storage_for(settings), name, n_labeled=n_labeled, n_val=n_val,
        n_unlabeled=n_unlabeled, size=64,
        settings=pool_settings(
            strategy="entropy", train_preset="vanilla",
            train_overrides={**TINY_TRAIN, "iterations": iterations},
        ),
    )  # fmt: skip


def cycle_row(sessions: sessionmaker, cycle_id: int) -> Cycle:
    with sessions() as db:
        cycle = db.get(Cycle, cycle_id)
        assert cycle is not None
        return cycle


def wait_state(
    sessions: sessionmaker,
    cycle_id: int,
    states: tuple[str, ...],
    timeout: float = 120,
    proc: Any = None,
) -> Cycle:
    """Poll until the cycle is in one of ``states``; fails early if it failed instead."""

    def check() -> Cycle | None:
        if proc is not None:
            assert proc.poll() is None, "worker died"
        c = cycle_row(sessions, cycle_id)
        if c.state == "failed" and "failed" not in states:
            raise AssertionError(f"cycle {cycle_id} failed at {c.failed_stage}: {c.error}")
        return c if c.state in states else None

    return wait_for(check, timeout=timeout, interval=0.2, what=f"cycle {cycle_id} in {states}")


def counts(sessions: sessionmaker, cycle_id: int) -> dict[str, Any]:
    """Selection rows and jobs per kind of a cycle (to prove nothing was duplicated)."""
    with sessions() as db:
        sel = db.scalar(select(func.count()).where(Selection.cycle_id == cycle_id))
        distinct = db.scalar(
            select(func.count(func.distinct(Selection.image_id))).where(
                Selection.cycle_id == cycle_id
            )
        )
        kinds = db.execute(
            select(Job.kind, func.count()).where(Job.cycle_id == cycle_id).group_by(Job.kind)
        ).all()
    return {"selections": sel, "distinct_images": distinct, "jobs": dict(kinds)}
