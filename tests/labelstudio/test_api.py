"""API contract of the Label Studio routes that need no server (both databases)."""

from __future__ import annotations

from alp.db import LabelStudioConnection, Pool


def _connected_pool(sessions) -> int:
    with sessions() as db:
        pool = Pool(name="p", classes=["cat"], settings={})
        db.add(pool)
        db.flush()
        conn = LabelStudioConnection(
            pool_id=pool.id, url="http://ls", token="secret-token", project_id=5, webhook_id=1,
            webhook_secret="s3cret",
        )  # fmt: skip
        db.add(conn)
        db.commit()
        return pool.id


def test_webhook_checks_the_shared_secret(client, anon_client, sessions) -> None:
    pool_id = _connected_pool(sessions)
    url = f"/api/v1/webhooks/label-studio?pool_id={pool_id}"
    body = {"action": "ANNOTATION_CREATED", "project": {"id": 5}}
    assert anon_client.post(url, json=body).status_code == 401
    wrong = anon_client.post(url, json=body, headers={"X-Alp-Webhook-Secret": "wrong"})
    assert wrong.status_code == 401 and "secret" in wrong.json()["detail"]
    ok = anon_client.post(url, json=body, headers={"X-Alp-Webhook-Secret": "s3cret"})
    assert ok.status_code == 202 and ok.json() == {"queued": True}
    other = {"action": "PROJECT_UPDATED", "project": {"id": 5}}
    r = anon_client.post(url, json=other, headers={"X-Alp-Webhook-Secret": "s3cret"})
    assert r.status_code == 202 and r.json() == {"queued": False}
    r = anon_client.post("/api/v1/webhooks/label-studio", json=body)
    assert r.status_code == 422 and "pool_id" in r.json()["detail"]
    # an unknown pool gets the same answer as a wrong secret (no probing of connections)
    r = anon_client.post("/api/v1/webhooks/label-studio?pool_id=999", json=body)
    assert r.status_code == 401 and r.json() == wrong.json()
    r = anon_client.post(
        url,
        content=b"[1, 2",
        headers={"X-Alp-Webhook-Secret": "s3cret", "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_status_never_returns_the_token(client, sessions) -> None:
    pool_id = _connected_pool(sessions)
    r = client.get(f"/api/v1/pools/{pool_id}/labelstudio")
    assert r.status_code == 200 and "secret-token" not in r.text and "s3cret" not in r.text
    body = r.json()
    assert body["project_id"] == 5 and body["tasks_pushed"] == 0 and body["webhook_registered"]
    assert client.post(f"/api/v1/pools/{pool_id}/labelstudio/sync").status_code == 202
    assert client.get("/api/v1/pools/999/labelstudio").status_code == 404


def test_connect_validates_input(client, sessions) -> None:
    pool_id = _connected_pool(sessions)
    url = f"/api/v1/pools/{pool_id}/labelstudio"
    r = client.post(url, json={"url": "ftp://x", "token": "t"})
    assert r.status_code == 422 and "url" in r.json()["detail"]
    assert client.post(url, json={"url": "http://x", "token": " "}).status_code == 422
    assert client.post("/api/v1/pools/999/labelstudio",
                       json={"url": "http://x", "token": "t"}).status_code == 404  # fmt: skip


def test_webhook_bursts_coalesce_into_one_queued_sync(sessions) -> None:
    from datetime import timedelta

    from alp import jobs, outbox
    from alp.db import utcnow
    from alp.labelstudio import sync

    pool_id = _connected_pool(sessions)
    body = {"action": "ANNOTATION_CREATED", "project": {"id": 5}}
    with sessions() as db:
        for _ in range(5):  # a labelling burst: one queued sync
            assert sync.accept_webhook(db, pool_id, "s3cret", body) is True
        assert [name for name, *_ in outbox.pending(db)] == [jobs.LS_SYNC]
        sync.mark_sync_started(db, pool_id)  # the sync began: later changes need another
        assert db.get(LabelStudioConnection, pool_id).sync_queued_at is None
        assert sync.accept_webhook(db, pool_id, "s3cret", body)
        assert len(outbox.pending(db)) == 2
        # a marker older than the window (a lost task) does not hold syncs back
        conn = db.get(LabelStudioConnection, pool_id)
        conn.sync_queued_at = utcnow() - timedelta(seconds=sync.WEBHOOK_COALESCE_S + 1)
        assert sync.accept_webhook(db, pool_id, "s3cret", body)
        assert len(outbox.pending(db)) == 3
        db.rollback()
