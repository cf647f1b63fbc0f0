"""A real Celery worker process executes a task over the SQLite broker and over Redis;
``/healthz`` reports it. ``alp up``'s worker layout (a gpu and an io process) on the SQLite
broker delivers every message once and runs io work while a cycle trains."""

from __future__ import annotations

import secrets
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from alp import jobs
from alp.db import Job, WorkerHeartbeat
from alp.services import cycles
from simulation.synthetic_pool import create_synthetic_pool
from tests.conftest import make_settings
from tests.support import databases
from tests.support.processes import celery_worker, embedded_workers, stop_process, wait_for
from tests.worker.cycle_support import (
    TINY_TRAIN,
    engine_settings,
    pool_settings,
    sessions_for,
    storage_for,
)


def _redis_url() -> str:
    base = databases.redis_base_url()
    if base is None:
        databases.skip_or_fail(databases.REDIS_ENV)
    return base


@pytest.fixture(params=["sqlite-broker", "redis"])
def broker_settings(request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str):
    if request.param == "sqlite-broker":
        return make_settings(tmp_path / "data", sqlite_url)
    url = _redis_url()
    redis.Redis.from_url(url).flushdb()
    return make_settings(tmp_path / "data", sqlite_url, broker_url=url)


def test_worker_executes_ping_task(broker_settings) -> None:
    from alp.db import make_engine, make_sessionmaker

    s = broker_settings
    sessions = make_sessionmaker(make_engine(s.database_url))
    app = jobs.make_celery(s)
    nonce = secrets.token_hex(4)
    with celery_worker(s, queues="gpu,io") as proc:
        jobs.send(app, jobs.PING, nonce)

        def answered() -> bool:
            assert proc.poll() is None, "worker died"
            with sessions() as db:
                return (
                    db.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.nonce == nonce))
                    is not None
                )

        wait_for(answered, timeout=90, what="the worker to run the ping task")


def test_healthz_reports_live_worker(broker_settings) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app

    s = broker_settings
    with celery_worker(s, queues="io"), TestClient(create_app(s)) as c:
        body = wait_for(
            lambda: (
                (r := c.get("/healthz", params={"wait": 5}).json())["worker"]["status"] == "ok"
                and r
            ),
            timeout=90,
            what="healthz to see the worker",
        )
    assert body["status"] == "ok" and body["database"] == "ok"


def test_embedded_workers_deliver_every_message_once(tmp_path: Path, sqlite_url: str) -> None:
    """``alp up``'s two worker processes on the SQLite broker: 60 tasks sent concurrently
    from four producers to both queues each run exactly once, on their queue's worker."""
    s = make_settings(tmp_path / "data", sqlite_url)
    sent: dict[str, list[str]] = {"gpu": [], "io": []}

    def produce(queue: str) -> None:
        app = jobs.make_celery(s)
        for i in range(15):
            sent[queue].append(app.send_task(jobs.PING, args=[f"{queue}{i}"], queue=queue).id)

    with embedded_workers(s, tmp_path) as procs:
        producers = [threading.Thread(target=produce, args=(q,)) for q in ("gpu", "io") * 2]
        for t in producers:
            t.start()
        for t in producers:
            t.join(timeout=60)
        assert len(sent["gpu"]) == len(sent["io"]) == 30

        def logs() -> dict[str, str] | None:
            assert all(p.poll() is None for p in procs), "a worker died"
            text = {q: (tmp_path / f"{q}.log").read_text() for q in sent}
            done = all(f"[{i}] succeeded" in text[q] for q, ids in sent.items() for i in ids)
            return text if done else None

        text = wait_for(logs, timeout=120, what="every task to run")
    for queue, ids in sent.items():
        other = "io" if queue == "gpu" else "gpu"
        for task_id in ids:
            assert text[queue].count(f"[{task_id}] received") == 1, "delivered twice"
            assert text[queue].count(f"[{task_id}] succeeded") == 1, "ran twice"
            assert task_id not in text[other], "ran on the wrong queue's worker"


def test_io_task_finishes_while_training_runs(tmp_path: Path, sqlite_url: str) -> None:
    """The embedded layout keeps io moving during training: an io task sent while a cycle
    trains on the gpu worker completes before the training does (one worker taking both
    queues made it wait for the whole training run)."""
    s = engine_settings(tmp_path, sqlite_url, worker_stale_after_s=120)
    sessions = sessions_for(s)
    with sessions() as db:
        pool = create_synthetic_pool(
            db, storage_for(s), "latency", n_labeled=8, n_val=0, n_unlabeled=8, size=64,
            settings=pool_settings(strategy="random", train_preset="vanilla",
                                   train_overrides={**TINY_TRAIN, "iterations": 3000}),
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()

    def train_job() -> Job | None:
        with sessions() as db:
            return db.scalar(select(Job).where(Job.cycle_id == cycle.id, Job.kind == "train"))

    with embedded_workers(s, tmp_path) as (gpu, _io):
        wait_for(lambda: (j := train_job()) and j.state == "running" and j.progress > 0,
                 timeout=180, what="training to make progress")  # fmt: skip
        nonce, sent_at = secrets.token_hex(4), time.monotonic()
        jobs.send(jobs.make_celery(s), jobs.PING, nonce)

        def pong() -> WorkerHeartbeat | None:
            with sessions() as db:
                return db.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.nonce == nonce))

        beat = wait_for(pong, timeout=60, interval=0.05, what="the io task during training")
        latency = time.monotonic() - sent_at
        train = train_job()
        stop_process(gpu, signal.SIGKILL)  # the test is over: don't wait out the training
    assert train.state == "running" or train.finished_at > beat.last_seen, (
        f"the io task waited for training ({latency:.1f}s)"
    )
    print(f"io task latency while training: {latency:.2f}s")
