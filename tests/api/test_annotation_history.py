"""Annotation history: every change appends a revision; nothing is lost to a later write."""

from __future__ import annotations

import io
import json
from typing import Any

from alp.db import Image, Pool
from alp.labelstudio import sync
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool
from tests.api.test_races import at_once, box

W, H = 40, 30


def _image(db, settings) -> int:
    _, ids = make_pool(db, LocalStorage(settings.storage_dir), n=1, size=(W, H))
    db.commit()
    return ids[0]


def _ls_task(image_id: int, ann_id: int, x: float, user: Any = 7) -> dict[str, Any]:
    region = {
        "id": f"r{ann_id}", "type": "rectanglelabels", "original_width": W,
        "original_height": H,
        "value": {"x": x / W * 100, "y": 10, "width": 10, "height": 20,
                  "rectanglelabels": ["cat"]},
    }  # fmt: skip
    ann = {"id": ann_id, "result": [region], "completed_by": user}
    return {"id": 1000 + ann_id, "data": {"alp_image_id": image_id}, "annotations": [ann]}


def _ls_apply(sessions, image_id: int, tasks: list[dict[str, Any]]) -> None:
    with sessions() as db:
        image = db.get(Image, image_id)
        pool = db.get(Pool, image.pool_id)
        sync.apply_image(db, pool, image, tasks, sync.SyncResult(pool_id=pool.id))
        db.commit()


def _history(client, image_id: int) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/images/{image_id}/annotation/history")
    assert r.status_code == 200, r.text
    return r.json()


def test_every_change_is_a_revision(client, db, sessions, settings) -> None:
    image_id = _image(db, settings)
    url = f"/api/v1/images/{image_id}/annotation"
    assert client.put(url, json={"boxes": [box(1)]}).status_code == 200
    assert client.put(url, json={"boxes": [box(2)]}).status_code == 200
    assert client.put(url, json={"boxes": [], "skipped": True}).status_code == 200
    _ls_apply(sessions, image_id, [_ls_task(image_id, 5, 3.0, {"id": 7, "email": "a@b.c"})])
    _ls_apply(sessions, image_id, [_ls_task(image_id, 5, 3.0)])  # unchanged: no revision
    _ls_apply(sessions, image_id, [])  # the annotation was deleted in Label Studio
    hist = _history(client, image_id)
    assert [(h["action"], h["source"]) for h in hist] == [
        ("put", "api"), ("put", "api"), ("skip", "api"),
        ("put", "labelstudio"), ("delete", "labelstudio"),
    ]  # fmt: skip
    assert [h["author"] for h in hist[:3]] == ["test"] * 3  # the API key's name
    assert hist[3]["author"] == "labelstudio:a@b.c" and hist[3]["external_id"] == "5"
    assert hist[0]["boxes"][0]["x1"] == 1 and hist[1]["boxes"][0]["x1"] == 2  # kept
    assert [h["id"] for h in hist] == sorted(h["id"] for h in hist)
    assert client.get("/api/v1/images/999999/annotation/history").status_code == 404


def test_imports_are_revisions_by_the_importing_key(client, db, settings) -> None:
    image_id = _image(db, settings)
    pool_id = db.get(Image, image_id).pool_id
    coco = {
        "images": [{"id": 1, "file_name": "im0.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
    }
    for _ in range(2):  # the same import twice: two revisions, both kept
        files = {"annotations": ("c.json", io.BytesIO(json.dumps(coco).encode()))}
        r = client.post(f"/api/v1/pools/{pool_id}/import/coco", files=files)
        assert r.status_code == 200, r.text
    hist = _history(client, image_id)
    assert [(h["action"], h["source"], h["author"]) for h in hist] == [
        ("put", "import", "test")
    ] * 2


def test_concurrent_api_and_labelstudio_writers_leave_every_revision(
    client, db, sessions, settings
) -> None:
    """8 writers at once on one image (4 API puts, 4 Label Studio syncs), 3 rounds: every
    write's boxes are in the history, and the current annotation is the latest revision."""
    image_id = _image(db, settings)
    url = f"/api/v1/images/{image_id}/annotation"
    for round_ in range(3):
        calls: list[Any] = []
        for i in range(4):
            x = float(round_ * 10 + i)
            calls.append(lambda x=x: client.put(url, json={"boxes": [box(x)]}))
            task = _ls_task(image_id, 100 * round_ + i + 1, x + 0.5)
            calls.append(lambda t=task: _ls_apply(sessions, image_id, [t]))
        answers = at_once(calls)
        assert all(a is None or a.status_code == 200 for a in answers)
        hist = _history(client, image_id)
        puts = [h for h in hist if h["action"] == "put"]
        for i in range(4):
            x = float(round_ * 10 + i)
            assert any(h["boxes"][0]["x1"] == x and h["source"] == "api" for h in puts)
            assert any(
                h["source"] == "labelstudio" and abs(h["boxes"][0]["x1"] - (x + 0.5)) < 0.01
                for h in puts
            )
        assert len(puts) == 8 * (round_ + 1)
        latest = hist[-1]
        assert latest["action"] == "put"  # each writer's last change is a put
        current = client.get(url).json()
        assert current["source"] == latest["source"]
        assert current["boxes"] == latest["boxes"]


def test_coco_export_names_the_author_on_request(client, db, settings) -> None:
    image_id = _image(db, settings)
    pool_id = db.get(Image, image_id).pool_id
    assert client.put(f"/api/v1/images/{image_id}/annotation", json={"boxes": [box(1)]}).is_success
    url = f"/api/v1/pools/{pool_id}/export/coco"
    assert client.get(url, params={"author": True}).json()["images"][0]["alp_author"] == "test"
    assert "alp_author" not in client.get(url).json()["images"][0]
