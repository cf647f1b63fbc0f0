"""Crash safety with real worker processes: SIGKILL the worker during training and again
during scoring; after each restart the watchdog (task ``alp.watchdog``, sent here the way
beat sends it) recovers the work, the cycle completes, finished shards are not redone, and
nothing is duplicated."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from alp import jobs
from alp.db import Job, ScoreShard
from alp.services import cycles
from tests.support.processes import celery_worker, stop_process, wait_for
from tests.worker.cycle_support import (
    WORKER_ENV,
    counts,
    engine_settings,
    entropy_pool,
    sessions_for,
    wait_state,
)


def test_sigkill_during_training_and_scoring(tmp_path: Path, sqlite_url: str) -> None:
    s = engine_settings(tmp_path, sqlite_url)
    sessions = sessions_for(s)
    celery = jobs.make_celery(s)
    with sessions() as db:
        pool = entropy_pool(db, s, "crash", n_labeled=8, n_val=0, n_unlabeled=40, iterations=30)
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()

    def job(kind: str) -> Job | None:
        with sessions() as db:
            return db.scalar(select(Job).where(Job.cycle_id == cycle.id, Job.kind == kind))

    def shards_done() -> tuple[int, int]:
        with sessions() as db:
            rows = db.execute(
                select(ScoreShard.state, func.count())
                .where(ScoreShard.cycle_id == cycle.id)
                .group_by(ScoreShard.state)
            ).all()
        by = dict(rows)
        return by.get("done", 0), sum(by.values())

    last_sent = [0.0]

    def run_watchdog() -> None:  # beat's job, at a test-friendly rate
        if time.monotonic() - last_sent[0] > 4.0:  # slower than the worker drains them
            jobs.send(celery, jobs.WATCHDOG)
            last_sent[0] = time.monotonic()

    # 1) killed mid-training
    with celery_worker(s, log_path=tmp_path / "w1.log", **WORKER_ENV) as proc:
        wait_for(lambda: (j := job("train")) and j.progress > 0, timeout=120,
                 what="training to make progress")  # fmt: skip
        stop_process(proc, signal.SIGKILL)
    assert job("train").state == "running"

    # 2) restarted: the stale training job is re-queued and redone; killed mid-scoring
    with celery_worker(s, log_path=tmp_path / "w2.log", **WORKER_ENV) as proc:

        def scoring_halfway() -> bool:
            run_watchdog()
            done, total = shards_done()
            return 1 <= done < total

        wait_for(scoring_halfway, timeout=150, interval=0.05, what="scoring to be halfway")
        stop_process(proc, signal.SIGKILL)
    done_before, total = shards_done()
    assert done_before < total
    with sessions() as db:
        finished = {
            sid: att
            for sid, att in db.execute(
                select(ScoreShard.id, ScoreShard.attempts).where(
                    ScoreShard.cycle_id == cycle.id, ScoreShard.state == "done"
                )
            )
        }

    # 3) restarted again: scoring resumes without redoing finished shards
    with celery_worker(s, log_path=tmp_path / "w3.log", **WORKER_ENV) as proc:

        def labeling() -> bool:
            run_watchdog()
            return wait_state(sessions, cycle.id, ("labeling",), timeout=0.01, proc=proc)

        wait_for(lambda: _quiet(labeling), timeout=150, interval=0.2, what="labeling")

    assert job("train").attempts >= 2, "training was redone after the crash"
    with sessions() as db:
        for sid, attempts in finished.items():
            assert db.get(ScoreShard, sid).attempts == attempts, "a finished shard was redone"
    assert counts(sessions, cycle.id) == {
        "selections": 4, "distinct_images": 4,
        "jobs": {"train": 1, "evaluate": 1, "score": 1, "select": 1},
    }  # fmt: skip


def _quiet(check: Callable[[], object]) -> bool:
    try:
        return bool(check())
    except TimeoutError:
        return False
