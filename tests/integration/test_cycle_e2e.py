"""End to end on a real worker process, on both engines (SQLite + SQLite broker and
PostgreSQL + Redis): a pool seeded through the COCO import route and the upload route, a
cycle reaches ``labeling`` with exactly the batch size, labeling through the API
auto-starts the next cycle, which finishes with metrics."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from alp.services import keys
from api.main import create_app
from models.data.coco import write_coco
from models.data.synthetic import generate
from tests.support.processes import celery_worker
from tests.worker.cycle_support import (
    WORKER_ENV,
    counts,
    engine_settings,
    pool_settings,
    sessions_for,
    wait_state,
)

CLASSES = ["circle", "square", "triangle"]


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def seed_pool(c: TestClient, tmp_path: Path) -> tuple[int, dict[int, list[dict]]]:
    """Pool + 14 COCO-labeled images (zip) + 14 uploaded unlabeled images; returns the pool
    id and the ground truth of the unlabeled images by image id."""
    r = c.post(
        "/api/v1/pools",
        json={"name": "e2e", "classes": CLASSES, "settings": pool_settings(val_fraction=0.3)},
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    json_path = write_coco(generate(14, size=64, seed=1), tmp_path / "coco", CLASSES)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((tmp_path / "coco" / "images").iterdir()):
            zf.write(f, f.name)
    r = c.post(f"/api/v1/pools/{pid}/import/coco", files={
        "annotations": ("annotations.json", json_path.read_bytes(), "application/json"),
        "archive": ("images.zip", archive.getvalue(), "application/zip")})  # fmt: skip
    assert r.status_code == 200 and r.json()["images_labeled"] == 14, r.text
    samples = generate(14, size=64, seed=2)
    files = [("files", (f"u{i}.png", _png(x["image"]), "image/png")) for i, x in enumerate(samples)]
    r = c.post(f"/api/v1/pools/{pid}/images", files=files)
    assert r.status_code == 201, r.text
    truth = {}
    for acc in r.json()["accepted"]:
        x = samples[int(acc["filename"][1:-4])]
        truth[acc["image_id"]] = [
            {"x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3], "label": CLASSES[lab]}
            for b, lab in zip(x["boxes"], x["labels"], strict=True)
        ]
    assert len(truth) == 14
    return pid, truth


def test_cycle_end_to_end(tmp_path: Path, db_url: str) -> None:
    s = engine_settings(tmp_path, db_url)
    sessions = sessions_for(s)
    with sessions() as db:
        key = keys.create_key(db, "t").key
        db.commit()
    with celery_worker(s, **WORKER_ENV) as proc, TestClient(create_app(s)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        pool_id, truth = seed_pool(c, tmp_path)
        r = c.post(f"/api/v1/pools/{pool_id}/cycles")
        assert r.status_code == 202, r.text
        first = r.json()["cycle"]["id"]
        assert r.json()["job"]["kind"] == "train"
        wait_state(sessions, first, ("labeling",), proc=proc)

        body = c.get(f"/api/v1/cycles/{first}").json()
        assert body["selection_size"] == 4 and body["remaining"] == 4
        assert body["metrics"]["map50"] >= 0.0
        assert set(body["timings"]) == {
            "training",
            "evaluating",
            "scoring",
            "selecting",
            "scoring_pass1",
            "scoring_pass2",
        }  # hua: two passes
        assert {j["kind"]: j["state"] for j in body["jobs"]} == {
            "train": "succeeded", "evaluate": "succeeded", "score": "succeeded",
            "select": "succeeded",
        }  # fmt: skip
        batch = c.get(f"/api/v1/pools/{pool_id}/next-batch", params={"limit": 10}).json()
        items = batch["items"]
        assert [i["rank"] for i in items] == [0, 1, 2, 3]
        assert all(i["image_id"] in truth for i in items)
        assert all(i["content_url"].startswith("http") for i in items)
        assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)

        for item in items:
            boxes = truth[item["image_id"]]
            r = c.put(f"/api/v1/images/{item['image_id']}/annotation", json={"boxes": boxes})
            assert r.status_code == 200, r.text
        cycles = c.get(f"/api/v1/pools/{pool_id}/cycles").json()
        assert cycles[0]["state"] == "done"
        assert len(cycles) == 2, "auto-advance starts the next cycle"
        second = cycles[1]["id"]
        done = wait_state(sessions, second, ("labeling", "done"), proc=proc)
        assert "map50" in done.metrics and done.labeled_count == 18
    assert counts(sessions, first) == {
        "selections": 4, "distinct_images": 4,
        "jobs": {"train": 1, "evaluate": 1, "score": 1, "select": 1},
    }  # fmt: skip
