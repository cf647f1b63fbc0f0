"""SIGKILL a real worker mid-training (after a resume checkpoint was written), start a new
one: the watchdog re-queues the stale stage, training continues from the checkpoint's
iteration (not 0), the cycle reaches labeling with nothing duplicated, and the checkpoint
file is gone. Both engines (SQLite + SQLite broker, PostgreSQL + Redis)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import torch
from sqlalchemy import select

from alp import jobs
from alp.db import Job
from alp.services import cycles
from tests.support.processes import celery_worker, stop_process, wait_for
from tests.worker.cycle_support import (
    WORKER_ENV,
    counts,
    cycle_row,
    engine_settings,
    entropy_pool,
    sessions_for,
    storage_for,
    wait_state,
)
from worker.pipeline.resume import resume_key

ITERATIONS = 400  # progress is written once a second: long enough to kill mid-training
ENV = {**WORKER_ENV, "ALP_TRAIN_CHECKPOINT_EVERY": "3", "ALP_TRAIN_CHECKPOINT_EVERY_S": "0"}


def test_sigkill_mid_training_resumes_from_checkpoint(tmp_path: Path, db_url: str) -> None:
    s = engine_settings(tmp_path, db_url)
    sessions = sessions_for(s)
    celery = jobs.make_celery(s)
    storage = storage_for(s)
    with sessions() as db:
        pool = entropy_pool(
            db, s, "resume", n_labeled=8, n_val=0, n_unlabeled=12, iterations=ITERATIONS
        )
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()
    ckpt = storage.path(resume_key(pool.pool_id, cycle.id))

    def train_job() -> Job:
        with sessions() as db:
            job = db.scalar(select(Job).where(Job.cycle_id == cycle.id, Job.kind == "train"))
            assert job is not None
            return job

    def iteration() -> int:
        m = re.match(r"iteration (\d+)/", train_job().message or "")
        return int(m.group(1)) if m else 0

    seen: list[tuple[float, int, bool]] = []

    def ready() -> bool:
        seen.append((round(time.monotonic(), 2), iteration(), ckpt.exists()))
        return seen[-1][1] >= 6 and seen[-1][2]

    with celery_worker(s, log_path=tmp_path / "w1.log", **ENV) as proc:
        wait_for(ready, timeout=180, interval=0.05,
                 what="training past iteration 6 with a checkpoint")  # fmt: skip
        stop_process(proc, signal.SIGKILL)
    killed_at = iteration()
    seen.append((round(time.monotonic(), 2), killed_at, ckpt.exists()))
    saved_at = int(torch.load(ckpt, weights_only=True)["state"]["iteration"])
    assert 0 < saved_at <= killed_at < ITERATIONS and saved_at % 3 == 0, seen[-8:]
    assert train_job().state == "running"

    last_sent = [0.0]
    with celery_worker(s, log_path=tmp_path / "w2.log", **ENV) as proc:

        def labeling() -> bool:
            if time.monotonic() - last_sent[0] > 2.0:  # beat's job, at a test-friendly rate
                jobs.send(celery, jobs.WATCHDOG)
                last_sent[0] = time.monotonic()
            try:
                return bool(wait_state(sessions, cycle.id, ("labeling",), timeout=0.01, proc=proc))
            except TimeoutError:
                return False

        wait_for(labeling, timeout=420, interval=0.2, what="the cycle to reach labeling")

    job = train_job()
    assert job.attempts == 2 and job.state == "succeeded"
    assert f"trained {ITERATIONS} iterations (resumed at {saved_at})" in job.message, job.message
    issues = [i["message"] for i in cycle_row(sessions, cycle.id).issues]
    assert f"training resumed from its checkpoint at iteration {saved_at}" in issues, issues
    assert not ckpt.exists(), "the resume checkpoint is removed when the stage completes"
    assert counts(sessions, cycle.id) == {
        "selections": 4, "distinct_images": 4,
        "jobs": {"train": 1, "evaluate": 1, "score": 1, "select": 1},
    }  # fmt: skip
