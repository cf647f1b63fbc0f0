"""``GET /cycles/{id}/model?format=onnx`` end to end: a real Celery worker process makes
the export the first request queued; the downloaded file runs in onnxruntime and matches
the eager PyTorch model of the downloaded checkpoint (boxes within 0.01 px, scores within
1e-4: the tolerance of ``tests/unit/models/test_export.py``) on the pool's images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from alp.db import Cycle, Image
from alp.services import cycles, keys
from simulation.synthetic_pool import create_synthetic_pool
from tests.support.processes import celery_worker, wait_for
from tests.worker.cycle_support import TINY_TRAIN, engine_settings, pool_settings, storage_for
from tests.worker.inprocess import run_stages, use_settings

ort = pytest.importorskip("onnxruntime")


def test_onnx_made_by_a_worker_matches_eager(tmp_path: Path, sqlite_url: str, monkeypatch
                                             ) -> None:  # fmt: skip
    from api.main import create_app
    from models import load_detector
    from models.data.dataset import load_image

    s = engine_settings(tmp_path, sqlite_url, device="cpu")
    sessions = use_settings(monkeypatch, s)
    storage = storage_for(s)
    train = {**TINY_TRAIN, "iterations": 20, "detector": {**TINY_TRAIN["detector"],
                                                          "score_thresh": 0.01}}  # fmt: skip
    with sessions() as db:
        pool = create_synthetic_pool(
            db, storage, "onnx out", n_labeled=6, n_val=2, n_unlabeled=4, size=64,
            settings=pool_settings(strategy="random", train_preset="vanilla",
                                   train_overrides=train, auto_advance=False),
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        key = keys.create_key(db, "t").key
        db.commit()
    run_stages(sessions, cycle.id, ("training", "evaluating"))
    with sessions() as db:
        c = db.get(Cycle, cycle.id)
        assert c.checkpoint_key and c.metrics.get("map50") is not None, (c.state, c.error)
        paths = [storage.path(i.storage_key) for i in db.query(Image).filter(
            Image.pool_id == pool.pool_id).order_by(Image.id)]  # fmt: skip

    url = f"/api/v1/cycles/{cycle.id}/model"
    with celery_worker(s, queues="gpu") as proc, TestClient(create_app(s)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        first = client.get(url, params={"format": "onnx"})
        assert first.status_code == 202, first.text

        def finished() -> dict | None:
            assert proc.poll() is None, "worker died"
            job = client.get(first.headers["location"]).json()
            return job if job["state"] in ("succeeded", "failed") else None

        job = wait_for(finished, timeout=300, interval=0.5, what="the ONNX export job")
        assert job["state"] == "succeeded", job
        r = client.get(url, params={"format": "onnx"})
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"].endswith('"alp-onnx-out-cycle0.onnx"')
        again = client.get(f"/api/v1/pools/{pool.pool_id}/model",
                           params={"format": "onnx", "pick": "latest"},
                           headers={"If-None-Match": r.headers["etag"]})  # fmt: skip
        assert again.status_code == 304
        pt = client.get(url)
    assert pt.status_code == 200

    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(pt.content)
    model, _names = load_detector(checkpoint)
    session = ort.InferenceSession(r.content)
    assert [o.name for o in session.get_outputs()][:3] == ["boxes", "labels", "scores"]
    compared = 0
    for path in paths:
        image = load_image(path)
        boxes, labels, scores = session.run(None, {"image": image.numpy()})[:3]
        with torch.no_grad():
            eager = model([image])[0]
        assert len(boxes) == len(eager["boxes"]), path
        assert torch.allclose(torch.from_numpy(boxes), eager["boxes"], atol=1e-2)
        assert torch.equal(torch.from_numpy(labels), eager["labels"])
        assert torch.allclose(torch.from_numpy(scores), eager["scores"], atol=1e-4)
        compared += len(boxes)
    assert compared > 0, "the comparison needs detections"
