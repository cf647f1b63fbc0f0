"""Failures with a real worker: a stage error fails the cycle with its error text, the
user fixes the cause and ``POST /cycles/{id}/retry`` resumes it; an unreadable image file
is skipped in scoring with a cycle issue (shard retries: ``tests/worker/test_scoring_shards``)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from alp.db import Image, Pool, ScoreShard
from alp.services import keys
from api.main import create_app
from tests.support.processes import celery_worker
from tests.worker.cycle_support import (
    TINY_TRAIN,
    WORKER_ENV,
    counts,
    engine_settings,
    entropy_pool,
    sessions_for,
    storage_for,
    wait_state,
)


def test_failed_cycle_retry_skips_unreadable_image(tmp_path: Path, sqlite_url: str) -> None:
    s = engine_settings(tmp_path, sqlite_url)
    sessions = sessions_for(s)
    storage = storage_for(s)
    with sessions() as db:
        pool = entropy_pool(db, s, "fail", n_labeled=6, n_val=2, n_unlabeled=12)
        # settings the API refuses today (e.g. stored by an older alp): training must fail
        row = db.get(Pool, pool.pool_id)
        row.settings = {**row.settings, "train_overrides": {**TINY_TRAIN, "lr": -1.0}}
        key = keys.create_key(db, "t").key
        broken = db.get(Image, pool.unlabeled_ids[0])
        broken_path = storage.path(broken.storage_key)
        db.commit()
    with celery_worker(s, **WORKER_ENV) as proc, TestClient(create_app(s)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        cycle_id = c.post(f"/api/v1/pools/{pool.pool_id}/cycles").json()["cycle"]["id"]
        failed = wait_state(sessions, cycle_id, ("failed",), proc=proc)
        assert failed.failed_stage == "training" and "lr must be" in failed.error
        body = c.get(f"/api/v1/cycles/{cycle_id}").json()
        train_job = next(j for j in body["jobs"] if j["kind"] == "train")
        assert train_job["state"] == "failed" and "lr must be" in train_job["error"]

        # the user fixes the settings; meanwhile one unlabeled image file went missing
        broken_path.unlink()
        r = c.patch(f"/api/v1/pools/{pool.pool_id}", json={"settings": {
            "train_overrides": TINY_TRAIN}})  # fmt: skip
        assert r.status_code == 200, r.text
        r = c.post(f"/api/v1/cycles/{cycle_id}/retry")
        assert r.status_code == 202 and r.json()["job"]["kind"] == "train", r.text
        done = wait_state(sessions, cycle_id, ("labeling",), proc=proc)
    broken_id = pool.unlabeled_ids[0]
    assert any(f"image {broken_id} skipped in scoring" in i["message"] for i in done.issues)
    with sessions() as db:
        shards = db.scalars(select(ScoreShard).where(ScoreShard.cycle_id == cycle_id)).all()
        assert [(sh.state, sh.attempts) for sh in shards] == [("done", 1)] * len(shards)
        recorded = {e["record"]["image_id"] for sh in shards for e in sh.records}
        assert recorded == set(pool.unlabeled_ids) - {broken_id}
    assert counts(sessions, cycle_id)["selections"] == 4
