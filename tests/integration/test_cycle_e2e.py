"""End to end on a real worker process, on both engines (SQLite + SQLite broker and
PostgreSQL + Redis): seed labels, a cycle reaches ``labeling`` with exactly the batch
size, labeling through the API auto-starts the next cycle, which finishes with metrics."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from alp.services import keys
from api.main import create_app
from tests.support.processes import celery_worker
from tests.worker.cycle_support import (
    WORKER_ENV,
    counts,
    engine_settings,
    pool_settings,
    sessions_for,
    storage_for,
    wait_state,
)
from worker.synthetic_pool import create_synthetic_pool


def test_cycle_end_to_end(tmp_path: Path, db_url: str) -> None:
    s = engine_settings(tmp_path, db_url)
    sessions = sessions_for(s)
    with sessions() as db:
        pool = create_synthetic_pool(
            db,
            storage_for(s),
            "e2e",
            n_labeled=10,
            n_val=4,
            n_unlabeled=14,
            size=64,
            settings=pool_settings(),
        )
        key = keys.create_key(db, "t").key
        db.commit()
    with celery_worker(s, **WORKER_ENV) as proc, TestClient(create_app(s)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        r = c.post(f"/api/v1/pools/{pool.pool_id}/cycles")
        assert r.status_code == 202, r.text
        first = r.json()["cycle"]["id"]
        assert r.json()["job"]["kind"] == "train"
        wait_state(sessions, first, ("labeling",), proc=proc)

        body = c.get(f"/api/v1/cycles/{first}").json()
        assert body["selection_size"] == 4 and body["remaining"] == 4
        assert body["metrics"]["map50"] >= 0.0
        assert set(body["timings"]) == {"training", "evaluating", "scoring", "selecting"}
        assert {j["kind"]: j["state"] for j in body["jobs"]} == {
            "train": "succeeded", "evaluate": "succeeded", "score": "succeeded",
            "select": "succeeded",
        }  # fmt: skip
        batch = c.get(f"/api/v1/pools/{pool.pool_id}/next-batch", params={"limit": 10}).json()
        items = batch["items"]
        assert [i["rank"] for i in items] == [0, 1, 2, 3]
        assert all(i["image_id"] in pool.unlabeled_ids for i in items)
        assert all(i["content_url"].startswith("http") for i in items)
        assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)

        for item in items:
            boxes = pool.truth[item["image_id"]]
            r = c.put(f"/api/v1/images/{item['image_id']}/annotation", json={"boxes": boxes})
            assert r.status_code == 200, r.text
        cycles = c.get(f"/api/v1/pools/{pool.pool_id}/cycles").json()
        assert cycles[0]["state"] == "done"
        assert len(cycles) == 2, "auto-advance starts the next cycle"
        second = cycles[1]["id"]
        done = wait_state(sessions, second, ("labeling", "done"), proc=proc)
        assert "map50" in done.metrics and done.labeled_count == 18
    assert counts(sessions, first) == {
        "selections": 4, "distinct_images": 4,
        "jobs": {"train": 1, "evaluate": 1, "score": 1, "select": 1},
    }  # fmt: skip
