"""Cycles and jobs over HTTP without a worker: 202 + job, one active cycle per pool (409),
cancel, retry rules, labeling completion and auto-advance, next-batch."""

from __future__ import annotations

from sqlalchemy import select

from alp.db import Cycle, Image, Job
from tests.api.cycle_fixtures import labeling_cycle, make_pool


def test_start_cycle_returns_job_and_second_start_conflicts(client, db, storage) -> None:
    pid, _ = make_pool(db, storage)
    db.commit()
    r = client.post(f"/api/v1/pools/{pid}/cycles")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["cycle"]["state"] == "pending" and body["cycle"]["index"] == 0
    assert body["job"]["kind"] == "train" and body["job"]["state"] == "queued"
    job = client.get(f"/api/v1/jobs/{body['job']['id']}")
    assert job.status_code == 200 and job.json()["cycle_id"] == body["cycle"]["id"]

    again = client.post(f"/api/v1/pools/{pid}/cycles")
    assert again.status_code == 409
    assert "already has an active cycle" in again.json()["detail"]
    assert len(client.get(f"/api/v1/pools/{pid}/cycles").json()) == 1


def test_unknown_ids_are_404(client) -> None:
    for method, url in [
        ("post", "/api/v1/pools/999/cycles"),
        ("get", "/api/v1/pools/999/cycles"),
        ("get", "/api/v1/cycles/999"),
        ("post", "/api/v1/cycles/999/retry"),
        ("post", "/api/v1/cycles/999/cancel"),
        ("get", "/api/v1/jobs/999"),
        ("get", "/api/v1/pools/999/next-batch"),
    ]:
        r = getattr(client, method)(url)
        assert r.status_code == 404, (url, r.text)
        assert "not found" in r.json()["detail"]


def test_start_needs_unlabeled_images(client, db, storage) -> None:
    pid, _ = make_pool(db, storage, n=0)
    db.commit()
    r = client.post(f"/api/v1/pools/{pid}/cycles")
    assert r.status_code == 409
    assert "no unlabeled images" in r.json()["detail"]


def test_cancel_releases_images_and_allows_a_new_cycle(client, db, storage) -> None:
    pid, ids = make_pool(db, storage)
    cid = labeling_cycle(db, pid, ids[:3])
    db.commit()
    r = client.post(f"/api/v1/cycles/{cid}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled" and r.json()["cancel_requested"] is True
    db.expire_all()
    assert {db.get(Image, i).state for i in ids[:3]} == {"unlabeled"}
    assert client.post(f"/api/v1/cycles/{cid}/cancel").status_code == 409
    nxt = client.post(f"/api/v1/pools/{pid}/cycles")
    assert nxt.status_code == 202 and nxt.json()["cycle"]["index"] == 1


def test_retry_only_a_failed_cycle(client, db, storage) -> None:
    pid, _ = make_pool(db, storage)
    db.commit()
    cid = client.post(f"/api/v1/pools/{pid}/cycles").json()["cycle"]["id"]
    r = client.post(f"/api/v1/cycles/{cid}/retry")
    assert r.status_code == 409 and "only a failed cycle" in r.json()["detail"]
    cycle = db.get(Cycle, cid)
    cycle.state, cycle.failed_stage, cycle.error = "failed", "evaluating", "boom"
    db.commit()
    r = client.post(f"/api/v1/cycles/{cid}/retry")
    assert r.status_code == 202, r.text
    assert r.json()["job"]["kind"] == "evaluate" and r.json()["job"]["state"] == "queued"
    assert r.json()["cycle"]["state"] == "evaluating" and r.json()["cycle"]["error"] is None


def test_labeling_the_whole_selection_finishes_and_auto_advances(client, db, storage) -> None:
    pid, ids = make_pool(db, storage)
    cid = labeling_cycle(db, pid, ids[:2])
    db.commit()
    box = {"x1": 1, "y1": 1, "x2": 20, "y2": 20, "label": "cat"}
    assert client.put(f"/api/v1/images/{ids[0]}/annotation", json={"boxes": [box]}).is_success
    assert client.get(f"/api/v1/cycles/{cid}").json()["remaining"] == 1
    r = client.put(f"/api/v1/images/{ids[1]}/annotation", json={"skipped": True})
    assert r.status_code == 200 and r.json()["state"] == "skipped"
    cycles = client.get(f"/api/v1/pools/{pid}/cycles").json()
    assert [(c["index"], c["state"]) for c in cycles] == [(0, "done"), (1, "pending")]
    db.expire_all()
    jobs = db.scalars(select(Job).where(Job.cycle_id == cycles[1]["id"])).all()
    assert [(j.kind, j.state) for j in jobs] == [("train", "queued")]


def test_no_auto_advance_when_disabled(client, db, storage) -> None:
    pid, ids = make_pool(db, storage, auto_advance=False)
    labeling_cycle(db, pid, ids[:1])
    db.commit()
    assert client.put(f"/api/v1/images/{ids[0]}/annotation", json={"boxes": []}).is_success
    assert [c["state"] for c in client.get(f"/api/v1/pools/{pid}/cycles").json()] == ["done"]


def test_next_batch_best_first_with_predictions(client, db, storage) -> None:
    pid, ids = make_pool(db, storage)
    db.commit()
    empty = client.get(f"/api/v1/pools/{pid}/next-batch").json()
    assert empty == {"cycle_id": None, "cycle_index": None, "cycle_state": None, "remaining": 0,
                     "items": []}  # fmt: skip
    cid = labeling_cycle(db, pid, [ids[2], ids[0], ids[1]], index=3)
    db.commit()
    body = client.get(f"/api/v1/pools/{pid}/next-batch", params={"limit": 2}).json()
    assert body["cycle_id"] == cid and body["cycle_index"] == 3 and body["remaining"] == 3
    assert [i["image_id"] for i in body["items"]] == [ids[2], ids[0]]
    first = body["items"][0]
    assert first["boxes"] == [
        {"x1": 1.0, "y1": 2.0, "x2": 10.0, "y2": 12.0, "label": "dog", "score": 0.9}
    ]
    assert first["components"] == {"entropy": 0.5} and first["width"] == 40
    content = client.get(first["content_url"].removeprefix("http://testserver"))
    assert content.status_code == 200 and content.content.startswith(b"\x89PNG")
    client.put(f"/api/v1/images/{ids[2]}/annotation", json={"boxes": []})
    body = client.get(f"/api/v1/pools/{pid}/next-batch").json()
    assert [i["image_id"] for i in body["items"]] == [ids[0], ids[1]]
    for bad in (0, 1001, "x"):
        r = client.get(f"/api/v1/pools/{pid}/next-batch", params={"limit": bad})
        assert r.status_code == 422 and "limit" in r.json()["detail"]
