"""API-key authentication (DESIGN §4, issue 2 item 6)."""

from __future__ import annotations

from sqlalchemy import select

from alp.db import ApiKey
from alp.services import keys


def test_no_key_is_401_with_reason(anon_client) -> None:
    r = anon_client.get("/api/v1/pools")
    assert r.status_code == 401
    assert "missing API key" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_wrong_scheme_is_401(anon_client, api_key) -> None:
    r = anon_client.get("/api/v1/pools", headers={"Authorization": f"Basic {api_key}"})
    assert r.status_code == 401


def test_malformed_key_is_401(anon_client) -> None:
    r = anon_client.get("/api/v1/pools", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert r.json()["detail"] == "malformed API key"


def test_wrong_secret_is_401(anon_client, api_key) -> None:
    tampered = api_key[:-4] + ("AAAA" if not api_key.endswith("AAAA") else "BBBB")
    r = anon_client.get("/api/v1/pools", headers={"Authorization": f"Bearer {tampered}"})
    assert r.status_code == 401
    assert r.json()["detail"] == "invalid API key"


def test_unknown_prefix_is_401(anon_client, api_key) -> None:
    _, _prefix, secret = api_key.split("_", 2)
    r = anon_client.get(
        "/api/v1/pools", headers={"Authorization": f"Bearer alp_000000000000_{secret}"}
    )
    assert r.status_code == 401


def test_revoked_key_is_401(anon_client, api_key, sessions) -> None:
    with sessions() as db:
        row = db.scalar(select(ApiKey))
        row.revoked_at = row.created_at
        db.commit()
    r = anon_client.get("/api/v1/pools", headers={"Authorization": f"Bearer {api_key}"})
    assert r.status_code == 401
    assert r.json()["detail"] == "API key revoked"


def test_valid_key_works_and_is_touched(client, sessions) -> None:
    assert client.get("/api/v1/pools").status_code == 200
    with sessions() as db:
        assert db.scalar(select(ApiKey)).last_used_at is not None


def test_secret_is_stored_only_as_hash(api_key, sessions) -> None:
    _, prefix, secret = api_key.split("_", 2)
    assert len(secret) >= 43  # 256 bits, url-safe base64
    with sessions() as db:
        row = db.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        assert secret not in row.secret_hash
        assert len(row.secret_hash) == 64


def test_healthz_needs_no_key(anon_client) -> None:
    r = anon_client.get("/healthz", params={"wait": 0})
    assert r.status_code == 200
    assert r.json()["database"] == "ok"
    assert r.json()["worker"]["status"] == "unreachable"


def test_bootstrap_key_only_on_first_start(sessions) -> None:
    boot = "alp_0123456789ab_" + "x" * 43
    with sessions() as db:
        first = keys.ensure_bootstrap_key(db, boot)
        db.commit()
        assert first is not None and first.key == boot
        assert keys.ensure_bootstrap_key(db, boot) is None
        assert keys.verify_key(db, boot).name == "admin"


def test_every_api_route_requires_a_key(app, anon_client) -> None:
    checked = 0
    for path, ops in app.openapi()["paths"].items():
        if not path.startswith("/api/v1") or path.endswith("/content"):
            continue  # signed content URLs have their own check
        if path.startswith("/api/v1/webhooks"):
            continue  # shared-secret webhooks have their own check
        for method in ops:
            url = "/".join("1" if seg.startswith("{") else seg for seg in path.split("/"))
            r = anon_client.request(method.upper(), url)
            assert r.status_code == 401, (method, path, r.status_code)
            checked += 1
    assert checked >= 4


def test_key_use_is_recorded_at_most_once_a_minute(sessions, api_key) -> None:
    from datetime import timedelta

    with sessions() as db:
        row = keys.verify_key(db, api_key)
        assert keys.touch(db, row) is True
        first = row.last_used_at
        assert keys.touch(db, row) is False
        assert row.last_used_at == first
        row.last_used_at = first - timedelta(seconds=61)
        assert keys.touch(db, row) is True
