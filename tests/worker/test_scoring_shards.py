"""Scoring shards in process (no model: cycle 0 without labels scores at random):
``score_subset`` scores a seeded random subset of the unlabeled train images; a failing
shard is retried by itself and fails the cycle only after its last attempt."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from alp import jobs, outbox
from alp.config import Settings
from alp.db import Cycle, Image, Pool, ScoreShard, Selection
from alp.services import cycle_flow, cycles
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool
from tests.worker.inprocess import run_stages, shard_ids
from worker.pipeline import score


def _pool_and_cycle(
    settings: Settings, sessions: sessionmaker, n: int, **pool: Any
) -> tuple[list[int], int]:
    with sessions() as db:
        pid, ids = make_pool(db, LocalStorage(settings.storage_dir), n=n, **pool)
        cycle, _ = cycles.start_cycle(db, pid)
        db.commit()
    return ids, cycle.id


def test_score_subset_scores_a_seeded_subset_of_candidates(settings, worker_ctx) -> None:
    with worker_ctx() as db:
        pid, ids = make_pool(db, LocalStorage(settings.storage_dir), n=14, batch_size=3,
                             score_subset=5, seed=7, strategy="hua")  # fmt: skip
        db.get(Image, ids[0]).state = "skipped"  # never a candidate
        db.get(Image, ids[1]).split = "val"  # held out: never a candidate
        cycle, _ = cycles.start_cycle(db, pid)
        db.commit()
    eligible = set(ids[2:])
    run_stages(worker_ctx, cycle.id)
    with worker_ctx() as db:
        c = db.get(Cycle, cycle.id)
        assert c.state == "labeling", c.error
        shards = db.scalars(select(ScoreShard).where(ScoreShard.cycle_id == c.id)).all()
        scored = [i for sh in shards for i in sh.image_ids]
        assert len(scored) == 5 and scored == sorted(scored) and set(scored) <= eligible
        recorded = sorted(e["record"]["image_id"] for sh in shards for e in sh.records)
        assert recorded == scored
        # the pool-level context is cached in its own column, the settings snapshot unchanged
        assert set(c.scoring_context) == {"labeled_class_freq", "class_quality"}
        assert c.config == db.get(Pool, pid).settings
        chosen = db.scalars(select(Selection.image_id).where(Selection.cycle_id == c.id)).all()
        assert len(chosen) == 3 and set(chosen) <= set(scored)
        # deterministic per (seed, cycle index); another cycle index draws another subset
        for sid in chosen:
            db.get(Image, sid).state = "unlabeled"
        db.flush()
        assert cycle_flow.candidate_ids(db, c) == scored
        later = Cycle(pool_id=pid, index=1, config=dict(c.config))
        other = cycle_flow.candidate_ids(db, later)
        assert len(other) == 5 and set(other) <= eligible and other != scored
        everything = Cycle(pool_id=pid, index=0, config={**c.config, "score_subset": None})
        assert cycle_flow.candidate_ids(db, everything) == sorted(eligible)
        big = Cycle(pool_id=pid, index=0, config={**c.config, "score_subset": 100})
        assert cycle_flow.candidate_ids(db, big) == sorted(eligible)
        db.rollback()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """Tasks enqueued through ``alp.outbox`` (still enqueued for real)."""
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    real = outbox.enqueue

    def record(db: Any, task: str, *args: Any, **kw: Any) -> Any:
        calls.append((task, args, kw))
        return real(db, task, *args, **kw)

    monkeypatch.setattr(outbox, "enqueue", record)
    return calls


def _flaky(monkeypatch: pytest.MonkeyPatch, shard_id: int, failures: int) -> None:
    """The first ``failures`` attempts at ``shard_id`` raise."""
    real, left = score._score, [failures]

    def flaky(sid: int, cycle_id: int, skipped: list[tuple[int, str]]) -> Any:
        if sid == shard_id and left[0] > 0:
            left[0] -= 1
            raise RuntimeError("storage hiccup")
        return real(sid, cycle_id, skipped)

    monkeypatch.setattr(score, "_score", flaky)


def test_failed_shard_is_retried_alone(settings, worker_ctx, monkeypatch, sent) -> None:
    monkeypatch.setattr(settings, "score_shard_size", 3)
    _, cycle_id = _pool_and_cycle(settings, worker_ctx, n=6, batch_size=2)
    run_stages(worker_ctx, cycle_id, ("training", "evaluating"))
    first, second = shard_ids(worker_ctx, cycle_id)
    _flaky(monkeypatch, first, failures=1)
    sent.clear()
    score.run_shard(first)
    with worker_ctx() as db:
        shard = db.get(ScoreShard, first)
        assert (shard.state, shard.attempts) == ("pending", 1)
        assert "storage hiccup" in shard.error
        assert db.get(Cycle, cycle_id).state == "scoring"
    assert sent == [(jobs.CYCLE_SCORE_SHARD, (first,), {"countdown": score.RETRY_DELAY_S})]
    score.run_shard(second)
    score.run_shard(first)  # the re-sent message
    with worker_ctx() as db:
        shards = {s.id: s for s in db.scalars(select(ScoreShard))}
        assert (shards[first].state, shards[first].attempts, shards[first].error) == (
            "done", 2, None)  # fmt: skip
        assert (shards[second].state, shards[second].attempts) == ("done", 1)
        assert db.get(Cycle, cycle_id).state == "selecting"


def test_shard_failing_every_attempt_fails_the_cycle(settings, worker_ctx, monkeypatch) -> None:
    _, cycle_id = _pool_and_cycle(settings, worker_ctx, n=3)
    run_stages(worker_ctx, cycle_id, ("training", "evaluating"))
    (only,) = shard_ids(worker_ctx, cycle_id)
    _flaky(monkeypatch, only, failures=score.MAX_SHARD_ATTEMPTS)
    for _ in range(score.MAX_SHARD_ATTEMPTS):
        score.run_shard(only)
    with worker_ctx() as db:
        assert db.get(ScoreShard, only).state == "failed"
        c = db.get(Cycle, cycle_id)
        assert (c.state, c.failed_stage) == ("failed", "scoring")
        assert f"failed after {score.MAX_SHARD_ATTEMPTS} attempts" in c.error
        assert "storage hiccup" in c.error
