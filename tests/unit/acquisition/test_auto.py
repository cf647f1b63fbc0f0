"""``auto``: the budget rule, the recorded decision, and delegation to the chosen strategy."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from acquisition.registry import get_strategy
from acquisition.types import FLIP
from tests.unit.acquisition.helpers import context, full_predictions

POOL = full_predictions(30, seed=7)


def chosen(name: str, ctx, budget: int = 6, seed: int = 2, **params) -> list:
    strat = get_strategy(name, **params)
    return strat.select(strat.score_images(POOL, ctx), budget, ctx, seed)


def test_small_pool_uses_typiclust_and_says_why() -> None:
    ctx = context(labeled_images_per_class=[25, 4, 30], labeled_embeddings=torch.randn(5, 8))
    auto = get_strategy("auto")
    assert auto.decision(ctx) == {
        "strategy": "typiclust",
        "reason": "a class has 4 labelled images (< 20)",
    }
    assert chosen("auto", ctx) == chosen("typiclust", ctx)


def test_large_pool_uses_hua() -> None:
    ctx = context(labeled_images_per_class=[25, 20, 30])
    d = get_strategy("auto").decision(ctx)
    assert d["strategy"] == "hua" and "fewest 20" in d["reason"]
    assert chosen("auto", ctx) == chosen("hua", ctx)


def test_validation_map_rule_and_both_rules() -> None:
    auto = get_strategy("auto", min_images_per_class=None, min_validation_map=0.3)
    assert auto.decision(context(validation_map=0.2))["strategy"] == "typiclust"
    assert auto.decision(context(validation_map=0.35))["strategy"] == "hua"
    both = get_strategy("auto", min_validation_map=0.3)
    d = both.decision(context(labeled_images_per_class=[50, 50, 50], validation_map=0.1))
    assert d == {"strategy": "typiclust", "reason": "validation mAP@0.5 0.100 < 0.3"}


def test_unknown_inputs_fall_back_to_the_high_budget_strategy() -> None:
    d = get_strategy("auto").decision(context())
    assert d["strategy"] == "hua" and "no labelled-image counts" in d["reason"]


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="enable min_images_per_class or min_validation_map"):
        get_strategy("auto", min_images_per_class=None)
    with pytest.raises(ValueError, match="must not be auto itself"):
        get_strategy("auto", low_budget="auto")
    with pytest.raises(ValueError, match="unknown acquisition strategy"):
        get_strategy("auto", high_budget="nope")
    with pytest.raises(ValueError, match=r"<= 1\.0"):
        get_strategy("auto", min_validation_map=1.5)


def test_requirements_cover_both_strategies_and_other_pairs_work() -> None:
    req = get_strategy("auto").requirements
    assert req.embedding and FLIP in req.views
    assert req.log_vars == get_strategy("hua").requirements.log_vars
    ctx = context(labeled_images_per_class=[1, 1, 1])
    pair = {"low_budget": "coreset", "high_budget": "entropy"}
    assert chosen("auto", ctx, **pair) == chosen("coreset", ctx)
    assert get_strategy("auto", low_budget="probcover").decision(ctx)["strategy"] == "probcover"


def test_tie_note_follows_the_strategy_used() -> None:
    pred = full_predictions(1, seed=3, empty_prob=1.0)[0]
    preds = [dataclasses.replace(pred, image_id=i) for i in range(20)]
    auto = get_strategy("auto")
    small = context(labeled_images_per_class=[0, 0, 0])
    recs = auto.score_images(preds, small)
    auto.select(recs, 5, small, 0)
    assert auto.tie_note(recs, 5) is None  # typiclust does not rank by a per-image score
    large = context(labeled_images_per_class=[99, 99, 99])
    auto.select(recs, 5, large, 0)
    assert auto.tie_note(recs, 5) is not None  # hua's scores are all equal
