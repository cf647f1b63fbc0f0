"""A real Celery worker process executes a task over the SQLite broker and over Redis;
``/healthz`` reports it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from alp import jobs
from alp.db import WorkerHeartbeat
from tests.conftest import make_settings
from tests.support import databases
from tests.support.processes import celery_worker, wait_for


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
