"""The ``export_onnx`` job in process: it stores the export under the requested version
and deletes older exports of the cycle; a checkpoint that changed since the request is
skipped (nothing written); an unreadable checkpoint fails the job with its reason, which
the route then answers with (409)."""

from __future__ import annotations

from alp.db import Cycle, Job
from alp.storage import LocalStorage, checkpoint_key
from tests.api.cycle_fixtures import CLASSES, make_pool
from tests.worker.inprocess import use_settings
from worker import model_export


def _cycle(db, storage: LocalStorage, pid: int, real: bool) -> Cycle:
    from models.builders import build_detector
    from models.checkpoint import save_checkpoint
    from models.config import TrainConfig

    c = Cycle(pool_id=pid, index=0, state="done", config={}, timings={}, issues=[],
              metrics={"map50": 0.1})  # fmt: skip
    db.add(c)
    db.flush()
    c.checkpoint_key = checkpoint_key(pid, c.id)
    if real:
        cfg = TrainConfig.preset("vanilla", detector={"min_size": 64, "max_size": 64})
        model = build_detector(cfg, len(CLASSES), seed=0)
        save_checkpoint(storage.path(c.checkpoint_key), model, cfg, CLASSES)
    else:
        storage.put_bytes(c.checkpoint_key, b"not a checkpoint")
    db.commit()
    return c


def _job(client, cycle_id: int, **params: str) -> int:
    r = client.get(f"/api/v1/cycles/{cycle_id}/model", params={"format": "onnx", **params})
    assert r.status_code == 202, r.text
    return int(r.json()["job"]["id"])


def test_export_job_stores_replaces_and_skips(client, db, settings, monkeypatch) -> None:
    storage = LocalStorage(settings.storage_dir)
    pid, _ = make_pool(db, storage, n=1)
    cycle = _cycle(db, storage, pid, real=True)
    old = f"pools/{pid}/checkpoints/cycle-{cycle.id}.c{cycle.id}-1-000000000000.onnx"
    storage.put_bytes(old, b"an export of an earlier checkpoint")
    use_settings(monkeypatch, settings)
    job_id = _job(client, cycle.id)
    model_export.run(job_id)
    db.expire_all()
    job = db.get(Job, job_id)
    assert job.state == "succeeded" and job.message.startswith("exported ONNX"), job.error
    assert storage.exists(job.payload["key"]) and not storage.exists(old)
    r = client.get(f"/api/v1/cycles/{cycle.id}/model", params={"format": "onnx"})
    assert r.status_code == 200 and r.content == storage.read_bytes(job.payload["key"])

    cycle = db.get(Cycle, cycle.id)
    cycle.metrics = {"map50": 0.2}  # evaluated again after the request below
    db.commit()
    late = _job(client, cycle.id)
    cycle.metrics = {"map50": 0.3}
    db.commit()
    model_export.run(late)
    db.expire_all()
    job = db.get(Job, late)
    assert job.state == "succeeded" and job.message.startswith("skipped")
    assert not storage.exists(job.payload["key"])


def test_failed_export_is_reported(client, db, settings, monkeypatch) -> None:
    storage = LocalStorage(settings.storage_dir)
    pid, _ = make_pool(db, storage, n=1)
    cycle = _cycle(db, storage, pid, real=False)
    use_settings(monkeypatch, settings)
    job_id = _job(client, cycle.id)
    model_export.run(job_id)
    model_export.run(job_id)  # a redelivered message finds the job finished
    db.expire_all()
    job = db.get(Job, job_id)
    assert job.state == "failed" and job.attempts == 1 and job.error
    r = client.get(f"/api/v1/pools/{pid}/model", params={"format": "onnx"})
    assert r.status_code == 409 and job.error in r.json()["detail"]
    assert _job(client, cycle.id, retry="true") != job_id
