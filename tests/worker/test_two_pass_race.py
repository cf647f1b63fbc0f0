"""Two shards completing pass 1 at once start pass 2 exactly once (both engines)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from acquisition.records import ScoringContext
from acquisition.registry import get_strategy
from acquisition.synthetic import random_predictions
from alp.db import Cycle, Job, ScoreShard
from alp.services import cycles
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import CLASSES, make_pool
from worker.pipeline import passes


def test_concurrent_pass_one_finishers_create_pass_two_once(settings, worker_ctx) -> None:
    strategy = get_strategy("hua")
    ctx = ScoringContext(num_classes=len(CLASSES))
    with worker_ctx() as db:
        pid, ids = make_pool(db, LocalStorage(settings.storage_dir), n=12, batch_size=2)
        cycle, _ = cycles.start_cycle(db, pid)
        cycle.state = "scoring"
        preds = random_predictions(12, len(CLASSES), seed=3, views=("orig",))
        for p, image_id in zip(preds, ids, strict=True):
            p.image_id = image_id
        records = strategy.score_pass(0, preds, ctx)
        for k in range(3):
            db.add(ScoreShard(cycle_id=cycle.id, pass_no=1, index=k, state="done",
                              image_ids=ids[4 * k : 4 * k + 4],
                              records=[{"record": r.to_dict(), "prediction": {}}
                                       for r in records[4 * k : 4 * k + 4]]))  # fmt: skip
        job = Job(kind="score", pool_id=pid, cycle_id=cycle.id, state="running")
        db.add(job)
        db.commit()
        cycle_id, job_id = cycle.id, job.id
    barrier, results, errors = threading.Barrier(2), [], []

    def finisher() -> None:
        try:
            with worker_ctx() as db:
                barrier.wait(timeout=10)
                results.append(passes.start_second_pass(db, cycle_id, job_id, 4, strategy, ctx))
                db.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=finisher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == [0, 2]  # P = 6 candidates in shards of 4: created once
    with worker_ctx() as db:
        second = db.scalars(
            select(ScoreShard).where(ScoreShard.cycle_id == cycle_id, ScoreShard.pass_no == 2)
        ).all()
        assert sorted(s.index for s in second) == [0, 1]
        got = sorted(i for s in second for i in s.image_ids)
        cycle = db.get(Cycle, cycle_id)
        want = strategy.retrieve_ids(records, 2, ctx, passes.selection_seed(cycle))
        assert got == sorted(want) and len(got) == 6


def test_no_pass_two_once_the_cycle_is_cancelled(settings, worker_ctx) -> None:
    strategy: Any = get_strategy("hua")
    with worker_ctx() as db:
        pid, _ = make_pool(db, LocalStorage(settings.storage_dir), n=2)
        cycle, job = cycles.start_cycle(db, pid)
        cycle.state = "scoring"
        db.flush()
        cycles.cancel_cycle(db, cycle.id)
        db.commit()
        ctx = ScoringContext(num_classes=len(CLASSES))
        assert passes.start_second_pass(db, cycle.id, job.id, 4, strategy, ctx) is None
