"""``GET .../model?format=onnx``: the first request queues one ``export_onnx`` job (202,
``Location``), repeats answer with the same job, a failed export is a 409 with its reason
until ``retry=true``, a job whose worker went silent is replaced; a stored export streams
with a stable ``.onnx`` name and its own ETag (304), and a changed checkpoint is never
served its older export. The worker's export itself: ``tests/integration/test_onnx_download.py``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from alp.db import Cycle, Job, utcnow
from alp.services import models_onnx, models_out
from alp.storage import LocalStorage, checkpoint_key
from tests.api.cycle_fixtures import make_pool


def _cycle(db, storage: LocalStorage, pid: int) -> Cycle:
    c = Cycle(pool_id=pid, index=0, state="done", config={}, timings={}, issues=[],
              metrics={"map50": 0.5})  # fmt: skip
    db.add(c)
    db.flush()
    c.checkpoint_key = checkpoint_key(pid, c.id)
    storage.put_bytes(c.checkpoint_key, b"checkpoint")
    db.commit()
    return c


def _export_jobs(db) -> list[Job]:
    db.expire_all()
    return list(db.scalars(select(Job).where(Job.kind == "export_onnx").order_by(Job.id)))


def test_onnx_on_demand_states(client, db, settings) -> None:
    storage = LocalStorage(settings.storage_dir)
    pid, _ = make_pool(db, storage, n=1)
    cycle = _cycle(db, storage, pid)
    url = f"/api/v1/cycles/{cycle.id}/model"
    assert client.get(url, params={"format": "tflite"}).status_code == 422
    first = client.get(url, params={"format": "onnx"})
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["job"]["kind"] == "export_onnx" and body["job"]["state"] == "queued"
    assert body["cycle_id"] == cycle.id and body["format"] == "onnx"
    assert first.headers["location"] == f"/api/v1/jobs/{body['job']['id']}"
    again = client.get(f"/api/v1/pools/{pid}/model", params={"format": "onnx"})
    assert again.status_code == 202 and again.json()["job"]["id"] == body["job"]["id"]
    assert len(_export_jobs(db)) == 1  # one export per checkpoint version

    job = _export_jobs(db)[0]
    job.state, job.error = "failed", "RuntimeError: unsupported operator"
    db.commit()
    failed = client.get(url, params={"format": "onnx"})
    assert failed.status_code == 409 and "unsupported operator" in failed.json()["detail"]
    assert "retry=true" in failed.json()["detail"]
    retried = client.get(url, params={"format": "onnx", "retry": "true"})
    assert retried.status_code == 202 and retried.json()["job"]["id"] != job.id

    job = _export_jobs(db)[-1]  # a worker took it, then went silent
    job.state, job.heartbeat_at = "running", utcnow() - timedelta(hours=1)
    db.commit()
    replaced = client.get(url, params={"format": "onnx"})
    assert replaced.status_code == 202 and replaced.json()["job"]["id"] != job.id
    assert len(_export_jobs(db)) == 3
    assert client.get(url).content == b"checkpoint"  # format=pt is unchanged


def test_stored_onnx_streams_and_follows_the_checkpoint(client, db, settings) -> None:
    storage = LocalStorage(settings.storage_dir)
    pid, _ = make_pool(db, storage, n=1)
    cycle = _cycle(db, storage, pid)
    version = models_out.version(cycle, storage.size(cycle.checkpoint_key))
    key = models_onnx.onnx_key(cycle.checkpoint_key, version)
    assert key.startswith(f"pools/{pid}/checkpoints/cycle-{cycle.id}.") and key.endswith(".onnx")
    storage.put_bytes(key, b"onnx bytes")
    r = client.get(f"/api/v1/pools/{pid}/model", params={"format": "onnx", "pick": "latest"})
    assert r.status_code == 200 and r.content == b"onnx bytes"
    assert r.headers["content-disposition"].endswith('-cycle0.onnx"')
    assert r.headers["x-alp-cycle-id"] == str(cycle.id)
    pt = client.get(f"/api/v1/cycles/{cycle.id}/model")
    assert r.headers["etag"] != pt.headers["etag"]
    same = client.get(f"/api/v1/cycles/{cycle.id}/model", params={"format": "onnx"},
                      headers={"If-None-Match": r.headers["etag"]})  # fmt: skip
    assert same.status_code == 304
    assert _export_jobs(db) == []

    cycle = db.get(Cycle, cycle.id)
    cycle.metrics = {"map50": 0.6}  # evaluation rewrote the checkpoint
    db.commit()
    newer = client.get(f"/api/v1/cycles/{cycle.id}/model", params={"format": "onnx"})
    assert newer.status_code == 202  # the older export is not served


def test_onnx_of_no_model_is_404(client, db, settings) -> None:
    storage = LocalStorage(settings.storage_dir)
    pid, _ = make_pool(db, storage, n=1)
    db.commit()
    r = client.get(f"/api/v1/pools/{pid}/model", params={"format": "onnx"})
    assert r.status_code == 404 and "no trained model yet" in r.json()["detail"]
    assert _export_jobs(db) == []
