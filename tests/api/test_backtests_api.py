"""Backtest routes without a worker, on SQLite and PostgreSQL: the estimate and the queued
job, 422s for too few labels (saying how many are needed) and unknown strategies or
parameters, 409 for a second (or eight simultaneous) starts, cancel, apply (PATCH
semantics, ``strategy_backtest_id``)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alp.db import Backtest, Job
from alp.storage import LocalStorage
from simulation.synthetic_pool import create_synthetic_pool
from tests.api.test_races import at_once

BODY: dict[str, Any] = {
    "strategies": ["typiclust:vanilla", "random:vanilla"], "initial": 10, "budget": 5,
    "rounds": 2, "seeds": 2, "test_size": 10,
    "model": {"backbone": "tiny", "image_size": 48, "iterations": 4, "batch_size": 2},
}  # fmt: skip


def labeled_pool(
    sessions: Any, settings: Any, n: int = 30, unlabeled: int = 0, **pool_settings: Any
) -> int:
    with sessions() as db:
        pool = create_synthetic_pool(
            db, LocalStorage(settings.storage_dir), f"bt{n}", n_labeled=n, n_val=0,
            n_unlabeled=unlabeled, size=32, settings={"train_preset": "vanilla", **pool_settings},
        )  # fmt: skip
        db.commit()
    return pool.pool_id


def count(sessions: Any) -> int:
    with sessions() as db:
        return int(db.scalar(select(func.count()).select_from(Backtest)) or 0)


def test_start_estimates_and_queues_a_gpu_job(client: TestClient, sessions, settings) -> None:
    pid = labeled_pool(sessions, settings, strategy="entropy")
    r = client.post(f"/api/v1/pools/{pid}/backtests", json=BODY)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["state"] == "queued" and out["job"]["state"] == "queued"
    assert out["job"]["kind"] == "backtest" and out["job"]["pool_id"] == pid
    # random is listed; the pool's current strategy (entropy) is added as a reference
    assert [x["label"] for x in out["runs"]] == [
        "typiclust:vanilla", "random:vanilla", "entropy:vanilla"]  # fmt: skip
    assert out["request"]["references"] == ["random:vanilla", "entropy:vanilla"]
    assert out["required_labeled"] == 10 + 2 * 5 + 10
    # 2 seeds x (1 shared cycle-0 model + 3 runs x 2 rounds) x 4 steps x default speed
    step = 0.15 * 2 * 48 * 48 / (8 * 128 * 128)
    assert abs(out["estimate_s"] - round(2 * (1 + 3 * 2) * 4 * step, 1)) < 0.06
    got = client.get(f"/api/v1/backtests/{out['id']}").json()
    assert got["id"] == out["id"] and got["results"] is None
    listed = client.get(f"/api/v1/pools/{pid}/backtests").json()
    assert [b["id"] for b in listed] == [out["id"]]


def test_too_few_labels_and_unknown_strategies_are_422(
    client: TestClient, sessions, settings
) -> None:
    pid = labeled_pool(sessions, settings, n=24)
    r = client.post(f"/api/v1/pools/{pid}/backtests", json=BODY)
    assert r.status_code == 422
    assert "needs at least 30 labeled images; the pool has 24" in r.text
    bad = [
        ({"strategies": ["nosuch"]}, "unknown strategy 'nosuch'"),
        ({"strategies": ["random:fancy"]}, "unknown train preset 'fancy'"),
        ({"strategy_params": {"typiclust": {"bogus": 1}}}, "has no parameter 'bogus'"),
        ({"strategy_params": {"entropy": {}}}, "not in strategies"),
        ({"model": {"backbone": "vgg"}}, "unknown backbone"),
        ({"seeds": 0}, "seeds"),
    ]
    for change, reason in bad:
        r = client.post(f"/api/v1/pools/{pid}/backtests", json={**BODY, **change})
        assert r.status_code == 422 and reason in r.text, (change, r.text)
    assert count(sessions) == 0
    assert client.post("/api/v1/pools/999999/backtests", json=BODY).status_code == 404
    assert client.get("/api/v1/backtests/999999").status_code == 404


def test_one_active_backtest_per_pool(client: TestClient, sessions, settings) -> None:
    pid = labeled_pool(sessions, settings)
    codes = [r.status_code for r in at_once(
        [lambda: client.post(f"/api/v1/pools/{pid}/backtests", json=BODY)] * 8)]  # fmt: skip
    assert sorted(codes) == [202] + [409] * 7
    assert count(sessions) == 1
    r = client.post(f"/api/v1/pools/{pid}/backtests", json=BODY)
    assert r.status_code == 409 and "already has a backtest running" in r.text
    (first,) = client.get(f"/api/v1/pools/{pid}/backtests").json()
    r = client.post(f"/api/v1/backtests/{first['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert r.json()["job"]["state"] == "cancelled"
    assert client.post(f"/api/v1/backtests/{first['id']}/cancel").status_code == 409
    assert client.post(f"/api/v1/pools/{pid}/backtests", json=BODY).status_code == 202


def test_apply_patches_the_strategy_and_records_the_backtest(
    client: TestClient, sessions, settings
) -> None:
    pid = labeled_pool(sessions, settings, strategy="entropy")
    bid = client.post(f"/api/v1/pools/{pid}/backtests", json=BODY).json()["id"]
    assert client.post(f"/api/v1/backtests/{bid}/apply").status_code == 409  # not finished
    with sessions() as db:
        row = db.get(Backtest, bid)
        assert row is not None
        row.state = "succeeded"
        row.results = {"recommendation": {"recommendation": "typiclust:vanilla"}}
        db.get(Job, row.job_id).state = "succeeded"
        db.commit()
    r = client.post(f"/api/v1/backtests/{bid}/apply")
    assert r.status_code == 200, r.text
    s = r.json()["settings"]
    assert (s["strategy"], s["train_preset"], s["strategy_backtest_id"]) == (
        "typiclust", "vanilla", bid)  # fmt: skip
    assert s["batch_size"] == 20  # PATCH semantics: other settings kept
    r = client.post(f"/api/v1/backtests/{bid}/apply", json={"run": "nosuch:vanilla"})
    assert r.status_code == 422
    # the strategy changed by hand: no backtest justifies it any more
    r = client.patch(f"/api/v1/pools/{pid}", json={"settings": {"strategy": "hua"}})
    assert r.json()["settings"]["strategy_backtest_id"] is None
    r = client.patch(f"/api/v1/pools/{pid}", json={"settings": {"batch_size": 7}})
    assert r.json()["settings"]["strategy_backtest_id"] is None


def test_a_backtest_whose_worker_died_does_not_block_the_pool(
    client: TestClient, sessions, settings
) -> None:
    from datetime import timedelta

    from alp.db import utcnow

    pid = labeled_pool(sessions, settings)
    first = client.post(f"/api/v1/pools/{pid}/backtests", json=BODY).json()["id"]
    with sessions() as db:  # claimed by a worker that then stopped heart-beating
        row = db.get(Backtest, first)
        row.state = "running"
        job = db.get(Job, row.job_id)
        job.state, job.heartbeat_at = "running", utcnow() - timedelta(hours=1)
        db.commit()
    r = client.post(f"/api/v1/pools/{pid}/backtests", json=BODY)
    assert r.status_code == 202, r.text
    old = client.get(f"/api/v1/backtests/{first}").json()
    assert (old["state"], old["error"], old["job"]["state"]) == ("failed", "worker lost", "failed")
