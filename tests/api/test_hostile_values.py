"""One test per class of hostile value found by fuzzing (issue 16): malformed session
cookies, non-canonical signed-URL expiries, Unicode in names, and the documented limits.
Each is a clear 4xx (or simply "no session"), never a 500, and nothing is stored."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from alp.db import Pool
from alp.schemas_limits import MAX_BOXES, MAX_CLASSES
from alp.services import signing
from alp.storage import LocalStorage
from api.dashboard import session
from tests.api.cycle_fixtures import make_pool

SECRET = "test-secret-key"


@pytest.mark.parametrize(
    "token",
    [
        "v1.1.9999999999.\xe9",  # non-ASCII MAC (was a TypeError in compare_digest)
        "v1.1.9999999999." + "é" * 43,
        "v1.\u00b2.9999999999." + "A" * 43,  # "²".isdigit() is True, int("²") fails
        "v1.\u0661.9999999999." + "A" * 43,  # Arabic-Indic digit one
        "v1." + "9" * 5000 + ".9999999999." + "A" * 43,  # beyond int()'s digit limit
        "v1.1.9999999999",
        "v1.1.+9999999999." + "A" * 43,
        "",
        "\x00",
    ],
)
def test_malformed_session_tokens_are_no_session(token: str) -> None:
    assert session.verify(SECRET, token) is None


def test_session_tokens_still_verify() -> None:
    token = session.issue(SECRET, 7)
    assert session.verify(SECRET, token) == 7
    assert session.verify("other", token) is None
    assert session.verify(SECRET, token, now=time.time() + session.TTL_S + 1) is None


@pytest.mark.parametrize(
    "path", ["/api/v1/pools", "/login", "/", "/api/v1/images/1/content", "/api/v1/dashboard/pools"]
)
def test_non_ascii_cookie_is_no_session_not_a_500(anon_client, path: str) -> None:
    cookie = b"alp_session=v1.1.9999999999.\xe9"
    r = anon_client.get(path, headers={"Cookie": cookie}, follow_redirects=False)
    assert r.status_code in (200, 303, 401), r.text
    if path.startswith("/api/"):
        assert r.status_code == 401 and "detail" in r.json()


@pytest.fixture
def image_id(db, settings) -> int:
    _, ids = make_pool(db, LocalStorage(settings.storage_dir), n=1)
    db.commit()
    return ids[0]


@pytest.mark.parametrize("form", ["+{n}", "0{n}", "{n}_0", " {n}", "{n} ", "{n}.0", "\u0661{n}"])
def test_signed_url_expires_must_be_canonical(anon_client, settings, image_id, form) -> None:
    good = signing.signed_query(settings, image_id)
    n = good["expires"]
    url = f"/api/v1/images/{image_id}/content"
    assert anon_client.get(url, params=good).status_code == 200
    expires = form.format(n=n)
    # signed over the same number: only the spelling differs, and it is refused
    sig = signing.content_signature(settings.resolved_secret_key(), image_id, int(n))
    r = anon_client.get(url, params={"expires": expires, "sig": sig})
    assert r.status_code == 403 and "expires" in r.json()["detail"]


def test_signed_url_rejects_huge_and_non_ascii_values(anon_client, settings, image_id) -> None:
    url = f"/api/v1/images/{image_id}/content"
    for params in ({"expires": "9" * 5000, "sig": "x"}, {"expires": "1", "sig": "é" * 64}):
        r = anon_client.get(url, params=params)
        assert r.status_code == 403, r.text


def _pools(sessions) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Pool))


def test_format_characters_are_allowed_control_characters_are_not(client, sessions) -> None:
    family = "👨\u200d👩\u200d👧"  # ZWJ (Cf) between the persons
    r = client.post("/api/v1/pools", json={"name": f"pool {family}", "classes": [family, "a"]})
    assert r.status_code == 201, r.text
    assert r.json()["classes"] == [family, "a"]
    for body in (
        {"name": "x", "classes": ["a\u0007"]},  # BEL
        {"name": "x", "classes": ["a\u007f"]},  # DEL
        {"name": "x\u0085y", "classes": ["a"]},  # NEL (Cc) inside the name
    ):
        r = client.post("/api/v1/pools", json=body)
        assert r.status_code == 422 and r.json()["detail"], r.text
    lone = b'{"name": "x", "classes": ["\\ud800"]}'  # an unpaired surrogate, JSON-escaped
    r = client.post("/api/v1/pools", content=lone, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"], r.text
    assert _pools(sessions) == 1


def _settings(**kw) -> dict:
    return {"name": "lim", "classes": ["a"], "settings": kw}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "lim", "classes": [f"c{i}" for i in range(MAX_CLASSES + 1)]}, "at most 1000"),
        ({"name": "lim", "classes": [f"c{i}" for i in range(2_000)]}, "at most 1000"),
        ({"name": "lim", "classes": ["x" * 201]}, "200 characters"),
        ({"name": "lim", "classes": []}, "must not be empty"),
        ({"name": "x" * 201, "classes": ["a"]}, "200 characters"),
        (_settings(train_overrides={"iterations": 10**29}), "iterations"),
        (_settings(train_overrides={"iterations": 1_000_001}), "between 1 and 1000000"),
        (_settings(train_overrides={"iterations": None, "epochs": 10**9}), "epochs"),
        (_settings(train_overrides={"batch_size": 513}), "batch_size"),
        (_settings(train_overrides={"warmup_iters": 10**7}), "warmup_iters"),
        (_settings(train_overrides={"milestones": list(range(101))}), "milestones"),
        (_settings(train_overrides={"detector": {"max_size": 100_000}}), "max_size"),
        (_settings(batch_size=100_001), "batch_size"),
        (_settings(score_subset=10**9), "score_subset"),
        (_settings(strategy="ppal", strategy_params={"max_boxes": 10**7}), "max_boxes"),
        (_settings(strategy="cald", strategy_params={"augmentations": "F" * 201}), "200"),
        (_settings(strategy="hua", strategy_params={"metrics": ["entropy"] * 101}), "100"),
    ],
)
def test_documented_limits_are_422_with_reason(client, sessions, body, reason) -> None:
    r = client.post("/api/v1/pools", json=body)
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]
    assert _pools(sessions) == 0


def test_a_settings_limit_names_its_field_without_an_empty_part(client) -> None:
    r = client.post("/api/v1/pools", json=_settings(train_overrides={"iterations": 10**29}))
    assert r.status_code == 422
    assert r.json()["detail"].startswith("settings: train_overrides.iterations must be"), r.text


def test_limits_at_the_edge_are_accepted(client) -> None:
    body = _settings(train_overrides={"iterations": 1_000_000, "batch_size": 512})
    body["classes"] = [f"c{i}" for i in range(MAX_CLASSES)]
    r = client.post("/api/v1/pools", json=body)
    assert r.status_code == 201, r.text
    r = client.patch(
        f"/api/v1/pools/{r.json()['id']}",
        json={"settings": {"train_overrides": {"iterations": None, "epochs": 10_000}}},
    )
    assert r.status_code == 200, r.text


def test_annotation_box_count_is_bounded(client, image_id) -> None:
    box = {"x1": 1, "y1": 1, "x2": 5, "y2": 5, "label": "cat"}
    r = client.put(f"/api/v1/images/{image_id}/annotation", json={"boxes": [box] * (MAX_BOXES + 1)})
    assert r.status_code == 422 and "boxes" in r.json()["detail"]


def test_webhook_does_not_reveal_which_pools_are_connected(anon_client, sessions) -> None:
    from alp.db import LabelStudioConnection

    with sessions() as db:
        pool = Pool(name="ls", classes=["a"], settings={})
        db.add(pool)
        db.flush()
        db.add(LabelStudioConnection(pool_id=pool.id, url="http://ls", token="t", project_id=5,
                                     webhook_id=1, webhook_secret="s3cret"))  # fmt: skip
        db.commit()
        connected = pool.id
    body = {"action": "ANNOTATION_CREATED", "project": {"id": 5}}
    answers = [
        anon_client.post(f"/api/v1/webhooks/label-studio?pool_id={pid}", json=body, headers=h)
        for pid in (connected, connected + 1, 2**62)
        for h in ({}, {"X-Alp-Webhook-Secret": "wrong"}, {"X-Alp-Webhook-Secret": b"s3cret\xe9"})
    ]
    assert {(r.status_code, r.text) for r in answers} == {(401, answers[0].text)}
    r = anon_client.post("/api/v1/webhooks/label-studio", json=body)
    assert r.status_code == 422 and "pool_id" in r.json()["detail"]
