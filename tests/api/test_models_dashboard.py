"""The dashboard shows the pool's detector profile and a banner on cycles that trained
from scratch because the pretrained weights were missing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from alp.db import Cycle, Pool
from alp.storage import LocalStorage
from tests.e2e.dashboard_seed import seed_pool


def test_profile_and_from_scratch_banner(anon_client: TestClient, api_key, db, settings) -> None:
    r = anon_client.post("/login", data={"api_key": api_key}, follow_redirects=False)
    assert r.status_code == 303
    pid = seed_pool(db, LocalStorage(settings.storage_dir), "p", n_images=1).pool_id
    pool = db.get(Pool, pid)
    pool.settings = {**pool.settings, "model": "fast"}
    cycles = db.query(Cycle).filter(Cycle.pool_id == pid).order_by(Cycle.index).all()
    cycles[-1].metrics = {**cycles[-1].metrics, "model": "fast", "pretrained": False}
    db.commit()
    page = anon_client.get(f"/pools/{pid}").text
    assert 'data-model="fast"' in page and "Detector profile: fast" in page
    assert page.count("data-scratch") == 1
    assert "fast trained FROM SCRATCH" in page
