"""Two-pass scoring in process with a real tiny detector (both engines): ``hua`` scores the
whole pool with the original view (pass 1), then only the retrieved candidates with both
views and the sigma head (pass 2); the selection equals single-pass scoring's. A failing
pass-2 shard is retried alone; a cycle cancelled between the passes does no pass-2 work;
a pool smaller than P gets every image scored in pass 2; a lost advance is recovered."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from acquisition.records import ImageRecord
from alp.config import Settings
from alp.db import Cycle, Image, Job, ScoreShard, Selection
from alp.services import cycle_flow, cycles
from alp.storage import LocalStorage
from simulation.synthetic_pool import create_synthetic_pool
from tests.worker.cycle_support import TINY_TRAIN, pool_settings
from tests.worker.inprocess import job_id, run_scoring, run_stages
from worker.pipeline import passes, score
from worker.pipeline import select as select_stage


def _trained_cycle(
    settings: Settings, sessions: sessionmaker, n: int, budget: int, **params: Any
) -> int:
    with sessions() as db:
        pool = create_synthetic_pool(
            db, LocalStorage(settings.storage_dir), "twopass", n_labeled=4, n_val=0,
            n_unlabeled=n, size=64,
            settings=pool_settings(strategy="hua", batch_size=budget, strategy_params=params,
                                   train_overrides={**TINY_TRAIN, "iterations": 4}),
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()
    run_stages(sessions, cycle.id, ("training", "evaluating"))
    return cycle.id


def _shards(sessions: sessionmaker, cycle_id: int, pass_no: int) -> list[ScoreShard]:
    with sessions() as db:
        rows = db.scalars(
            select(ScoreShard)
            .where(ScoreShard.cycle_id == cycle_id, ScoreShard.pass_no == pass_no)
            .order_by(ScoreShard.index)
        ).all()
        db.expunge_all()
        return list(rows)


def _run(sessions: sessionmaker, shards: list[ScoreShard]) -> None:
    for shard in shards:
        score.run_shard(shard.id)


def _selection(sessions: sessionmaker, cycle_id: int) -> list[tuple[int, float, dict]]:
    with sessions() as db:
        rows = db.scalars(
            select(Selection).where(Selection.cycle_id == cycle_id).order_by(Selection.rank)
        )
        return [(s.image_id, s.score, dict(s.components)) for s in rows]


class OnePass:
    """The cycle's strategy scored the old way: every view of every image in one pass."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def pass_requirements(self) -> Any:
        return (self.inner.requirements,)

    passes = 1

    def score_pass(self, index: int, preds: Any, ctx: Any) -> Any:
        return self.inner.score_images(preds, ctx)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _rescore_in_one_pass(sessions: sessionmaker, cycle_id: int, mp: pytest.MonkeyPatch) -> None:
    with sessions() as db:
        cycle = db.get(Cycle, cycle_id)
        for sel in db.scalars(select(Selection).where(Selection.cycle_id == cycle_id)):
            db.get(Image, sel.image_id).state = "unlabeled"
            db.delete(sel)
        for shard in db.scalars(select(ScoreShard).where(ScoreShard.cycle_id == cycle_id)):
            db.delete(shard)
        db.flush()
        cycle_flow.enter_stage(db, cycle, "scoring", shard_size=4)
        db.commit()
    real = score.strategy_for
    mp.setattr(score, "strategy_for", lambda c: OnePass(real(c)))
    mp.setattr(select_stage, "strategy_for", lambda c: OnePass(real(c)))
    run_stages(sessions, cycle_id, ("scoring", "selecting"))


def test_two_passes_select_what_one_pass_selects(settings, worker_ctx, monkeypatch) -> None:
    monkeypatch.setattr(settings, "score_shard_size", 4)
    cycle_id = _trained_cycle(settings, worker_ctx, n=14, budget=2)
    first = _shards(worker_ctx, cycle_id, 1)
    assert [len(s.image_ids) for s in first] == [4, 4, 4, 2] and not _shards(
        worker_ctx, cycle_id, 2
    )
    _run(worker_ctx, first)
    second = _shards(worker_ctx, cycle_id, 2)
    candidates = sorted(i for s in second for i in s.image_ids)
    assert len(candidates) == 6 and [len(s.image_ids) for s in second] == [4, 2]  # P = 3 x 2
    with worker_ctx() as db:
        cycle = db.get(Cycle, cycle_id)
        assert cycle.state == "scoring" and "scoring_pass1" in cycle.timings
        recs = [ImageRecord.from_dict(e["record"]) for e in passes.pass_entries(db, cycle_id, 1)]
        assert all(set(r.components) == {"entropy"} for r in recs)  # no flip view in pass 1
        strategy = score.strategy_for(cycle)
        ctx = score.scoring_context(db, cycle, ["circle", "square", "triangle"])
        expected = strategy.retrieve_ids(recs, 2, ctx, passes.selection_seed(cycle))
        assert candidates == sorted(expected)
        assert "pass 2: 0/2" in db.scalar(select(Job.message).where(Job.id == job_id(
            worker_ctx, cycle_id, "score")))  # fmt: skip
    _run(worker_ctx, second)
    run_stages(worker_ctx, cycle_id, ("selecting",))
    with worker_ctx() as db:
        cycle = db.get(Cycle, cycle_id)
        assert cycle.state == "labeling", cycle.error
        assert {"scoring_pass1", "scoring_pass2", "scoring"} <= set(cycle.timings)
        entries = passes.pass_entries(db, cycle_id, 2)
        assert all("semantic_affinity" in e["record"]["components"] for e in entries)
    two = _selection(worker_ctx, cycle_id)
    assert len(two) == 2 and {i for i, _, _ in two} <= set(candidates)
    _rescore_in_one_pass(worker_ctx, cycle_id, monkeypatch)
    assert [len(s.image_ids) for s in _shards(worker_ctx, cycle_id, 1)] == [4, 4, 4, 2]
    assert not _shards(worker_ctx, cycle_id, 2)
    one = _selection(worker_ctx, cycle_id)
    assert [i for i, _, _ in one] == [i for i, _, _ in two]
    for (_, s1, c1), (_, s2, c2) in zip(one, two, strict=True):
        assert s1 == s2 and c1 == c2  # identical (same-size images: same batch padding)


def _flaky_once(mp: pytest.MonkeyPatch, shard_id: int) -> None:
    real, left = score._score, [1]

    def flaky(sid: int, cycle_id: int, skipped: list[tuple[int, str]]) -> Any:
        if sid == shard_id and left[0] > 0:
            left[0] -= 1
            raise RuntimeError("decoder hiccup")
        return real(sid, cycle_id, skipped)

    mp.setattr(score, "_score", flaky)


def test_failed_pass_two_shard_is_retried_alone(settings, worker_ctx, monkeypatch) -> None:
    monkeypatch.setattr(settings, "score_shard_size", 4)
    cycle_id = _trained_cycle(settings, worker_ctx, n=10, budget=2)
    _run(worker_ctx, _shards(worker_ctx, cycle_id, 1))
    score.run_shard(_shards(worker_ctx, cycle_id, 1)[0].id)  # redelivered: no second pass 2
    bad, good = _shards(worker_ctx, cycle_id, 2)
    _flaky_once(monkeypatch, bad.id)
    _run(worker_ctx, [bad, good])
    with worker_ctx() as db:
        assert (db.get(ScoreShard, bad.id).state, db.get(ScoreShard, bad.id).attempts) == (
            "pending", 1)  # fmt: skip
        assert "decoder hiccup" in db.get(ScoreShard, bad.id).error
        assert db.get(ScoreShard, good.id).state == "done"
        assert db.get(Cycle, cycle_id).state == "scoring"
    score.run_shard(bad.id)  # the re-sent message
    with worker_ctx() as db:
        assert db.get(Cycle, cycle_id).state == "selecting"
        rows = db.scalars(select(ScoreShard).where(ScoreShard.cycle_id == cycle_id)).all()
        assert len(rows) == 3 + 2  # pass 1 over 10 images, pass 2 over P = 6
        assert {(r.pass_no, r.attempts) for r in rows if r.id != bad.id} == {(1, 1), (2, 1)}
        assert db.get(ScoreShard, bad.id).attempts == 2


def test_cancel_between_passes_stops_pass_two(settings, worker_ctx, monkeypatch) -> None:
    monkeypatch.setattr(settings, "score_shard_size", 4)
    cycle_id = _trained_cycle(settings, worker_ctx, n=8, budget=1)
    first = _shards(worker_ctx, cycle_id, 1)
    _run(worker_ctx, first)
    (second,) = _shards(worker_ctx, cycle_id, 2)
    with worker_ctx() as db:
        cycles.cancel_cycle(db, cycle_id)
        db.commit()
    score.run_shard(second.id)
    with worker_ctx() as db:
        shard = db.get(ScoreShard, second.id)
        assert (shard.state, shard.attempts) == ("pending", 0)
        assert db.get(Cycle, cycle_id).state == "cancelled"


def test_cancel_before_pass_one_ends_creates_no_pass_two(settings, worker_ctx, monkeypatch) -> None:
    monkeypatch.setattr(settings, "score_shard_size", 4)
    cycle_id = _trained_cycle(settings, worker_ctx, n=8, budget=1)
    a, b = _shards(worker_ctx, cycle_id, 1)
    score.run_shard(a.id)
    with worker_ctx() as db:
        cycles.cancel_cycle(db, cycle_id)
        db.commit()
    score.run_shard(b.id)
    assert not _shards(worker_ctx, cycle_id, 2)


def test_pool_smaller_than_p_scores_everything_twice(settings, worker_ctx, monkeypatch) -> None:
    monkeypatch.setattr(settings, "score_shard_size", 4)
    cycle_id = _trained_cycle(settings, worker_ctx, n=5, budget=2)  # P = 6 > 5
    run_scoring(worker_ctx, cycle_id)
    second = _shards(worker_ctx, cycle_id, 2)
    first = _shards(worker_ctx, cycle_id, 1)
    assert sorted(i for s in second for i in s.image_ids) == sorted(
        i for s in first for i in s.image_ids)  # fmt: skip
    run_stages(worker_ctx, cycle_id, ("selecting",))
    assert len(_selection(worker_ctx, cycle_id)) == 2


def test_failed_retrieval_fails_the_stage_and_a_retry_resumes(
    settings, worker_ctx, monkeypatch
) -> None:
    monkeypatch.setattr(settings, "score_shard_size", 4)
    cycle_id = _trained_cycle(settings, worker_ctx, n=6, budget=1)
    real = passes.start_second_pass

    def broken(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("retrieval broke")

    monkeypatch.setattr(passes, "start_second_pass", broken)
    _run(worker_ctx, _shards(worker_ctx, cycle_id, 1))
    with worker_ctx() as db:
        c = db.get(Cycle, cycle_id)
        assert (c.state, c.failed_stage) == ("failed", "scoring") and "retrieval broke" in c.error
    monkeypatch.setattr(passes, "start_second_pass", real)
    with worker_ctx() as db:
        cycles.retry_cycle(db, cycle_id)
        db.commit()
    run_scoring(worker_ctx, cycle_id)  # the re-sent finished shard starts pass 2
    assert len(_shards(worker_ctx, cycle_id, 2)) == 1
    run_scoring(worker_ctx, cycle_id)
    with worker_ctx() as db:
        assert db.get(Cycle, cycle_id).state == "selecting"
