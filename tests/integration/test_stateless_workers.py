"""Stateless workers: the API and each worker have their own, unshared data dir; they meet
only through PostgreSQL, Redis and S3 (a real moto server). A full cycle runs on a first
worker (checkpoint lands in S3, selection thumbnails are served by the API from S3); the
second cycle runs on a second worker whose data dir and cache start empty."""

from __future__ import annotations

from pathlib import Path

import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from alp.db import Cycle, Selection
from alp.services import keys
from alp.storage import open_storage
from api.main import create_app
from tests.conftest import make_settings
from tests.integration.test_cycle_e2e import seed_pool
from tests.support import databases
from tests.support.processes import celery_worker
from tests.worker.cycle_support import WORKER_ENV, sessions_for, wait_state


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_cycle_on_workers_sharing_no_disk(tmp_path: Path, s3_url: str) -> None:
    pg, broker = databases.postgres_base_url(), databases.redis_base_url()
    if pg is None or broker is None:
        databases.skip_or_fail(databases.PG_ENV if pg is None else databases.REDIS_ENV)
    redis.Redis.from_url(broker).flushdb()
    with databases.private_postgres_database(pg, prefix="alp_stateless") as db_url:
        from alp.db.migrate import upgrade

        upgrade(db_url)
        common = {"broker_url": broker, "storage_url": s3_url, "score_shard_size": 4}
        api = make_settings(tmp_path / "api", db_url, **common)
        w1 = make_settings(tmp_path / "worker1", db_url, **common)
        w2 = make_settings(tmp_path / "worker2", db_url, **common)
        _run(api, w1, w2, tmp_path)


def _run(api, w1, w2, tmp_path: Path) -> None:
    store = open_storage(api)
    sessions = sessions_for(api)
    with sessions() as db:
        key = keys.create_key(db, "t").key
        db.commit()
    with TestClient(create_app(api)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        pool_id, truth = seed_pool(c, tmp_path)
        with celery_worker(w1, queues="gpu,io", **WORKER_ENV) as proc:
            first = c.post(f"/api/v1/pools/{pool_id}/cycles").json()["cycle"]["id"]
            cycle = wait_state(sessions, first, ("labeling",), proc=proc, timeout=240)
        assert cycle.checkpoint_key and store.exists(cycle.checkpoint_key)
        assert _files(w1.data_dir / "cache"), "worker 1 read the images through its cache"
        items = c.get(f"/api/v1/pools/{pool_id}/next-batch", params={"limit": 10}).json()["items"]
        assert len(items) == 4
        with sessions() as db:
            sids = db.scalars(select(Selection.id).where(Selection.cycle_id == first)).all()
        assert len(sids) == 4
        for sid in sids:
            r = c.get(f"/api/v1/dashboard/selections/{sid}/thumbnail")
            assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", r.text
        for item in items:
            r = c.get(item["content_url"].removeprefix("http://testserver"))
            assert r.status_code == 200 and r.content[:4] == b"\x89PNG"

        assert not _files(w2.data_dir), "worker 2 starts cold"
        with celery_worker(w2, queues="gpu,io", **WORKER_ENV) as proc:
            for item in items:
                boxes = truth[item["image_id"]]
                r = c.put(f"/api/v1/images/{item['image_id']}/annotation", json={"boxes": boxes})
                assert r.status_code == 200, r.text
            second = c.get(f"/api/v1/pools/{pool_id}/cycles").json()[1]["id"]
            done = wait_state(sessions, second, ("labeling", "done"), proc=proc, timeout=240)
        assert done.labeled_count == 18 and "map50" in done.metrics
        assert done.checkpoint_key and store.exists(done.checkpoint_key)
        assert _files(w2.data_dir / "cache"), "worker 2 downloaded into its own cold cache"
    for settings in (api, w1, w2):  # no blob ever landed in a local store
        assert not _files(settings.data_dir / "storage")
    with sessions() as db:
        assert db.get(Cycle, first).state == "done"
