"""Predictions on demand: ``POST /pools/{id}/predictions`` validates (404 for another
pool's images or cycle, no model yet; 422 for a bad body) without storing anything, queues
a ``predict`` job whose results ``GET /images/{id}`` returns, equal to ``alp predict``'s."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from alp.db import Cycle, Image, Job
from alp.storage import LocalStorage, checkpoint_key
from tests.api.cycle_fixtures import CLASSES, make_pool
from tests.worker.inprocess import use_settings


def _trained_cycle(db, storage: LocalStorage, pid: int) -> int:
    from models.builders import build_detector
    from models.checkpoint import save_checkpoint
    from models.config import TrainConfig

    c = Cycle(pool_id=pid, index=0, state="done", config={}, timings={}, issues=[],
              metrics={"map50": 0.1})  # fmt: skip
    db.add(c)
    db.flush()
    c.checkpoint_key = checkpoint_key(pid, c.id)
    cfg = TrainConfig.preset("vanilla", detector={"min_size": 64, "max_size": 64})
    model = build_detector(cfg, len(CLASSES), seed=0)
    save_checkpoint(storage.path(c.checkpoint_key), model, cfg, CLASSES)
    return c.id


def _jobs(db) -> int:
    return db.scalar(select(func.count()).select_from(Job).where(Job.kind == "predict"))


def test_predictions_on_demand(client, db, settings, monkeypatch, tmp_path: Path) -> None:
    from models import load_detector
    from models.predict import predict_files
    from worker.pipeline import predict

    storage = LocalStorage(settings.storage_dir)
    pid, ids = make_pool(db, storage, n=3, size=(64, 48))
    other, other_ids = make_pool(db, storage, n=1, size=(32, 32))
    cycle_id = _trained_cycle(db, storage, pid)
    db.commit()
    url = f"/api/v1/pools/{pid}/predictions"
    r = client.post(url, json={"image_ids": [ids[0], other_ids[0]]})
    assert r.status_code == 404 and f"images not in pool {pid}: {other_ids[0]}" in r.text
    r = client.post(f"/api/v1/pools/{other}/predictions", json={"cycle_id": cycle_id})
    assert r.status_code == 404 and f"cycle {cycle_id} not found in pool {other}" in r.text
    r = client.post(f"/api/v1/pools/{other}/predictions", json={})
    assert r.status_code == 404 and "no trained model yet" in r.text
    for bad in ({"image_ids": ["x"]}, {"image_ids": [1], "extra": 1}, {"cycle_id": 0}):
        assert client.post(url, json=bad).status_code == 422, bad
    assert _jobs(db) == 0  # nothing stored on bad input
    r = client.post(url, json={})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["cycle_id"], body["image_count"]) == (cycle_id, 3)
    assert body["job"]["kind"] == "predict" and body["job"]["state"] == "queued"
    assert client.get(f"/api/v1/images/{ids[0]}").json()["prediction"] is None

    use_settings(monkeypatch, settings)
    predict.run(body["job"]["id"])
    job = client.get(f"/api/v1/jobs/{body['job']['id']}").json()
    assert job["state"] == "succeeded" and job["progress"] == 1.0, job
    assert "predicted 3 images" in job["message"]

    model, names = load_detector(storage.path(checkpoint_key(pid, cycle_id)))
    detail = client.get(f"/api/v1/images/{ids[1]}").json()
    path = storage.path(db.get(Image, ids[1]).storage_key)
    _, mine = predict_files(model, [path], score_thresh=0.0)
    stored = detail["prediction"]
    assert stored["cycle_id"] == cycle_id and stored["job_id"] == body["job"]["id"]
    assert len(stored["boxes"]) == len(mine) > 0
    for box, res in zip(stored["boxes"], mine, strict=True):
        x, y, w, h = res["bbox"]
        assert max(abs(box["x1"] - x), abs(box["y1"] - y), abs(box["x2"] - x - w),
                   abs(box["y2"] - y - h)) <= 0.02  # fmt: skip
        assert box["label"] == names[res["category_id"] - 1]
        assert abs(box["score"] - res["score"]) <= 1e-3
    r = client.post(url, json={"image_ids": [ids[0]], "cycle_id": cycle_id})
    assert r.status_code == 202 and r.json()["image_count"] == 1
