"""Pipeline stages called in process (the tasks' bodies, no broker round trip): cycle 0
without labels selects at random; a cancelled cycle's work is not started; a redelivered
stage message is a no-op."""

from __future__ import annotations

from sqlalchemy import select

from alp import jobs, outbox
from alp.db import Cycle, Image, Job, ScoreShard, Selection
from alp.services import cycles
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool
from worker.pipeline import evaluate, score, train
from worker.pipeline import select as select_stage


def _job(db, cycle_id: int, kind: str) -> Job:
    return db.scalar(select(Job).where(Job.cycle_id == cycle_id, Job.kind == kind))


def test_cycle_zero_without_labels_selects_at_random(settings, worker_ctx) -> None:
    with worker_ctx() as db:
        pid, _ = make_pool(db, LocalStorage(settings.storage_dir), n=6, batch_size=2,
                             strategy="hua")  # fmt: skip
        cycle, job = cycles.start_cycle(db, pid)
        db.commit()
    train.run(job.id)
    train.run(job.id)  # redelivered after success: nothing happens
    with worker_ctx() as db:
        c = db.get(Cycle, cycle.id)
        assert c.state == "evaluating" and c.checkpoint_key is None
        assert _job(db, c.id, "train").attempts == 1
        assert "selects at random" in _job(db, c.id, "train").message
        eval_job = _job(db, c.id, "evaluate").id
    evaluate.run(eval_job)
    with worker_ctx() as db:
        shard_ids = db.scalars(select(ScoreShard.id).where(ScoreShard.cycle_id == cycle.id))
        shard_ids = list(shard_ids)
    assert len(shard_ids) == 1
    score.run_shard(shard_ids[0])
    score.run_shard(shard_ids[0])  # duplicate message: the shard is done
    with worker_ctx() as db:
        select_job = _job(db, cycle.id, "select").id
    select_stage.run(select_job)
    select_stage.run(select_job)
    with worker_ctx() as db:
        c = db.get(Cycle, cycle.id)
        assert c.state == "labeling" and set(c.timings) >= {"training", "scoring", "selecting"}
        assert c.metrics["train_images"] == 0  # kept through evaluation (dashboard: "0", not "—")
        sels = db.scalars(select(Selection).where(Selection.cycle_id == c.id)).all()
        assert [s.rank for s in sels] == [0, 1] and all("random" in s.components for s in sels)
        queued = db.scalars(select(Image.id).where(Image.state == "queued")).all()
        assert sorted(queued) == sorted(s.image_id for s in sels)
        assert db.get(ScoreShard, shard_ids[0]).attempts == 1


def test_cancelled_cycle_work_is_not_started(settings, worker_ctx) -> None:
    with worker_ctx() as db:
        pid, _ = make_pool(db, LocalStorage(settings.storage_dir), n=3)
        cycle, job = cycles.start_cycle(db, pid)
        cycles.cancel_cycle(db, cycle.id)
        assert outbox.pending(db)[0][:2] == (jobs.CYCLE_TRAIN, (job.id,))
        db.commit()
    train.run(job.id)
    with worker_ctx() as db:
        assert db.get(Job, job.id).state == "cancelled" and db.get(Job, job.id).attempts == 0
        assert db.get(Cycle, cycle.id).state == "cancelled"


def test_warm_start_config_uses_the_latest_previous_checkpoint(settings, worker_ctx) -> None:
    from worker.pipeline import modelling

    with worker_ctx() as db:
        pid, _ = make_pool(db, LocalStorage(settings.storage_dir), n=2)
        rows = [
            Cycle(pool_id=pid, index=i, state=st, config={}, metrics={}, timings={}, issues=[],
                  checkpoint_key=key)
            for i, st, key in [(0, "done", "a.pt"), (1, "done", "b.pt"), (2, "done", None),
                               (3, "training", None)]
        ]  # fmt: skip
        db.add_all(rows)
        db.flush()
        assert train._previous_checkpoint(db, rows[3]) == "b.pt"
        assert train._previous_checkpoint(db, rows[0]) is None
    cfg = {"train_preset": "vanilla", "seed": 3, "train_overrides": {"iterations": 2}}
    warm = modelling.train_config(cfg, "cpu", "/ckpt/b.pt")
    assert warm.detector.weights == "/ckpt/b.pt" and warm.seed == 3 and warm.iterations == 2
    assert modelling.train_config(cfg, "cpu", None).detector.weights == "none"
