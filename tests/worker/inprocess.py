"""Driving a cycle's stages in the test process (the tasks' bodies, no broker round trip),
and a strategy spy that records the scoring contexts the pipeline passes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from alp.config import Settings
from alp.db import Job, ScoreShard
from tests.worker.cycle_support import sessions_for
from worker import context
from worker.pipeline import evaluate, score, train
from worker.pipeline import select as select_stage


def job_id(sessions: sessionmaker, cycle_id: int, kind: str) -> int:
    with sessions() as db:
        job = db.scalar(select(Job).where(Job.cycle_id == cycle_id, Job.kind == kind))
        assert job is not None, f"no {kind} job for cycle {cycle_id}"
        return job.id


def shard_ids(sessions: sessionmaker, cycle_id: int) -> list[int]:
    with sessions() as db:
        return list(
            db.scalars(
                select(ScoreShard.id)
                .where(ScoreShard.cycle_id == cycle_id)
                .order_by(ScoreShard.pass_no, ScoreShard.index)
            )
        )


def run_scoring(sessions: sessionmaker, cycle_id: int) -> int:
    """Run every shard of the cycle, pass-2 shards included once pass 1 created them;
    returns how many shard runs it made."""
    ran: set[int] = set()
    while todo := [s for s in shard_ids(sessions, cycle_id) if s not in ran]:
        for sid in todo:
            score.run_shard(sid)
            ran.add(sid)
    return len(ran)


def run_stages(sessions: sessionmaker, cycle_id: int, stages: tuple[str, ...] = (
        "training", "evaluating", "scoring", "selecting")) -> None:  # fmt: skip
    """Run the given stages of the cycle in order, in this process."""
    for stage in stages:
        if stage == "training":
            train.run(job_id(sessions, cycle_id, "train"))
        elif stage == "evaluating":
            evaluate.run(job_id(sessions, cycle_id, "evaluate"))
        elif stage == "scoring":
            run_scoring(sessions, cycle_id)
        else:
            select_stage.run(job_id(sessions, cycle_id, "select"))


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> sessionmaker:
    """Point ``worker.context`` at ``settings``; returns its sessions."""
    sessions = sessions_for(settings)
    monkeypatch.setattr(context, "settings", lambda: settings)
    monkeypatch.setattr(context, "sessions", lambda: sessions)
    return sessions


class StrategySpy:
    """Wraps a strategy; records ``(phase, context)`` of every call."""

    def __init__(self, inner: Any, calls: list[tuple[str, Any]]) -> None:
        self.inner, self.calls = inner, calls

    @property
    def requirements(self) -> Any:
        return self.inner.requirements

    @property
    def pass_requirements(self) -> Any:
        return self.inner.pass_requirements

    @property
    def passes(self) -> int:
        return int(self.inner.passes)

    def score_pass(self, index: int, preds: Any, ctx: Any) -> Any:
        self.calls.extend(("score", ctx) for _ in preds)
        return self.inner.score_pass(index, preds, ctx)

    def retrieve_ids(self, records: Any, budget: int, ctx: Any, rng: Any = None) -> Any:
        self.calls.append(("retrieve", ctx))
        return self.inner.retrieve_ids(records, budget, ctx, rng)

    def merge_passes(self, first: Any, second: Any) -> Any:
        return self.inner.merge_passes(first, second)

    def score_image(self, pred: Any, ctx: Any) -> Any:
        self.calls.append(("score", ctx))
        return self.inner.score_image(pred, ctx)

    def select(self, records: Any, budget: int, ctx: Any, rng: Any = None) -> Any:
        self.calls.append(("select", ctx))
        return self.inner.select(records, budget, ctx, rng)

    def tie_note(self, records: Any, budget: int) -> Any:
        return self.inner.tie_note(records, budget)

    def __getattr__(self, name: str) -> Any:  # everything else: the real strategy's
        return getattr(self.inner, name)


def spy_on_strategies(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every strategy the scoring/selection stages build is wrapped in a spy; returns the
    shared list of recorded calls."""
    calls: list[tuple[str, Any]] = []
    real = score.strategy_for

    def spied(cycle: Any) -> StrategySpy:
        return StrategySpy(real(cycle), calls)

    monkeypatch.setattr(score, "strategy_for", spied)
    monkeypatch.setattr(select_stage, "strategy_for", spied)
    return calls
