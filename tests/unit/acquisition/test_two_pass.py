"""Two-pass scoring (retrieval before ranking) equals one pass: same selection, same
components, for any pool, sharding, budget and seed."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acquisition.records import ImageRecord
from acquisition.registry import get_strategy
from acquisition.types import ORIGINAL, ImagePrediction, ViewPrediction
from tests.unit.acquisition.helpers import context, full_predictions

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HUA_VARIANTS = [
    {},
    {"normalization": "rank", "metrics": ["semantic_affinity", "entropy"]},
    {"diversity_guard": 0.9, "cd_histogram": "count"},
    {"localization": "flip_iou", "overlap_views": "max", "box_weights": "score"},
    {"retrieval_threshold": 0.2, "entropy_aggregate": "mean", "empty_cap": 0.5},
    {"cd_variant": "pool", "metrics": ["category_diversity", "localization_uncertainty"]},
    {"retrieval_factor": 1.0, "empty_entropy": 0.0},
]


def _original_only(p: ImagePrediction) -> ImagePrediction:
    """What pass 1 gets from inference: the original view's boxes and probabilities."""
    o = p.original
    view = ViewPrediction(o.boxes, o.labels, o.scores, o.probs, None)
    return dataclasses.replace(p, views={ORIGINAL: view}, embedding=None, extra={})


def _roundtrip(records: list[ImageRecord]) -> list[ImageRecord]:
    return [ImageRecord.from_dict(json.loads(json.dumps(r.to_dict()))) for r in records]


def _sharded(strat, index, preds, ctx, shard_size):  # type: ignore[no-untyped-def]
    out: list[ImageRecord] = []
    for start in range(0, len(preds), shard_size):
        out += _roundtrip(strat.score_pass(index, preds[start : start + shard_size], ctx))
    return out


def two_pass(strat, preds, budget, ctx, seed, shards=(7, 3)):  # type: ignore[no-untyped-def]
    first = _sharded(strat, 0, [_original_only(p) for p in preds], ctx, shards[0])
    wanted = set(strat.retrieve_ids(first, budget, ctx, seed))
    second = _sharded(strat, 1, [p for p in preds if p.image_id in wanted], ctx, shards[1])
    assert {r.image_id for r in second} == wanted
    return strat.select(strat.merge_passes(first, second), budget, ctx, seed), wanted


@SETTINGS
@given(
    st.sampled_from(range(len(HUA_VARIANTS))),
    st.integers(0, 40),
    st.integers(0, 15),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, 10**6),
    st.floats(0.0, 0.6),
)
def test_two_passes_equal_one(variant, n, budget, s1, s2, seed, empty_prob) -> None:
    strat, ctx = get_strategy("hua", **HUA_VARIANTS[variant]), context()
    preds = full_predictions(n, seed=seed % 997, empty_prob=empty_prob)
    assert strat.passes == 2
    one = strat.select(strat.score_images(preds, ctx), budget, ctx, seed)
    two, wanted = two_pass(strat, preds, budget, ctx, seed, (s1, s2))
    assert two == one  # same images, ranks, scores and components
    p = strat.retrieval_size(budget, n) if budget else 0
    assert len(wanted) == p  # pass 2 touches only the P retrieved images
    assert {s.image_id for s in two} <= wanted


def test_pool_smaller_than_p_scores_everything_in_pass_2() -> None:
    strat, ctx = get_strategy("hua"), context()
    preds = full_predictions(12, seed=3)
    two, wanted = two_pass(strat, preds, 5, ctx, 4)  # P = 15 > 12
    assert wanted == {p.image_id for p in preds}
    assert two == strat.select(strat.score_images(preds, ctx), 5, ctx, 4)


def test_pass_one_needs_only_the_original_view() -> None:
    first, second = get_strategy("hua").pass_requirements
    assert first.views == frozenset({ORIGINAL}) and not first.log_vars and first.probs
    assert second == get_strategy("hua").requirements and second.log_vars


def test_image_gone_between_passes_is_skipped_not_fatal() -> None:
    """A candidate labelled between the passes leaves the pool; retrieval over the rest may
    now reach an image without pass-2 metrics: it is passed over, never an error."""
    strat, ctx = get_strategy("hua"), context()
    preds = full_predictions(30, seed=5, empty_prob=0.0)
    first = strat.score_pass(0, [_original_only(p) for p in preds], ctx)
    wanted = strat.retrieve_ids(first, 4, ctx, 1)
    second = strat.score_pass(1, [p for p in preds if p.image_id in set(wanted)], ctx)
    gone = wanted[0]
    merged = [r for r in strat.merge_passes(first, second) if r.image_id != gone]
    chosen = strat.select(merged, 4, ctx, 1)
    assert 1 <= len(chosen) <= 4
    assert {s.image_id for s in chosen} <= set(wanted) - {gone}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("cald", {}),
        ("ppal", {}),
        ("entropy", {}),
        ("two_stage", {}),
        ("mix", {}),  # mix ranks the whole pool with every part: one pass
        ("hua", {"metrics": ["overlap_ratio"]}),  # ranking needs nothing beyond pass 1
    ],
)
def test_single_pass_strategies(name: str, params: dict) -> None:
    strat, ctx = get_strategy(name, **params), context()
    assert strat.passes == 1 and strat.pass_requirements == (strat.requirements,)
    preds = full_predictions(6, seed=1)
    assert strat.score_pass(0, preds, ctx) == strat.score_images(preds, ctx)
    with pytest.raises(ValueError, match="pass"):
        strat.score_pass(1, preds, ctx)
