"""``worker.observability`` in the test process: the task signals' handlers, driven around
real job and shard rows changing as a stage would change them, record stage durations,
failures and scored images (runs that took no lease record nothing), bind the job's ids
for log lines, and the metrics are scraped over HTTP."""

from __future__ import annotations

import io
import json
import logging
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, start_http_server
from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from alp import jobs, logs
from alp.db import Cycle, Job, Pool, ScoreShard
from tests.conftest import make_settings
from tests.worker.inprocess import use_settings
from worker import observability as obs


@pytest.fixture
def rows(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch):
    s = make_settings(tmp_path / "data", sqlite_url, log_format="json")
    sessions = use_settings(monkeypatch, s)
    with sessions() as db:
        pool = Pool(name="p", classes=["a"], settings={})
        db.add(pool)
        db.flush()
        cycle = Cycle(pool_id=pool.id, index=1, state="training")
        db.add(cycle)
        db.flush()
        job = Job(kind="train", pool_id=pool.id, cycle_id=cycle.id, state="queued")
        shard = ScoreShard(cycle_id=cycle.id, index=0, image_ids=[1, 2, 3])
        db.add_all([job, shard])
        db.commit()
        return sessions, pool.id, cycle.id, job.id, shard.id


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _set(sessions: sessionmaker, table: type, row_id: int, **values: object) -> None:
    with sessions() as db:
        db.execute(update(table).where(table.id == row_id).values(**values))
        db.commit()


def test_stage_runs_are_measured(rows) -> None:
    sessions, pool_id, cycle_id, job_id, _ = rows
    train = ("alp_stage_duration_seconds_count", {"stage": "train"})
    failures = ("alp_stage_failures_total", {"stage": "train"})
    before = _value(train[0], **train[1]), _value(failures[0], **failures[1])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("alp.test.obs")
    log.addHandler(handler)
    try:
        # a redelivered message whose job another worker holds: no lease taken, no record
        obs.on_prerun("t0", jobs.CYCLE_TRAIN, (job_id,))
        obs.on_postrun("t0", jobs.CYCLE_TRAIN, (job_id,))
        # the stage takes the lease, logs, and records a failure
        obs.on_prerun("t1", jobs.CYCLE_TRAIN, (job_id,))
        _set(sessions, Job, job_id, state="running", attempts=1)
        log.warning("stage body")
        _set(sessions, Job, job_id, state="failed")
        obs.on_postrun("t1", jobs.CYCLE_TRAIN, (job_id,))
        log.warning("after the task")
    finally:
        log.removeHandler(handler)
    assert _value(train[0], **train[1]) == before[0] + 1
    assert _value(failures[0], **failures[1]) == before[1] + 1
    inside, after = (json.loads(line) for line in out.getvalue().splitlines())
    assert (inside["job_id"], inside["cycle_id"], inside["pool_id"]) == (job_id, cycle_id, pool_id)
    assert inside["task"] == jobs.CYCLE_TRAIN and inside["task_id"] == "t1"
    assert "job_id" not in after and logs.current_ids() == {}


def test_an_exception_is_one_failure(rows) -> None:
    sessions, _, _, job_id, _ = rows
    before = _value("alp_stage_failures_total", stage="train")
    obs.on_prerun("t2", jobs.CYCLE_TRAIN, (job_id,))
    _set(sessions, Job, job_id, state="failed", attempts=1)
    obs.on_failure("t2", jobs.CYCLE_TRAIN)  # Celery's task_failure comes before postrun
    obs.on_postrun("t2", jobs.CYCLE_TRAIN, (job_id,))
    assert _value("alp_stage_failures_total", stage="train") == before + 1


def test_scored_shards_count_images_and_retries_count_as_failures(rows) -> None:
    sessions, _, _, _, shard_id = rows
    scored, fails = (
        _value("alp_images_scored_total"),
        _value("alp_stage_failures_total", stage="score"),
    )
    obs.on_prerun("s1", jobs.CYCLE_SCORE_SHARD, (shard_id,))
    _set(sessions, ScoreShard, shard_id, state="pending", attempts=1, error="boom")
    obs.on_postrun("s1", jobs.CYCLE_SCORE_SHARD, (shard_id,))
    obs.on_prerun("s2", jobs.CYCLE_SCORE_SHARD, (shard_id,))
    _set(sessions, ScoreShard, shard_id, state="done", attempts=2, error=None)
    obs.on_postrun("s2", jobs.CYCLE_SCORE_SHARD, (shard_id,))
    assert _value("alp_images_scored_total") == scored + 3
    assert _value("alp_stage_failures_total", stage="score") == fails + 1
    assert _value("alp_stage_duration_seconds_count", stage="score") >= 2


def test_other_tasks_and_scraping(rows) -> None:
    before = _value("alp_stage_duration_seconds_count", stage="labelstudio.sync")
    obs.on_prerun("x1", jobs.LS_SYNC, (1,))
    obs.on_postrun("x1", jobs.LS_SYNC, (1,))
    assert _value("alp_stage_duration_seconds_count", stage="labelstudio.sync") == before + 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server, thread = start_http_server(port, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    finally:
        server.shutdown()
        thread.join(10)
    assert 'alp_stage_duration_seconds_count{stage="labelstudio.sync"}' in text
    assert "alp_images_scored_total" in text and "alp_stage_failures_total" in text


def test_nothing_is_observed_by_default(tmp_path: Path, sqlite_url: str, monkeypatch) -> None:
    use_settings(monkeypatch, make_settings(tmp_path / "data", sqlite_url))
    obs.on_prerun("n1", jobs.PING, ("x",))
    assert "n1" not in obs._runs and logs.current_ids() == {}
