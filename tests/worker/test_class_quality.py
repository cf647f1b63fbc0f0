"""PPAL's class qualities: the training stage stores the RetinaNet head's
``class_quality`` buffer with the checkpoint and in the cycle's metrics (kept by
evaluation); the scoring context hands them to the strategy in class order."""

from __future__ import annotations

import pytest

from alp.db import Cycle
from alp.services import cycles
from simulation.synthetic_pool import create_synthetic_pool
from tests.worker.cycle_support import TINY_TRAIN, pool_settings, storage_for
from tests.worker.inprocess import run_stages
from worker.pipeline import modelling, score

CLASSES = ["circle", "square", "triangle"]


def test_training_stores_class_quality_for_the_scoring_context(sqlite_worker) -> None:
    from models.checkpoint import read_checkpoint

    s, sessions = sqlite_worker
    storage = storage_for(s)
    with sessions() as db:
        pool = create_synthetic_pool(
            db, storage, "ppal", n_labeled=4, n_val=2, n_unlabeled=2, size=64,
            settings=pool_settings(strategy="ppal", train_preset="aploss",
                                   train_overrides={**TINY_TRAIN, "iterations": 4}),
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()
    run_stages(sessions, cycle.id, ("training", "evaluating"))
    with sessions() as db:
        c = db.get(Cycle, cycle.id)
        assert c.state == "scoring", c.error
        quality = c.metrics["class_quality"]
        assert "map50" in c.metrics, "evaluation adds its metrics, keeps the quality"
        assert list(quality) == CLASSES and all(0.0 <= q <= 1.0 for q in quality.values())
        assert any(q > 0 for q in quality.values()), "positives seen in training update it"
        blob = read_checkpoint(storage.path(c.checkpoint_key))
        assert blob["metrics"]["class_quality"] == quality
        buffer = blob["state_dict"]["head.class_quality"].tolist()
        assert [quality[k] for k in CLASSES] == pytest.approx(buffer, abs=1e-6)
        ctx = score.scoring_context(db, c, CLASSES)
        assert list(ctx.class_quality) == [quality[k] for k in CLASSES]


def test_class_quality_list_needs_every_class() -> None:
    stored = {"class_quality": {"a": 0.5, "b": 0.25}}
    assert modelling.class_quality_list(stored, ["b", "a"]) == [0.25, 0.5]
    assert modelling.class_quality_list(stored, ["a", "b", "c"]) is None  # class added since
    assert modelling.class_quality_list({}, ["a"]) is None
