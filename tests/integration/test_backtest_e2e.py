"""A backtest end to end on the embedded runtime (SQLite + SQLite broker) with a real API
process and a real worker process: a synthetic pool with 120 imported labels; a long
backtest is cancelled mid-run (cancelled job, no results); then ``alp backtest`` (the
remote CLI, a subprocess) runs two strategies x 2 rounds x 2 seeds with the tiny detector
at 48 px to the end: results, plot data and a decision."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from alp.db import Backtest, make_engine, make_sessionmaker
from alp.services import keys
from alp.storage import LocalStorage
from simulation.synthetic_pool import create_synthetic_pool
from tests.conftest import make_settings
from tests.integration.live_api import live_api
from tests.support.processes import ROOT, celery_worker, wait_for
from tests.worker.cycle_support import WORKER_ENV

LONG = {
    "strategies": ["typiclust:vanilla", "random:vanilla"], "initial": 20, "budget": 10,
    "rounds": 2, "seeds": 2, "test_size": 40,
    "model": {"backbone": "tiny", "image_size": 64, "iterations": 5000, "batch_size": 2},
}  # fmt: skip


def test_backtest_cancel_then_cli_run_to_a_decision(tmp_path: Path, sqlite_url: str) -> None:
    s = make_settings(tmp_path / "data", sqlite_url, worker_stale_after_s=3)
    s.ensure_dirs()
    sessions = make_sessionmaker(make_engine(s.database_url))
    with sessions() as db:
        key = keys.create_key(db, "t").key
        pool = create_synthetic_pool(
            db, LocalStorage(s.storage_dir), "bt", n_labeled=120, n_val=0, n_unlabeled=0,
            size=48, settings={"strategy": "random", "train_preset": "vanilla"},
        )  # fmt: skip
        db.commit()
    pid = pool.pool_id
    auth = {"Authorization": f"Bearer {key}"}
    with celery_worker(s, **WORKER_ENV), live_api(s) as (base, _proc):
        api = httpx.Client(base_url=f"{base}/api/v1", headers=auth, timeout=30)
        r = api.post(f"/pools/{pid}/backtests", json=LONG)
        assert r.status_code == 202, r.text
        first = r.json()
        assert first["estimate_s"] > 0

        def training() -> dict | None:
            b = api.get(f"/backtests/{first['id']}").json()
            job = b["job"]
            return b if job["state"] == "running" and "round" in job["message"] else None

        seen = wait_for(training, timeout=240, interval=0.3, what="the backtest to train")
        assert "seed 0 round 0" in seen["job"]["message"]
        r = api.post(f"/backtests/{first['id']}/cancel")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"

        env = {**os.environ, "ALP_URL": base, "ALP_API_KEY": key, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "alp.cli", "backtest", str(pid),
               "--strategies", "typiclust:vanilla,random:vanilla", "--initial", "20",
               "--budget", "10", "--rounds", "2", "--seeds", "2", "--test-size", "40",
               "--backbone", "tiny", "--image-size", "48", "--iterations", "4",
               "--batch-size", "2", "--interval", "0.5", "--json"]  # fmt: skip
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        out = json.loads(done.stdout)
        cancelled = api.get(f"/backtests/{first['id']}").json()

    assert out["state"] == "succeeded" and out["job"]["state"] == "succeeded"
    assert out["job"]["progress"] == 1.0
    res = out["results"]
    assert [r["label"] for r in res["runs"]] == ["typiclust:vanilla", "random:vanilla"]
    for run in res["runs"]:
        assert run["labeled"] == [20, 30, 40]
        assert len(run["mean"]) == len(run["std"]) == 3 and len(run["per_seed"]) == 2
        assert run["first_round_map50"] == run["mean"][1]
        assert run["cost"]["images"] == 2 * 2 * 10 and run["cost"]["boxes_per_image"] > 0
    (comp,) = res["comparisons"]
    assert (comp["a"], comp["b"], comp["pairs"]) == ("typiclust:vanilla", "random:vanilla", 4)
    lo, hi = comp["interval"]
    assert lo <= comp["mean_difference"] <= hi
    # 4 pairs can never be decisive: the decision is "no difference" with its reason
    assert res["recommendation"]["recommendation"] is None
    assert res["recommendation_text"].startswith("No recommendation: no difference detected")
    assert len(res["rows"]) == 2 * 2 * 3 and res["split"] == {"replay": 80, "test": 40}
    # the cancelled run: job cancelled, no results (half-written or otherwise)
    assert cancelled["state"] == "cancelled" and cancelled["job"]["state"] == "cancelled"
    assert cancelled["results"] is None
    with sessions() as db:
        assert db.get(Backtest, first["id"]).results is None
