"""Leases, the watchdog and stage re-entry, in process (no worker): stale heartbeats are
detected and re-queued, dead workers cannot finish a job they lost, retry keeps finished
shards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from alp import jobs, outbox
from alp.db import Cycle, Job, ScoreShard, utcnow
from alp.services import cycle_flow, cycles, job_rows
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool
from worker.pipeline import watchdog


@pytest.fixture
def cycle(db, settings) -> Cycle:
    pid, _ = make_pool(db, LocalStorage(settings.storage_dir), n=5)
    c, _ = cycles.start_cycle(db, pid)
    db.info.pop("alp_outbox", None)
    return c


def _age(job: Job, seconds: float) -> None:
    job.heartbeat_at = utcnow() - timedelta(seconds=seconds)


def test_lease_is_exclusive_and_fences_a_lost_worker(db, cycle) -> None:
    job = job_rows.job_for(db, cycle.id, "train")
    token = job_rows.claim(db, job.id, stale_after_s=60)
    assert token == 1
    assert job_rows.claim(db, job.id, stale_after_s=60) is None, "held by a live worker"
    _age(job, 120)
    db.flush()
    assert job_rows.claim(db, job.id, stale_after_s=60) == 2, "stale lease is taken over"
    assert not job_rows.beat(db, job.id, token), "the old holder lost its lease"
    assert not job_rows.finish(db, job.id, token), "and cannot finish the job"
    assert job_rows.finish(db, job.id, 2)
    assert db.get(Job, job.id).state == "succeeded"


def test_watchdog_requeues_stale_job_then_gives_up(db, cycle) -> None:
    job = job_rows.job_for(db, cycle.id, "train")
    job_rows.claim(db, job.id, 60)
    _age(job, 10)
    db.flush()
    assert watchdog.check(db, stale_after_s=60) == {
        "requeued": 0, "failed": 0, "resent": 0, "cancelled": 0,
    }, "a fresh heartbeat is left alone"  # fmt: skip
    for attempt in range(1, watchdog.MAX_REQUEUES + 1):
        _age(job, 120)
        db.flush()
        assert watchdog.check(db, stale_after_s=60)["requeued"] == 1
        db.refresh(job)
        assert job.state == "queued" and job.payload["requeues"] == attempt
        assert outbox.pending(db)[-1][:2] == (jobs.CYCLE_TRAIN, (job.id,))
        job_rows.claim(db, job.id, 60)
    _age(job, 120)
    db.flush()
    assert watchdog.check(db, stale_after_s=60)["failed"] == 1
    db.refresh(cycle)
    assert cycle.state == "failed" and cycle.failed_stage == "training"
    assert "worker lost" in cycle.error


def test_watchdog_resends_lost_queued_message_and_cancels_orphans(db, cycle) -> None:
    job = job_rows.job_for(db, cycle.id, "train")
    _age(job, 1000)
    db.flush()
    assert watchdog.check(db, stale_after_s=60)["resent"] == 1
    assert outbox.pending(db) == [(jobs.CYCLE_TRAIN, (job.id,), None)]
    cycle.state = "failed"
    job.state = "running"
    _age(job, 1000)
    db.flush()
    assert watchdog.check(db, stale_after_s=60)["cancelled"] == 1
    assert db.get(Job, job.id).state == "cancelled"


def test_scoring_reentry_keeps_finished_shards(db, cycle) -> None:
    cycle.checkpoint_key = "x"
    cycle_flow.enter_stage(db, cycle, "scoring", shard_size=2)
    shards = db.scalars(select(ScoreShard).where(ScoreShard.cycle_id == cycle.id)).all()
    assert [len(s.image_ids) for s in shards] == [2, 2, 1]
    assert [a for n, a, _ in outbox.pending(db) if n == jobs.CYCLE_SCORE_SHARD] == [
        (s.id,) for s in shards
    ]
    db.info.pop("alp_outbox")
    shards[0].state, shards[0].records = "done", []
    shards[1].state, shards[1].attempts = "failed", 3
    shards[2].state = "running"
    cycle_flow.fail_stage(db, cycle, "scoring", None, "shard 1 failed")
    cycles.retry_cycle(db, cycle.id)
    assert cycle.state == "scoring"
    assert [s.state for s in shards] == ["done", "pending", "pending"]
    assert [a for _, a, _ in outbox.pending(db)] == [(shards[1].id,), (shards[2].id,)]
    job = job_rows.job_for(db, cycle.id, "score")
    assert job.state == "queued" and job.progress == pytest.approx(1 / 3)


def test_watchdog_releases_stale_running_shards(db, cycle) -> None:
    cycle_flow.enter_stage(db, cycle, "scoring", shard_size=10)
    db.info.pop("alp_outbox")
    shard = db.scalar(select(ScoreShard).where(ScoreShard.cycle_id == cycle.id))
    job = job_rows.job_for(db, cycle.id, "score")
    job_rows.touch_running(db, job.id)
    shard.state, shard.updated_at = "running", utcnow() - timedelta(seconds=500)
    db.flush()
    job.heartbeat_at = utcnow() - timedelta(seconds=500)
    db.flush()
    assert watchdog.check(db, stale_after_s=60)["requeued"] == 1
    db.refresh(shard)
    assert shard.state == "pending"
    assert outbox.pending(db) == [(jobs.CYCLE_SCORE_SHARD, (shard.id,), None)]
