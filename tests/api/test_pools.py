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
    [
        ([], "classes must not be empty"),
        (["a", "a"], "duplicate class names: a"),
        (["a", " "], "blank"),
    ],
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


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iterations": "many"}, "train_overrides.iterations expects int"),
        ({"lr": -1}, "lr must be a positive finite number"),
        ({"heads": {"uncertainty_head": False}}, "requires uncertainty_head=True"),
        ({"detector": {"bogus": 1}}, "train_overrides.detector: unknown key 'bogus'"),
        ({"device": "cuda"}, "the worker chooses the device"),
        ({"detector": {"weights": "/etc/passwd"}}, "checkpoint paths cannot be set"),
    ],
)
def test_train_overrides_validated_at_the_api(client, overrides, reason) -> None:
    r = client.post(
        "/api/v1/pools",
        json={"name": "p", "classes": ["a"], "settings": {"train_overrides": overrides}},
    )
    assert r.status_code == 422
    assert reason in r.json()["detail"]
    assert client.get("/api/v1/pools").json() == []
    pid = client.post("/api/v1/pools", json={"name": "q", "classes": ["a"]}).json()["id"]
    bad = client.patch(f"/api/v1/pools/{pid}", json={"settings": {"train_overrides": overrides}})
    assert bad.status_code == 422 and reason in bad.json()["detail"]
    assert client.get(f"/api/v1/pools/{pid}").json()["settings"]["train_overrides"] == {}


def test_train_overrides_checked_against_the_preset(client) -> None:
    ok = {
        "iterations": 40,
        "heads": {"sync_lambda": 0.7},
        "detector": {"min_size": 64, "max_size": 64},
    }
    r = client.post(
        "/api/v1/pools",
        json={
            "name": "p",
            "classes": ["a"],
            "settings": {"train_preset": "huale", "train_overrides": ok},
        },
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    # the same overrides are invalid once the preset has no σ head to tune
    bad = client.patch(
        f"/api/v1/pools/{pid}",
        json={
            "settings": {
                "train_overrides": {"heads": {"reg_loss": "uncertainty"}},
                "train_preset": "vanilla",
            }
        },
    )
    assert bad.status_code == 422 and "uncertainty_head" in bad.json()["detail"]
    assert client.get(f"/api/v1/pools/{pid}").json()["settings"]["train_preset"] == "huale"


@pytest.mark.parametrize(
    ("values", "field"), [({"seed": 2**40}, "seed"), ({"score_subset": 10**12}, "score_subset")]
)
def test_unbounded_numbers_are_refused(client, values, field) -> None:
    r = client.post("/api/v1/pools", json={"name": "p", "classes": ["a"], "settings": values})
    assert r.status_code == 422 and field in r.json()["detail"]


def test_overlong_class_name_is_refused(client) -> None:
    r = client.post("/api/v1/pools", json={"name": "p", "classes": ["a" * 201]})
    assert r.status_code == 422 and "at most 200 characters" in r.json()["detail"]
    assert client.get("/api/v1/pools").json() == []
