"""Pools: create / list / get / patch, validation and auth, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest


def test_create_get_list_pool(client) -> None:
    r = client.post("/api/v1/pools", json={"name": "cars", "classes": ["car", "bus"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["classes"] == ["car", "bus"]
    assert body["settings"]["strategy"] == "hua"
    assert body["counts"]["total"] == 0
    pid = body["id"]
    assert client.get(f"/api/v1/pools/{pid}").json()["name"] == "cars"
    assert [p["id"] for p in client.get("/api/v1/pools").json()] == [pid]


@pytest.mark.parametrize(
    ("classes", "reason"),
    [([], "classes must not be empty"), (["a", "a"], "duplicate class names: a"),
     (["a", " "], "blank")],
)
def test_class_list_validated(client, classes, reason) -> None:
    r = client.post("/api/v1/pools", json={"name": "p", "classes": classes})
    assert r.status_code == 422
    assert reason in r.json()["detail"]
    assert client.get("/api/v1/pools").json() == []


def test_duplicate_pool_name_conflicts(client) -> None:
    assert client.post("/api/v1/pools", json={"name": "p", "classes": ["a"]}).status_code == 201
    r = client.post("/api/v1/pools", json={"name": "p", "classes": ["b"]})
    assert r.status_code == 409
    assert "already exists" in r.json()["detail"]


def test_patch_settings_merges_and_validates(client) -> None:
    pid = client.post("/api/v1/pools", json={"name": "p", "classes": ["a"]}).json()["id"]
    r = client.patch(f"/api/v1/pools/{pid}", json={"settings": {"batch_size": 7}})
    assert r.status_code == 200
    assert r.json()["settings"]["batch_size"] == 7
    assert r.json()["settings"]["strategy"] == "hua"
    bad = client.patch(f"/api/v1/pools/{pid}", json={"settings": {"strategy": "nope"}})
    assert bad.status_code == 422
    assert "unknown strategy 'nope'" in bad.json()["detail"]
    assert client.get(f"/api/v1/pools/{pid}").json()["settings"]["strategy"] == "hua"


def test_missing_pool_is_404(client) -> None:
    r = client.get("/api/v1/pools/999")
    assert r.status_code == 404
    assert r.json() == {"detail": "pool 999 not found"}
