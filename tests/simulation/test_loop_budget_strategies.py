"""``typiclust`` and ``auto`` in the ``alp simulate`` loop (fake backend): the labelled
images' embeddings reach the strategy, and each row says which strategy selected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from acquisition.types import ImagePrediction, Requirements
from simulation.loop import Simulation
from simulation.spec import LoopOptions, RunSpec
from tests.simulation.test_loop import FakeBackend, _oracle


class EmbeddingBackend(FakeBackend):
    """Adds a 2-d embedding: images 0..19 sit at (0, 0) +- noise, 20..39 at (10, 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding_calls: list[list[int]] = []

    def predict(
        self, model: Any, ids: Sequence[int], requirements: Requirements, seed: int
    ) -> list[ImagePrediction]:
        preds = super().predict(model, ids, requirements, seed)
        if requirements.embedding:
            self.embedding_calls.append(list(ids))
            g = torch.Generator().manual_seed(1)
            noise = torch.rand(40, 2, generator=g) * 0.1
            for p in preds:
                base = torch.tensor([0.0 if p.image_id < 20 else 10.0, 0.0])
                p.embedding = base + noise[p.image_id]
        return preds


def _run(spec: RunSpec, **opts: Any) -> tuple[list, EmbeddingBackend]:
    backend = EmbeddingBackend()
    base = {"initial": 6, "budget": 4, "cycles": 2, "seeds": (0,)}
    base.update(opts)
    sim = Simulation([spec], LoopOptions(**base), backend, _oracle())
    return sim.run(), backend


def test_typiclust_gets_labeled_embeddings_and_records_itself() -> None:
    spec = RunSpec("typiclust", "vanilla", params={"normalize": False})
    rows, backend = _run(spec)
    labeled0 = rows[0].labeled
    assert [len(c) for c in backend.embedding_calls][-1] == labeled0  # the labelled images
    assert rows[0].strategy_used == "typiclust" and rows[-1].strategy_used == ""
    assert rows[0].chosen == 4


def test_auto_records_the_strategy_its_rule_chose() -> None:
    params = {"high_budget": "entropy", "low_budget_params": {"normalize": False}}
    rows, _ = _run(RunSpec("auto", "vanilla", {**params, "min_images_per_class": 100}))
    assert rows[0].strategy_used == "typiclust"
    rows, _ = _run(RunSpec("auto", "vanilla", {**params, "min_images_per_class": 0}))
    assert rows[0].strategy_used == "entropy"
    rows, _ = _run(RunSpec("entropy", "vanilla"))
    assert rows[0].strategy_used == "entropy"
