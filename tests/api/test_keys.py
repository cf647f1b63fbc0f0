"""Key management: REST ``/api/v1/keys``, ``alp keys``; revoked/expired keys end sessions."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from alp.cli import app as cli_app
from alp.db import ApiKey, utcnow
from alp.services import keys


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_admin_creates_lists_and_revokes_over_rest(client, anon_client) -> None:
    pool = client.post("/api/v1/pools", json={"name": "p", "classes": ["a"]}).json()["id"]
    body = {"name": "ann", "role": "annotator", "pools": [pool], "expires_in": "30d"}
    r = client.post("/api/v1/keys", json=body)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["key"].startswith(f"alp_{new['prefix']}_")
    assert new["role"] == "annotator" and new["pools"] == [pool] and new["active"]
    assert new["expires_at"] is not None
    listed = client.get("/api/v1/keys").json()
    assert [k["name"] for k in listed] == ["test", "ann"]
    assert all("key" not in k for k in listed)  # the secret is shown once only
    assert anon_client.get(f"/api/v1/pools/{pool}", headers=_bearer(new["key"])).status_code == 200
    r = client.delete(f"/api/v1/keys/{new['prefix']}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert not r.json()["active"]
    r = anon_client.get(f"/api/v1/pools/{pool}", headers=_bearer(new["key"]))
    assert r.status_code == 401 and r.json()["detail"] == "API key revoked"


def test_bad_key_requests_are_4xx(client) -> None:
    assert client.post("/api/v1/keys", json={"name": "x", "role": "root"}).status_code == 422
    r = client.post("/api/v1/keys", json={"name": "x", "role": "viewer", "expires_in": "soon"})
    assert r.status_code == 400 and "duration" in r.json()["detail"]
    r = client.post("/api/v1/keys", json={"name": "x", "role": "admin", "pools": [1]})
    assert r.status_code in (400, 404)
    r = client.post("/api/v1/keys", json={"name": "x", "role": "viewer", "pools": [999]})
    assert r.status_code == 404 and "pool 999" in r.json()["detail"]
    assert client.delete("/api/v1/keys/ffffffffffff").status_code == 404
    assert [k["name"] for k in client.get("/api/v1/keys").json()] == ["test"]  # nothing stored


def _signed_in(app, key: str) -> TestClient:
    c = TestClient(app)
    assert c.post("/login", data={"api_key": key}, follow_redirects=False).status_code == 303
    assert c.get("/", follow_redirects=False).status_code == 200
    return c


def test_expired_key_is_401_and_signs_the_dashboard_out(app, sessions, anon_client) -> None:
    with sessions() as db:
        new = keys.create_key(db, "short", role="viewer", expires_in=timedelta(hours=1))
        db.commit()
    dash = _signed_in(app, new.key)
    with sessions() as db:  # an hour passes
        row = db.get(ApiKey, new.id)
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    r = anon_client.get("/api/v1/pools", headers=_bearer(new.key))
    assert r.status_code == 401 and r.json()["detail"] == "API key expired"
    r = dash.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert dash.get("/api/v1/dashboard/pools").status_code == 401
    dash.close()


def test_revoked_key_signs_the_dashboard_out(app, client) -> None:
    new = client.post("/api/v1/keys", json={"name": "v", "role": "viewer"}).json()
    dash = _signed_in(app, new["key"])
    assert client.delete(f"/api/v1/keys/alp_{new['prefix']}").status_code == 200
    r = dash.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert dash.get("/api/v1/dashboard/pools").status_code == 401
    dash.close()


def test_cli_create_list_revoke(settings, sessions, monkeypatch) -> None:
    monkeypatch.setenv("ALP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ALP_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    r = runner.invoke(cli_app, ["keys", "create", "bob", "--role", "editor", "--expires", "12h"])
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    with sessions() as db:
        assert keys.verify_key(db, key).role == "editor"
    r = runner.invoke(cli_app, ["keys", "list"])
    assert r.exit_code == 0
    row = next(line for line in r.output.splitlines() if "\tbob\t" in line)
    assert "\teditor\tall\t" in row and row.endswith("\tactive")
    prefix = key.split("_")[1]
    assert runner.invoke(cli_app, ["keys", "revoke", prefix]).exit_code == 0
    with sessions() as db:
        assert db.scalar(select(ApiKey).where(ApiKey.prefix == prefix)).revoked_at is not None
    r = runner.invoke(cli_app, ["keys", "create", "x", "--role", "boss"])
    assert r.exit_code == 2 and "unknown role" in r.output
