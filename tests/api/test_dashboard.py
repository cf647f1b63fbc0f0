"""Dashboard: session sign-in, pages and the JSON they poll (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from alp.db import ApiKey, Job, utcnow
from api.dashboard import session
from tests.e2e.dashboard_seed import seed_pool


def test_everything_needs_a_session(anon_client) -> None:
    r = anon_client.get("/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2F"
    assert anon_client.get("/pools/1", follow_redirects=False).status_code == 303
    assert anon_client.get("/api/v1/dashboard/pools").status_code == 401
    assert anon_client.get("/api/v1/dashboard/pools/1/status").status_code == 401
    assert anon_client.get("/api/v1/dashboard/selections/1/thumbnail").status_code == 401
    page = anon_client.get("/login")
    assert page.status_code == 200
    assert '<label for="api_key">API key</label>' in page.text


def test_sign_in_sets_a_signed_httponly_cookie_not_the_key(anon_client, api_key) -> None:
    r = anon_client.post(
        "/login", data={"api_key": api_key, "next": "/pools/5"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/pools/5"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE}=v1.")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert f"Max-Age={session.TTL_S}" in cookie
    assert api_key.split("_", 2)[2] not in cookie
    assert anon_client.get("/").status_code == 200
    assert anon_client.get("/api/v1/dashboard/pools").json() == []


@pytest.mark.parametrize(
    ("key", "reason"), [("nonsense", "malformed API key"), ("", "malformed API key")]
)
def test_bad_key_is_refused_with_reason(anon_client, key, reason) -> None:
    r = anon_client.post("/login", data={"api_key": key}, follow_redirects=False)
    assert r.status_code == 401
    assert reason in r.text
    assert "set-cookie" not in r.headers


def test_open_redirect_is_blocked(anon_client, api_key) -> None:
    for target in ("//evil.example/x", "https://evil.example", "/\\evil"):
        r = anon_client.post(
            "/login", data={"api_key": api_key, "next": target}, follow_redirects=False
        )
        assert r.headers["location"] == "/"


def test_session_tokens_are_signed_and_expire() -> None:
    tok = session.issue("s3cret", 42, ttl_s=60, now=1000)
    assert session.verify("s3cret", tok, now=1059) == 42
    assert session.verify("s3cret", tok, now=1060) is None  # expired
    assert session.verify("other", tok, now=1000) is None  # other installation
    forged = tok.replace("v1.42.", "v1.43.")
    assert session.verify("s3cret", forged, now=1000) is None
    assert session.verify("s3cret", "garbage", now=1000) is None


def test_revoking_the_key_ends_the_session(signed_in, db) -> None:
    assert signed_in.get("/").status_code == 200
    for row in db.query(ApiKey):
        row.revoked_at = utcnow()
    db.commit()
    assert signed_in.get("/", follow_redirects=False).status_code == 303
    assert signed_in.get("/api/v1/dashboard/pools").status_code == 401


def test_sign_out_clears_the_cookie(signed_in) -> None:
    r = signed_in.post("/logout", follow_redirects=False)
    assert r.status_code == 303
    assert f'{session.COOKIE}=""' in r.headers["set-cookie"]
    assert signed_in.get("/", follow_redirects=False).status_code == 303


def test_cookie_writes_need_the_csrf_header(signed_in, db, storage) -> None:
    pid = seed_pool(db, storage, "p", n_images=1, finished=[]).pool_id
    db.commit()
    body = {"settings": {"batch_size": 7}}
    r = signed_in.patch(f"/api/v1/pools/{pid}", json=body)
    assert r.status_code == 403
    assert "x-alp-csrf" in r.json()["detail"]
    r = signed_in.patch(f"/api/v1/pools/{pid}", json=body, headers={"X-ALP-CSRF": "1"})
    assert r.status_code == 200
    assert r.json()["settings"]["batch_size"] == 7


def test_bearer_still_works_for_dashboard_json(client) -> None:
    assert client.get("/api/v1/dashboard/pools").status_code == 200


def test_overview_json(signed_in, db, storage) -> None:
    a = seed_pool(db, storage, "alpha", labelstudio=True)
    b = seed_pool(
        db,
        storage,
        "beta",
        n_images=2,
        finished=[],
        selection_size=0,
        extra_cycle={"state": "training"},
    )
    db.commit()
    rows = {p["name"]: p for p in signed_in.get("/api/v1/dashboard/pools").json()}
    assert rows["alpha"]["id"] == a.pool_id
    assert rows["alpha"]["counts"]["unlabeled"] == 8
    assert rows["alpha"]["current_cycle"]["index"] == 2
    assert rows["alpha"]["last_map50"] == pytest.approx(0.45)
    assert rows["alpha"]["last_coco_ap"] == pytest.approx(0.19)
    assert rows["alpha"]["labelstudio"] == "connected"
    assert rows["beta"]["current_cycle"]["state"] == "training"
    assert rows["beta"]["last_map50"] is None
    assert rows["beta"]["labelstudio"] is None
    html = signed_in.get("/").text
    assert f'href="/pools/{b.pool_id}"' in html
    assert "0.450" in html


def test_status_json_and_version(signed_in, db, storage) -> None:
    s = seed_pool(
        db,
        storage,
        "p",
        extra_cycle={
            "state": "training",
            "job": {
                "kind": "train",
                "state": "running",
                "progress": 0.25,
                "message": "iteration 5/20",
            },
        },
    )
    db.commit()
    url = f"/api/v1/dashboard/pools/{s.pool_id}/status"
    st = signed_in.get(url).json()
    assert [c["state"] for c in st["cycles"]] == ["done", "done", "done", "training"]
    assert st["current"]["id"] == s.cycle_ids[-1]
    assert st["counts"]["total"] == 8
    assert [(p["train_images"], p["map50"]) for p in st["curve"]] == [
        (30, 0.21),
        (39, 0.34),
        (47, 0.45),
    ]
    assert st["cycles"][0]["timings"]["training"] == 42.5
    [job] = st["jobs"]
    assert (job["kind"], job["progress"], job["message"]) == ("train", 0.25, "iteration 5/20")
    assert job["stale"] is False
    job_row = db.get(Job, s.job_ids["train"])
    job_row.progress = 0.75
    db.commit()
    st2 = signed_in.get(url).json()
    assert st2["jobs"][0]["progress"] == 0.75
    assert st2["version"] == st["version"]  # progress alone does not restructure the page
    job_row.state = "succeeded"
    db.commit()
    assert signed_in.get(url).json()["version"] != st["version"]


def test_status_flags_a_stale_running_job(signed_in, db, storage, settings) -> None:
    s = seed_pool(
        db,
        storage,
        "p",
        finished=[],
        extra_cycle={"state": "training", "job": {"kind": "train", "state": "running"}},
    )
    from datetime import timedelta

    db.get(Job, s.job_ids["train"]).heartbeat_at = utcnow() - timedelta(
        seconds=settings.worker_stale_after_s + 5
    )
    db.commit()
    st = signed_in.get(f"/api/v1/dashboard/pools/{s.pool_id}/status").json()
    assert st["jobs"][0]["stale"] is True
    assert "no heartbeat" in signed_in.get(f"/pools/{s.pool_id}").text


def test_status_of_unknown_pool_is_404(signed_in) -> None:
    r = signed_in.get("/api/v1/dashboard/pools/999/status")
    assert r.status_code == 404
    assert r.json() == {"detail": "pool 999 not found"}
    page = signed_in.get("/pools/999")
    assert page.status_code == 404
    assert "pool 999 not found" in page.text


def test_gallery_pages_and_label_studio_links(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "p", selection_size=5, labelstudio=True)
    db.commit()
    url = f"/api/v1/dashboard/pools/{s.pool_id}/gallery"
    g = signed_in.get(url, params={"per_page": 2, "page": 3}).json()
    assert (g["total"], g["pages"], g["cycle_index"]) == (5, 3, 2)
    [item] = g["items"]
    assert item["rank"] == 4
    assert item["n_boxes"] == 1
    assert item["ls_task_url"] == "http://ls.example:8080/projects/7/data?task=104"
    assert item["components"]["diversity"] == 0.25
    bad = signed_in.get(url, params={"page": 0})
    assert bad.status_code == 422
    assert "page" in bad.json()["detail"]


def test_pool_page_renders_timeline_curve_gallery_and_forms(signed_in, db, storage) -> None:
    s = seed_pool(
        db,
        storage,
        "p",
        extra_cycle={"state": "failed", "failed_stage": "scoring", "error": "CUDA out of memory"},
    )
    db.commit()
    html = signed_in.get(f"/pools/{s.pool_id}").text
    assert html.count("<tr data-cycle=") == 4
    assert "CUDA out of memory" in html
    assert f'data-post="/api/v1/cycles/{s.cycle_ids[-1]}/retry"' in html
    assert "<svg" in html and 'data-series="map50"' in html and "<polyline" in html
    assert html.count('class="shot"') == 3
    assert f"/api/v1/dashboard/selections/{s.selection_ids[0]}/thumbnail" in html
    assert '<label for="batch_size">' in html and 'id="strategy"' in html
    assert "training 42.5 s" in html
    assert "http" not in html.split("<body>")[0]  # assets are same-origin: no CDN, offline
    r = signed_in.get(f"/pools/{s.pool_id}")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_shard_bars_per_scoring_pass(signed_in, db, storage) -> None:
    """A two-pass cycle shows one bar per pass; pass 2 appearing changes the version."""
    from alp.db import ScoreShard

    s = seed_pool(
        db, storage, "p",
        extra_cycle={"state": "scoring", "job": {"kind": "score", "state": "running"}},
    )  # fmt: skip
    cid = s.cycle_ids[-1]
    db.add_all(
        ScoreShard(cycle_id=cid, pass_no=1, index=i, image_ids=[i], state=st)
        for i, st in enumerate(["done", "done", "failed"])
    )
    db.commit()
    url = f"/api/v1/dashboard/pools/{s.pool_id}/status"
    st = signed_in.get(url).json()
    assert st["shards"]["passes"] == [{"pass_no": 1, "total": 3, "done": 2, "failed": 1}]
    page = signed_in.get(f"/pools/{s.pool_id}").text
    assert 'data-shards="1"' in page and "pass 1 (retrieval)" not in page
    db.add_all(
        ScoreShard(cycle_id=cid, pass_no=2, index=i, image_ids=[i], state=st)
        for i, st in enumerate(["done", "pending"])
    )
    db.commit()
    st2 = signed_in.get(url).json()
    assert st2["shards"]["passes"][1] == {"pass_no": 2, "total": 2, "done": 1, "failed": 0}
    assert (st2["shards"]["total"], st2["shards"]["done"]) == (5, 3)
    assert st2["version"] != st["version"]
    page = signed_in.get(f"/pools/{s.pool_id}").text
    assert "pass 1 (retrieval)" in page and "pass 2 (ranking)" in page
    assert 'data-shards-text="2">1 / 2 done<' in page
