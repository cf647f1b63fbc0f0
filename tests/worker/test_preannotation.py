"""Pre-annotation boxes: the pool's score threshold and per-image cap (issue 15, finding 2)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from acquisition.types import ORIGINAL, ImagePrediction, ViewPrediction  # noqa: E402
from alp.schemas import PoolSettings  # noqa: E402
from worker.pipeline import modelling  # noqa: E402


def _pred(scores: list[float]) -> ImagePrediction:
    n = len(scores)
    boxes = torch.tensor([[i, i, i + 10.0, i + 10.0] for i in range(n)])
    view = ViewPrediction(boxes=boxes, labels=torch.arange(n) % 2,
                          scores=torch.tensor(scores), probs=torch.zeros(n, 3))  # fmt: skip
    return ImagePrediction(image_id=1, width=100, height=100, views={ORIGINAL: view})


def test_low_scoring_early_models_still_pre_draw_best_first() -> None:
    pred = _pred([0.12, 0.04, 0.31, 0.07])  # an early model: the old fixed 0.3 kept one box
    out = modelling.preannotation(pred, *modelling.preannotation_limits({}))
    assert out["scores"] == pytest.approx([0.31, 0.12, 0.07])
    assert out["labels"] == [0, 0, 1] and out["boxes"][0] == [2.0, 2.0, 12.0, 12.0]


def test_the_pool_settings_choose_threshold_and_cap() -> None:
    settings = PoolSettings(preannotation_min_score=0.1, preannotation_max_boxes=1).model_dump()
    assert modelling.preannotation_limits(settings) == (0.1, 1)
    out = modelling.preannotation(_pred([0.12, 0.04, 0.31, 0.07]), 0.1, 1)
    assert out["scores"] == pytest.approx([0.31])
    assert modelling.preannotation(_pred([0.5]), 0.0, 0) == {"boxes": [], "labels": [],
                                                              "scores": []}  # fmt: skip
    defaults = PoolSettings()
    assert (defaults.preannotation_min_score, defaults.preannotation_max_boxes) == (0.05, 20)
    with pytest.raises(ValueError):
        PoolSettings(preannotation_min_score=1.5)
    with pytest.raises(ValueError):
        PoolSettings(preannotation_max_boxes=-1)
