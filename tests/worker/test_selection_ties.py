"""The selection stage breaks ties with the cycle's seeded random order (never by image id)
and records a cycle issue when the scores carry no information."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from acquisition.base import TopScoreStrategy
from acquisition.records import ImageRecord, ScoringContext
from acquisition.types import ImagePrediction, Requirements
from alp.db import Cycle, Selection
from alp.services import cycles
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool
from tests.worker.inprocess import run_stages
from worker.pipeline import score
from worker.pipeline import select as select_stage


class _ConstantEntropy(TopScoreStrategy):
    """Scores like an early model: ``flat`` gives every image the same entropy, otherwise
    the entropy grows with the image id. Needs no model, so cycle 0 can run it."""

    name = "constant_entropy"
    score_label = "entropy"

    def __init__(self, flat: bool) -> None:
        super().__init__()
        self.flat = flat

    @property
    def requirements(self) -> Requirements:
        return Requirements(views=frozenset(), probs=False, needs_model=False)

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        value = 1.0 if self.flat else 1.0 / (1 + int(pred.image_id))
        return ImageRecord(pred.image_id, value, {"entropy": value})


def _run_cycle(
    settings, worker_ctx, monkeypatch, flat: bool, seed: int
) -> tuple[Any, list[int], list[int]]:
    """Run cycle 0 of a 14-image pool (batch 4) through every stage in process; returns
    (cycle, image ids, chosen ids by rank)."""
    monkeypatch.setattr(settings, "score_shard_size", 5)  # three shards to merge
    strategy = _ConstantEntropy(flat)
    monkeypatch.setattr(score, "strategy_for", lambda cycle: strategy)
    monkeypatch.setattr(select_stage, "strategy_for", lambda cycle: strategy)
    with worker_ctx() as db:
        pid, ids = make_pool(db, LocalStorage(settings.storage_dir), n=14, batch_size=4,
                             seed=seed)  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pid)
        db.commit()
    run_stages(worker_ctx, cycle.id)
    with worker_ctx() as db:
        c = db.get(Cycle, cycle.id)
        assert c.state == "labeling", c.error
        chosen = list(
            db.scalars(
                select(Selection.image_id)
                .where(Selection.cycle_id == c.id)
                .order_by(Selection.rank)
            )
        )
        db.expunge(c)
    ctx = ScoringContext(num_classes=2)
    records = [strategy.score_image(_pred(i), ctx) for i in ids]
    expected = strategy.select(records, 4, ctx, seed * 100_003 + c.index)
    assert chosen == [s.image_id for s in expected]  # the seed alone decides, not the shards
    return c, ids, chosen


def _pred(image_id: int) -> ImagePrediction:
    return ImagePrediction(image_id=image_id, width=40, height=30, views={})


@pytest.mark.parametrize("seed", [0, 5])
def test_all_equal_scores_are_reported_and_not_ranked_by_id(
    settings, worker_ctx, monkeypatch, seed: int
) -> None:
    c, ids, chosen = _run_cycle(settings, worker_ctx, monkeypatch, flat=True, seed=seed)
    notes = [i["message"] for i in c.issues if "effectively random" in i["message"]]
    assert notes == [
        "selection is effectively random: all 14 scores (entropy) are equal within 1e-06; "
        "the cycle's seeded random order chose the 4 images"
    ]
    assert len(chosen) == 4 and set(chosen) <= set(ids)
    assert chosen != ids[:4]  # not upload order


def test_informative_scores_give_no_issue(settings, worker_ctx, monkeypatch) -> None:
    c, ids, chosen = _run_cycle(settings, worker_ctx, monkeypatch, flat=False, seed=0)
    assert not [i for i in c.issues if "effectively random" in i["message"]]
    assert chosen == ids[:4]  # here the lowest ids really are the most uncertain
