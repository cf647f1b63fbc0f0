"""The audit log: administrative acts are recorded with their actor, shown to admins."""

from __future__ import annotations

from fastapi.testclient import TestClient

from alp.services import keys
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool


def test_acts_are_audited_newest_first(app, client, db, settings) -> None:
    pool_id, ids = make_pool(db, LocalStorage(settings.storage_dir), n=2)
    db.commit()
    new = client.post("/api/v1/keys", json={"name": "ed", "role": "editor"}).json()
    editor = {"Authorization": f"Bearer {new['key']}"}
    patch = {"settings": {"batch_size": 7}}
    assert client.patch(f"/api/v1/pools/{pool_id}", json=patch, headers=editor).status_code == 200
    assert client.delete(f"/api/v1/images/{ids[0]}", headers=editor).status_code == 204
    assert (
        client.patch(f"/api/v1/pools/{pool_id}", json={"settings": {"batch_size": 0}}).status_code
        == 422
    )
    assert client.delete(f"/api/v1/keys/{new['prefix']}").status_code == 200
    log = client.get("/api/v1/audit").json()
    assert [(e["actor"], e["action"], e["target"]) for e in log] == [
        ("test", "key.revoked", f"key {new['prefix']}"),
        ("ed", "image.deleted", f"image {ids[0]}"),
        ("ed", "pool.changed", f"pool {pool_id}"),
        ("test", "key.created", f"key {new['prefix']}"),
    ]  # the refused patch left nothing
    assert log[2]["details"] == {"changes": patch}
    assert log[3]["details"]["role"] == "editor" and "key" not in log[3]["details"]
    older = client.get("/api/v1/audit", params={"before": log[1]["id"], "limit": 1}).json()
    assert [e["id"] for e in older] == [log[2]["id"]]
    assert client.get("/api/v1/audit", headers=editor).status_code == 401  # revoked


def test_dashboard_shows_the_log_to_admins_only(app, sessions, client) -> None:
    client.post("/api/v1/keys", json={"name": "someone", "role": "viewer"})
    with sessions() as db:
        editor = keys.create_key(db, "ed", role="editor").key
        db.commit()
    for key, shown in ((client.headers["Authorization"].split()[1], True), (editor, False)):
        with TestClient(app) as c:
            c.post("/login", data={"api_key": key})
            page = c.get("/").text
            assert ('id="audit"' in page) is shown
            assert ("key.created" in page) is shown
