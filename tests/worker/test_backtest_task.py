"""The backtest job in the test process (SQLite): past its time limit it fails with the
reason and stores no results; a cancelled job is never claimed; the tracker's progress and
the recommendation sentence; the pool's labelled images as replay data (``pool_data``) on real
detectors."""

from __future__ import annotations

import pytest

from alp.db import Backtest, Job
from alp.schemas_backtests import BacktestCreate
from alp.services import backtests
from simulation.synthetic_pool import create_synthetic_pool
from tests.worker.cycle_support import storage_for
from worker import backtest_task

BODY = BacktestCreate(
    strategies=["random:vanilla"], include_references=False, initial=8, budget=4, rounds=1,
    seeds=1, test_size=6, model={"backbone": "tiny", "image_size": 32, "iterations": 2,
                                 "batch_size": 2},
)  # fmt: skip


def start(sqlite_worker) -> tuple[int, int]:
    s, sessions = sqlite_worker
    with sessions() as db:
        pool = create_synthetic_pool(db, storage_for(s), "bt", n_labeled=20, n_val=0,
                                     n_unlabeled=0, size=32)  # fmt: skip
        row = backtests.start(db, pool.pool_id, BODY)
        db.commit()
        return row.id, int(row.job_id)


def test_time_limit_fails_the_job_without_results(sqlite_worker) -> None:
    _, sessions = sqlite_worker
    bid, job_id = start(sqlite_worker)
    with sessions() as db:
        row = db.get(Backtest, bid)
        row.request = {**row.request, "time_limit_s": 0.0}
        db.commit()
    backtest_task.run(job_id)
    with sessions() as db:
        row, job = db.get(Backtest, bid), db.get(Job, job_id)
        assert (row.state, job.state) == ("failed", "failed")
        assert row.error == job.error == "time limit of 0 s reached"
        assert row.results is None


def test_a_run_to_the_end_and_a_cancelled_job_is_not_claimed(sqlite_worker) -> None:
    _, sessions = sqlite_worker
    bid, job_id = start(sqlite_worker)
    backtest_task.run(job_id)
    with sessions() as db:
        row = db.get(Backtest, bid)
        assert row.state == "succeeded" and db.get(Job, job_id).progress == 1.0
        assert [r["label"] for r in row.results["runs"]] == ["random:vanilla"]
        assert row.results["runs"][0]["labeled"] == [8, 12]
        again = backtests.start(db, row.pool_id, BODY)
        backtests.cancel(db, again.id)
        db.commit()
        again_id, again_job = again.id, int(again.job_id)
    backtest_task.run(again_job)  # cancelled before a worker took it: nothing happens
    with sessions() as db:
        assert db.get(Backtest, again_id).results is None
        assert db.get(Job, again_job).state == "cancelled"


def test_tracker_progress_and_stop() -> None:
    t = backtest_task.Tracker(1, 1, total_rows=4, limit_s=1e9)
    t.event("cycle", run="random:vanilla", seed=0, cycle=0, labeled=8)
    t.event("train", it=5, total=10)
    assert t.where == "random:vanilla seed 0 round 0" and t.within == pytest.approx(0.45)
    t.event("row", row={})
    assert (t.rows, t.within) == (1, 0.0)
    t.stop_reason = "cancelled"
    with pytest.raises(backtest_task.Stopped, match="cancelled"):
        t.event("phase", name="evaluate")


def test_recommendation_sentence() -> None:
    yes = {"recommendation": "typiclust:vanilla", "reason": "typiclust:vanilla beats random"}
    assert backtest_task.recommendation_text(yes).startswith("Use typiclust:vanilla: ")
    no = {"recommendation": None, "reason": "no difference detected at this size",
          "best": "hua:huale", "extra_labels_needed": 60}  # fmt: skip
    text = backtest_task.recommendation_text(no)
    assert "no difference detected" in text and "about 60 more labeled images" in text


def test_backtest_on_a_pools_own_labels_with_real_detectors(sqlite_worker) -> None:
    """End to end on the engine (no API yet): a synthetic pool's labelled images, two
    strategies, 2 rounds, 2 seeds, the tiny detector at 48 px for 2 steps."""
    from alp.db import Image
    from alp.storage import BlobCache
    from simulation.backend import TorchBackend
    from simulation.backtest import run_backtest
    from simulation.spec import LoopOptions, RunSpec
    from tests.worker.cycle_support import pool_settings, storage_for

    s, sessions = sqlite_worker
    storage = storage_for(s)
    cache = BlobCache(storage, s.data_dir / "cache", 1 << 30)
    with sessions() as db:
        pool = create_synthetic_pool(db, storage, "bt", n_labeled=24, n_val=4, n_unlabeled=2,
                                     size=48, settings=pool_settings())  # fmt: skip
        val_keys = {db.get(Image, i).storage_key for i in pool.val_ids}
        with pytest.raises(ValueError, match="needs at least 30 labeled images; the pool has 24"):
            backtest_task.pool_data(db, cache, pool.pool_id, 10, 0, initial=10, budget=5, rounds=2)
        data = backtest_task.pool_data(db, cache, pool.pool_id, 6, 0, initial=8, budget=5, rounds=2)
    assert (len(data.pool), len(data.test), data.val) == (18, 6, [])
    assert not {str(e["path"]) for e in data.pool + data.test} & val_keys  # str: storage key
    opts = LoopOptions(initial=8, budget=5, cycles=3, seeds=(0, 1), iterations=2,
                       batch_size=2, image_size=48)  # fmt: skip
    specs = [RunSpec("typiclust", "vanilla"), RunSpec("random", "vanilla")]
    out = run_backtest(data, specs, opts, lambda d: TorchBackend(d, opts),
                       references=["random:vanilla"])  # fmt: skip
    assert len(out["rows"]) == 2 * 2 * 3
    assert out["summary"]["typiclust:vanilla"]["labeled"] == [8, 13, 18]
    assert out["cost"]["typiclust:vanilla"]["images"] == 2 * 2 * 5
    assert out["recommendation"]["reason"]  # a decision either way (4 pairs: never decisive)
    assert out["recommendation"]["recommendation"] is None
