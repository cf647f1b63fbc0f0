"""The trained model out: ``GET /cycles/{id}/model`` and ``GET /pools/{id}/model``
stream the stored checkpoint (stable name, ETag, 304); best = highest validation
mAP@0.5; a worker-trained model round-trips through HTTP, ``models.load_detector`` and
``alp predict``'s code to the boxes the service computed."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient

from alp.db import Cycle, Image, Selection
from alp.services import cycles, keys
from alp.storage import BlobCache, LocalStorage, checkpoint_key
from simulation.synthetic_pool import create_synthetic_pool
from tests.api.cycle_fixtures import make_pool
from tests.worker.cycle_support import engine_settings, pool_settings, storage_for
from tests.worker.inprocess import run_stages, use_settings


def _cycle_with_file(db, storage: LocalStorage, pid: int, index: int, data: bytes | None,
                     map50: float | None) -> int:  # fmt: skip
    c = Cycle(pool_id=pid, index=index, state="done", config={}, timings={}, issues=[],
              metrics={} if map50 is None else {"map50": map50})  # fmt: skip
    db.add(c)
    db.flush()
    if data is not None:
        c.checkpoint_key = checkpoint_key(pid, c.id)
        storage.put_bytes(c.checkpoint_key, data)
    return c.id


def test_download_picks_names_and_caches(client, db, settings, anon_client) -> None:
    storage = LocalStorage(settings.storage_dir)
    pid, _ = make_pool(db, storage, n=1)
    db.commit()
    r = client.get(f"/api/v1/pools/{pid}/model")
    assert r.status_code == 404 and "no trained model yet" in r.json()["detail"]
    ids = [_cycle_with_file(db, storage, pid, 0, b"zero", 0.5),
           _cycle_with_file(db, storage, pid, 1, b"one", 0.7),
           _cycle_with_file(db, storage, pid, 2, None, 0.9),  # failed before a checkpoint
           _cycle_with_file(db, storage, pid, 3, b"three", None)]  # fmt: skip
    db.commit()
    best = client.get(f"/api/v1/pools/{pid}/model")
    assert best.status_code == 200 and best.content == b"one"
    assert best.headers["x-alp-cycle-id"] == str(ids[1])
    assert 'filename="alp-p1-40-30-cycle1.pt"' in best.headers["content-disposition"]
    latest = client.get(f"/api/v1/pools/{pid}/model", params={"pick": "latest"})
    assert latest.content == b"three" and latest.headers["x-alp-cycle-id"] == str(ids[3])
    one = client.get(f"/api/v1/cycles/{ids[1]}/model")
    assert one.content == b"one" and one.headers["etag"] == best.headers["etag"]
    again = client.get(f"/api/v1/cycles/{ids[1]}/model",
                       headers={"If-None-Match": one.headers["etag"]})  # fmt: skip
    assert again.status_code == 304 and again.content == b""
    none = client.get(f"/api/v1/cycles/{ids[2]}/model")
    assert none.status_code == 404 and "has no trained model" in none.json()["detail"]
    assert client.get("/api/v1/cycles/999999/model").status_code == 404
    assert client.get("/api/v1/pools/999999/model").status_code == 404
    bad = client.get(f"/api/v1/pools/{pid}/model", params={"pick": "worst"})
    assert bad.status_code == 422 and "pick" in bad.text
    assert anon_client.get(f"/api/v1/cycles/{ids[1]}/model").status_code == 401


def test_trained_model_round_trip(tmp_path: Path, sqlite_url: str, monkeypatch) -> None:
    import torch

    from acquisition.types import ORIGINAL, Requirements
    from api.main import create_app
    from models import load_detector
    from models.data.dataset import load_image
    from models.predict import predict_files
    from worker.pipeline import modelling

    s = engine_settings(tmp_path, sqlite_url, device="cpu")
    sessions = use_settings(monkeypatch, s)
    storage = storage_for(s)
    with sessions() as db:
        pool = create_synthetic_pool(
            db, storage, "round trip", n_labeled=6, n_val=2, n_unlabeled=6, size=64,
            settings=pool_settings(strategy="entropy", train_preset="vanilla", batch_size=3),
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        key = keys.create_key(db, "t").key
        db.commit()
    run_stages(sessions, cycle.id)
    with sessions() as db:
        c = db.get(Cycle, cycle.id)
        assert c.state == "labeling", c.error
        sels = db.query(Selection).filter(Selection.cycle_id == c.id).all()
        paths = {s_.image_id: storage.path(db.get(Image, s_.image_id).storage_key) for s_ in sels}
        stored = {s_.image_id: s_.prediction for s_ in sels}
        stored_key, map50 = c.checkpoint_key, c.metrics["map50"]
    with TestClient(create_app(s)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        r = client.get(f"/api/v1/cycles/{cycle.id}/model")
    assert r.status_code == 200
    assert r.headers["content-disposition"].endswith('"alp-round-trip-cycle0.pt"')
    blob = torch.load(io.BytesIO(r.content), weights_only=True)
    assert blob["metrics"]["map50"] == map50 and blob["metrics"]["model"] == "tiny"
    file = tmp_path / "model.pt"
    file.write_bytes(r.content)
    model, names = load_detector(file)
    assert names == ["circle", "square", "triangle"]
    image_ids = sorted(paths)
    _, results = predict_files(model, [paths[i] for i in image_ids], score_thresh=0.0)
    assert results, "the comparison below needs detections"
    cache = BlobCache(storage, tmp_path / "cache", 1 << 30)
    service = modelling.load_model(cache, stored_key, 3, "cpu")

    for n, image_id in enumerate(image_ids, start=1):
        pred = modelling.predict(service, [load_image(paths[image_id])], [image_id],
                                 Requirements(), "cpu")[0]  # fmt: skip
        view = pred.views[ORIGINAL]
        mine = [r_ for r_ in results if r_["image_id"] == n]
        assert len(mine) == len(view)
        got = torch.tensor([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in
                            (r_["bbox"] for r_ in mine)]).reshape(-1, 4)  # fmt: skip
        assert torch.allclose(got, view.boxes.float(), atol=0.02)  # bbox rounded to 0.01 px
        assert [r_["category_id"] - 1 for r_ in mine] == view.labels.tolist()
        for box in stored[image_id]["boxes"]:  # the pre-annotations the service stored
            assert (torch.tensor(box) - got).abs().max(dim=1).values.min() <= 0.02
