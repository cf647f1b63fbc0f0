"""Roles and pool limits: every route × every role, from the table docs/access.md prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alp.db import Backtest, Job, Selection
from alp.services import keys
from alp.storage import LocalStorage
from api import access
from tests.api.cycle_fixtures import labeling_cycle, make_pool

ACCESS_DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"
LIMITED = ("editor", "annotator", "viewer")  # admins cannot be pool-limited


def _world(sessions, settings) -> dict:
    """Pools A and B, each with images and a cycle in labeling; a key per role, and
    pool-limited keys (to A) for the non-admin roles."""
    storage = LocalStorage(settings.storage_dir)
    out: dict = {"keys": {}}
    with sessions() as db:
        for name, n in (("A", 2), ("B", 3)):
            pool_id, images = make_pool(db, storage, n=n)
            cycle_id = labeling_cycle(db, pool_id, images[:1])
            job_id = db.scalar(select(Job.id).where(Job.cycle_id == cycle_id))
            sel_id = db.scalar(select(Selection.id).where(Selection.cycle_id == cycle_id))
            backtest = Backtest(pool_id=pool_id, state="succeeded", request={}, estimate_s=1.0)
            db.add(backtest)
            db.flush()
            out[name] = {
                "pool_id": pool_id, "image_id": images[0], "cycle_id": cycle_id,
                "job_id": job_id, "selection_id": sel_id, "fmt": "yolo",
                "backtest_id": backtest.id,
                "prefix": "000000000000",
            }  # fmt: skip
        for role in keys.ROLES:
            out["keys"][role] = keys.create_key(db, f"k-{role}", role=role).key
        for role in LIMITED:
            limited = keys.create_key(db, f"l-{role}", role=role, pools=[out["A"]["pool_id"]])
            out["keys"][f"{role}@A"] = limited.key
        db.commit()
    return out


def _url(rid: str, ids: dict) -> tuple[str, str]:
    method, path = rid.split(" ", 1)
    return method, re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


def test_every_route_is_in_the_table(app) -> None:
    routes = {rid for rid, _ in access.app_routes(app)}
    missing = sorted(routes - set(access.ROUTES))
    assert not missing, f"routes missing from api.access.ROUTES (add them): {missing}"
    assert not sorted(set(access.ROUTES) - routes), "stale rows in api.access.ROUTES"


def test_access_doc_prints_the_table() -> None:
    assert access.markdown_table() in ACCESS_DOC.read_text(encoding="utf-8")


def test_unlisted_routes_default_to_read_and_edit() -> None:
    assert access.group_of("GET /api/v1/some-new-thing") == "read"
    assert access.group_of("POST /api/v1/some-new-thing") == "edit"
    assert not access.allows("viewer", "DELETE /api/v1/some-new-thing")


def test_route_by_role_table(app, sessions, settings) -> None:
    """Each role gets 403 naming the roles needed exactly where the table says so, and
    anything but 401/403 elsewhere; a pool-limited key gets 404 on the other pool's rows,
    403 on routes that name no pool (except the lists, which show only its pools)."""
    world = _world(sessions, settings)
    problems: list[str] = []
    with TestClient(app) as client:
        for rid, group in access.ROUTES.items():
            if group in (access.PUBLIC, access.SIGNED_IN):
                continue
            for who, key in world["keys"].items():
                role, _, limited = who.partition("@")
                headers = {"Authorization": f"Bearer {key}"}
                method, url = _url(rid, world["A"])
                r = client.request(method, url, headers=headers)
                allowed = role in access.GROUPS[group]
                names_pool = any(f"{{{n}}}" in rid for n in access.SCOPE_PARAMS)
                if not allowed:
                    ok = r.status_code == 403 and " or ".join(access.GROUPS[group]) in r.text
                elif limited and not names_pool and rid not in access.LISTS:
                    ok = r.status_code == 403 and "limited to pools" in r.text
                else:
                    ok = r.status_code not in (401, 403)
                if not ok:
                    problems.append(f"{who} {rid} on A: {r.status_code} {r.text[:120]}")
                if limited and allowed and names_pool:
                    method, url = _url(rid, world["B"])
                    r = client.request(method, url, headers=headers)
                    if r.status_code != 404:
                        problems.append(f"{who} {rid} on B: {r.status_code} {r.text[:120]}")
    assert not problems, "\n".join(problems)


def test_limited_key_lists_only_its_pools(client, app, sessions, settings) -> None:
    world = _world(sessions, settings)
    a, b = world["A"]["pool_id"], world["B"]["pool_id"]
    headers = {"Authorization": f"Bearer {world['keys']['viewer@A']}"}
    for url in ("/api/v1/pools", "/api/v1/dashboard/pools"):
        assert [p["id"] for p in client.get(url, headers=headers).json()] == [a]
        assert {p["id"] for p in client.get(url).json()} >= {a, b}  # the admin sees all


@pytest.mark.parametrize("who", ["admin", "editor", "annotator", "viewer", "viewer@A"])
def test_dashboard_shows_only_usable_controls(app, sessions, settings, who) -> None:
    world = _world(sessions, settings)
    a, b = world["A"]["pool_id"], world["B"]["pool_id"]
    with TestClient(app) as c:
        r = c.post("/login", data={"api_key": world["keys"][who]}, follow_redirects=False)
        assert r.status_code == 303
        page = c.get(f"/pools/{a}")
        assert page.status_code == 200
        editor = who in ("admin", "editor")
        assert ('id="start-cycle"' in page.text) is editor
        assert ('id="settings-form"' in page.text) is editor
        assert c.get(f"/pools/{b}").status_code == (404 if "@" in who else 200)
        overview = c.get("/")
        assert (f'href="/pools/{b}"' in overview.text) is ("@" not in who)
