"""PUT /images/{id}/annotation: validation (bounds, classes, shapes, skip) with clear 4xx and
nothing half-stored; replacement; the service's idempotent external annotations."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from alp.db import Annotation, Image
from alp.errors import Unprocessable
from alp.services import annotations
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import labeling_cycle, make_pool


@pytest.fixture
def image_id(db, settings) -> int:
    _, ids = make_pool(db, LocalStorage(settings.storage_dir), n=2, size=(40, 30))
    db.commit()
    return ids[0]


def box(**kw) -> dict:
    return {"x1": 1, "y1": 1, "x2": 10, "y2": 10, "label": "cat", **kw}


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [
        ({"boxes": [box(x2=41)]}, 422, "outside the image bounds 40x30"),
        ({"boxes": [box(y1=-3)]}, 422, "outside the image bounds"),
        ({"boxes": [box(label="bird")]}, 422, "unknown class 'bird'"),
        ({"boxes": [box(x1=10, x2=5)]}, 422, "x1 < x2"),
        ({"boxes": [box(y1=5, y2=5)]}, 422, "y1 < y2"),
        ({"boxes": [box()], "skipped": True}, 422, "skipped image takes no boxes"),
        ({"boxes": [{"x1": 1, "y1": 1, "x2": 2, "label": "cat"}]}, 422, "boxes.0.y2"),
        ({"boxes": [box(extra=1)]}, 422, "extra"),
        ({"boxes": "nope"}, 422, "boxes"),
        ({"labels": []}, 422, "labels"),
    ],
)
def test_bad_payloads_are_rejected_and_nothing_is_stored(
    client, db, image_id, payload, status, reason
) -> None:
    r = client.put(f"/api/v1/images/{image_id}/annotation", json=payload)
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]
    db.expire_all()
    assert db.get(Image, image_id).state == "unlabeled"
    assert db.scalar(select(func.count()).select_from(Annotation)) == 0


def test_unknown_image_is_404(client) -> None:
    r = client.put("/api/v1/images/12345/annotation", json={"boxes": []})
    assert r.status_code == 404 and "image 12345 not found" in r.json()["detail"]


def test_put_replaces_and_reads_back(client, db, image_id) -> None:
    r = client.put(f"/api/v1/images/{image_id}/annotation", json={"boxes": [box()]})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "labeled" and r.json()["boxes"][0]["label"] == "cat"
    r = client.put(f"/api/v1/images/{image_id}/annotation", json={"boxes": []})
    assert r.json()["boxes"] == [] and r.json()["state"] == "labeled"
    assert db.scalar(select(func.count()).select_from(Annotation)) == 1
    got = client.get(f"/api/v1/images/{image_id}/annotation").json()
    assert got["boxes"] == [] and got["source"] == "api"


def test_edge_rounding_is_clamped(client, image_id) -> None:
    r = client.put(f"/api/v1/images/{image_id}/annotation", json={"boxes": [box(x2=40.3, y1=-0.2)]})
    assert r.status_code == 200, r.text
    assert r.json()["boxes"][0]["x2"] == 40.0 and r.json()["boxes"][0]["y1"] == 0.0


def test_external_annotations_are_idempotent_and_deletable(db, settings) -> None:
    pid, ids = make_pool(db, LocalStorage(settings.storage_dir), n=3)
    labeling_cycle(db, pid, ids[:2])
    for _ in range(2):  # re-delivery of the same Label Studio annotation
        annotations.put_annotation(db, ids[0], [box()], source="labelstudio", external_id="7")
    assert db.scalar(select(func.count()).select_from(Annotation)) == 1
    annotations.delete_annotation(db, ids[0], source="labelstudio", external_id="7")
    assert db.get(Image, ids[0]).state == "queued", "selected by the labeling cycle"
    annotations.put_annotation(db, ids[2], [], source="labelstudio", external_id="8")
    annotations.delete_annotation(db, ids[2], source="labelstudio", external_id="8")
    assert db.get(Image, ids[2]).state == "unlabeled"
    with pytest.raises(Unprocessable, match="unknown annotation source"):
        annotations.put_annotation(db, ids[0], [], source="elsewhere")
