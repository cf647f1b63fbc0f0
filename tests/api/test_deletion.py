"""Deleting images and pools: 409 while a cycle is active; afterwards no rows and (once a
real worker ran the blob job) no files remain."""

from __future__ import annotations

from sqlalchemy import func, select

from alp.db import (
    Annotation,
    AnnotationRevision,
    Cycle,
    Image,
    Job,
    LabelStudioConnection,
    Pool,
    Selection,
)
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import labeling_cycle, make_pool
from tests.support.processes import celery_worker, wait_for


def _count(db, table, *where) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(table).where(*where))


def _files(storage: LocalStorage, prefix: str) -> list[str]:
    return list(storage.iter_keys(prefix)) if storage.path(prefix).exists() else []


def test_delete_image_and_pool(client, db, settings) -> None:
    storage = LocalStorage(settings.storage_dir)
    pool_id, ids = make_pool(db, storage, n=3)
    other_id, other_images = make_pool(db, storage, n=2)
    cycle_id = labeling_cycle(db, pool_id, ids[:2])
    db.commit()
    sel = db.scalar(select(Selection.id).where(Selection.image_id == ids[0]))
    thumb = client.get(f"/api/v1/dashboard/selections/{sel}/thumbnail", params={"size": 128})
    assert thumb.status_code == 200
    ann = {"boxes": [{"x1": 1, "y1": 1, "x2": 5, "y2": 5, "label": "cat"}]}
    assert client.put(f"/api/v1/images/{ids[0]}/annotation", json=ann).status_code == 200
    first = db.get(Image, ids[0]).storage_key
    assert storage.exists(first)

    for url in (f"/api/v1/images/{ids[0]}", f"/api/v1/pools/{pool_id}"):
        r = client.delete(url)
        assert r.status_code == 409 and "labeling" in r.json()["detail"]
    assert _count(db, Image, Image.pool_id == pool_id) == 3  # nothing half-deleted
    assert client.post(f"/api/v1/cycles/{cycle_id}/cancel").status_code == 200

    with celery_worker(settings, queues="io"):
        assert client.delete(f"/api/v1/images/{ids[0]}").status_code == 204
        assert client.get(f"/api/v1/images/{ids[0]}").status_code == 404
        for table in (Annotation, AnnotationRevision, Selection):
            assert _count(db, table, table.image_id == ids[0]) == 0
        thumbs = f"pools/{pool_id}/thumbs"
        assert any(f"/{ids[0]}-" in k for k in _files(storage, thumbs))

        def gone() -> bool:
            mine = [k for k in _files(storage, thumbs) if f"/{ids[0]}-" in k]
            return not storage.exists(first) and not mine

        wait_for(gone, timeout=60, what="image file and thumbnails removed")
        assert storage.exists(db.get(Image, ids[1]).storage_key)  # the others stay

        assert client.delete(f"/api/v1/pools/{pool_id}").status_code == 204
        assert client.get(f"/api/v1/pools/{pool_id}").status_code == 404
        assert _count(db, Pool, Pool.id == pool_id) == 0
        for table in (Image, Cycle, Job):
            assert _count(db, table, table.pool_id == pool_id) == 0
        assert _count(db, LabelStudioConnection, LabelStudioConnection.pool_id == pool_id) == 0
        assert _count(db, Selection, Selection.cycle_id == cycle_id) == 0
        wait_for(lambda: not _files(storage, f"pools/{pool_id}"), timeout=60, what="pool files")
    assert _count(db, Image, Image.pool_id == other_id) == 2  # another pool is untouched
    assert all(storage.exists(db.get(Image, i).storage_key) for i in other_images)
    assert client.delete(f"/api/v1/pools/{pool_id}").status_code == 404
    assert client.delete("/api/v1/images/999999").status_code == 404
