"""Races, on SQLite and PostgreSQL: what two (here eight) clients do at once.

- 8 simultaneous first ``PUT /images/{id}/annotation`` of one image leave exactly one row
  (the database's unique index + upsert, not read-then-insert);
- mixed box writes and skips never leave a skipped image that shows boxes, nor a labeled
  image without its one row;
- 8 simultaneous cycle starts of one pool: one 202, the rest 409, one active cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select

from alp.db import Annotation, Cycle, Image
from alp.db.tables import ACTIVE_CYCLE_STATES
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool

CLIENTS = 8
IMAGES = 6


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))

    def go(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def box(x1: float) -> dict[str, Any]:
    return {"x1": x1, "y1": 1, "x2": x1 + 5, "y2": 9, "label": "cat"}


def api_rows(db, image_id: int) -> int:
    return db.scalar(
        select(func.count())
        .select_from(Annotation)
        .where(Annotation.image_id == image_id, Annotation.source == "api")
    )


def _images(db, settings) -> list[int]:
    _, ids = make_pool(db, LocalStorage(settings.storage_dir), n=IMAGES, size=(40, 30))
    db.commit()
    return ids


def _put(client: httpx.Client, image_id: int, body: dict[str, Any]) -> Callable[[], Any]:
    return lambda: client.put(f"/api/v1/images/{image_id}/annotation", json=body)


def test_concurrent_first_writes_leave_one_annotation(client, db, settings) -> None:
    ids = _images(db, settings)
    for image_id in ids:
        answers = at_once([_put(client, image_id, {"boxes": [box(i)]}) for i in range(CLIENTS)])
        assert [r.status_code for r in answers] == [200] * CLIENTS, [r.text for r in answers]
        db.expire_all()
        assert api_rows(db, image_id) == 1
        got = client.get(f"/api/v1/images/{image_id}/annotation").json()
        assert got["state"] == "labeled" and not got["skipped"]
        assert len(got["boxes"]) == 1
        assert got["boxes"][0]["x1"] in [float(i) for i in range(CLIENTS)]


def test_concurrent_writes_and_skips_stay_consistent(client, db, settings) -> None:
    ids = _images(db, settings)
    for n, image_id in enumerate(ids):
        # writers 0..7 of this image: every other one skips (offset per image)
        bodies = [
            {"boxes": [], "skipped": True} if (i + n) % 2 else {"boxes": [box(i)]}
            for i in range(CLIENTS)
        ]
        answers = at_once([_put(client, image_id, b) for b in bodies])
        assert [r.status_code for r in answers] == [200] * CLIENTS, [r.text for r in answers]
        db.expire_all()
        state = db.get(Image, image_id).state
        got = client.get(f"/api/v1/images/{image_id}/annotation").json()
        assert got["state"] == state
        if state == "skipped":
            assert got["skipped"] and got["boxes"] == [] and api_rows(db, image_id) == 0
        else:
            assert state == "labeled" and not got["skipped"]
            assert api_rows(db, image_id) == 1 and len(got["boxes"]) == 1


def test_a_skip_hides_boxes_of_other_sources(client, db, settings) -> None:
    from alp.services import annotations

    image_id = _images(db, settings)[0]
    annotations.put_annotation(db, image_id, [box(1)], source="import")
    db.commit()
    r = client.put(f"/api/v1/images/{image_id}/annotation", json={"boxes": [], "skipped": True})
    assert r.status_code == 200 and r.json()["boxes"] == []
    got = client.get(f"/api/v1/images/{image_id}/annotation").json()
    assert got["skipped"] is True and got["boxes"] == [] and got["source"] is None


def test_concurrent_cycle_starts_make_one_active_cycle(client, db, settings) -> None:
    pool_id, _ = make_pool(db, LocalStorage(settings.storage_dir), n=4)
    db.commit()
    url = f"/api/v1/pools/{pool_id}/cycles"
    answers = at_once([lambda: client.post(url) for _ in range(CLIENTS)])
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] + [409] * (CLIENTS - 1), [r.text for r in answers]
    assert all("detail" in r.json() for r in answers if r.status_code == 409)
    db.expire_all()
    active = db.scalar(
        select(func.count())
        .select_from(Cycle)
        .where(Cycle.pool_id == pool_id, Cycle.state.in_(ACTIVE_CYCLE_STATES))
    )
    assert active == 1


def test_annotation_writes_while_the_cycle_is_cancelled(client, db, settings) -> None:
    """Writers lock (labeling cycle, image) in the order cancelling does: no deadlock."""
    from tests.api.cycle_fixtures import labeling_cycle

    for round_ in range(3):
        pool_id, ids = make_pool(
            db, LocalStorage(settings.storage_dir), n=CLIENTS, size=(40, 30 + round_)
        )
        cycle_id = labeling_cycle(db, pool_id, ids)
        db.commit()
        calls = [_put(client, i, {"boxes": [box(1)]}) for i in ids]
        calls.insert(round_ * 3, lambda c=cycle_id: client.post(f"/api/v1/cycles/{c}/cancel"))
        answers = at_once(calls)
        codes = [r.status_code for r in answers]
        assert all(c in (200, 409) for c in codes), [r.text for r in answers]
        assert codes.count(200) >= CLIENTS, [r.text for r in answers]
