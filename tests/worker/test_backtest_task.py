"""The backtest job in the test process (SQLite): past its time limit it fails with the
reason and stores no results; a cancelled job is never claimed; the tracker's progress and
the recommendation sentence."""

from __future__ import annotations

import pytest

from alp.db import Backtest, Job
from alp.schemas_backtests import BacktestCreate
from alp.services import backtests
from tests.worker.cycle_support import storage_for
from worker import backtest_task
from worker.synthetic_pool import create_synthetic_pool

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
