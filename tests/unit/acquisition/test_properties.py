"""Property tests: permutation equivariance, shard invariance, no NaN on edge inputs."""

import json
import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acquisition.records import ImageRecord, ScoringContext
from acquisition.registry import get_strategy, list_strategies
from acquisition.synthetic import random_predictions
from tests.unit.acquisition.helpers import ALL_VIEWS, context, full_predictions

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.sampled_from(list_strategies())


@SETTINGS
@given(names, st.integers(0, 14), st.integers(0, 10), st.randoms(use_true_random=False))
def test_permuting_images_permutes_scores(name, n, budget, rnd) -> None:
    preds = full_predictions(n, seed=n)
    perm = list(preds)
    rnd.shuffle(perm)
    strat, ctx = get_strategy(name), context()
    recs = {r.image_id: r for r in strat.score_images(preds, ctx)}
    recs_perm = strat.score_images(perm, ctx)
    assert [r.image_id for r in recs_perm] == [p.image_id for p in perm]
    assert all(r == recs[r.image_id] for r in recs_perm)
    assert strat.select(recs_perm, budget, ctx, 7) == strat.select(
        list(recs.values()), budget, ctx, 7
    )


@SETTINGS
@given(
    names,
    st.integers(1, 14),
    st.integers(1, 10),
    st.integers(1, 4),
    st.randoms(use_true_random=False),
)
def test_shard_then_merge_equals_one_pass(name, n, budget, n_shards, rnd) -> None:
    preds = full_predictions(n, seed=100 + n)
    strat, ctx = get_strategy(name), context()
    one_pass = strat.select(strat.score_images(preds, ctx), budget, ctx, 11)
    order = list(range(n))
    rnd.shuffle(order)
    merged: list[ImageRecord] = []
    for s in range(n_shards):
        shard = [preds[i] for i in order[s::n_shards]]
        merged += [
            ImageRecord.from_dict(json.loads(json.dumps(r.to_dict())))
            for r in strat.score_images(shard, ctx)
        ]
    assert strat.select(merged, budget, ctx, 11) == one_pass


@SETTINGS
@given(
    names,
    st.integers(1, 3),
    st.booleans(),
    st.floats(0.0, 1.0),
    st.integers(0, 8),
    st.integers(1, 4),
)
def test_no_nan_for_empty_images_zero_boxes_or_one_class(
    name, num_classes, background, empty_prob, n, max_boxes
) -> None:
    preds = random_predictions(
        n,
        num_classes,
        seed=n,
        views=ALL_VIEWS,
        has_background=background,
        log_vars=True,
        embedding_dim=4,
        box_feature_dim=3,
        empty_prob=empty_prob,
        max_boxes=max_boxes,
    )
    ctx = ScoringContext(num_classes=num_classes)
    strat = get_strategy(name)
    recs = strat.score_images(preds, ctx)
    assert all(math.isfinite(r.score) for r in recs)
    assert all(math.isfinite(v) for r in recs for v in r.components.values())
    sel = strat.select(recs, max(1, n // 2), ctx, 0)
    assert len(sel) == min(max(1, n // 2), n)
    assert all(math.isfinite(s.score) for s in sel)


def test_all_empty_pool_is_finite_for_every_strategy() -> None:
    preds = random_predictions(
        6,
        1,
        seed=0,
        views=ALL_VIEWS,
        log_vars=True,
        embedding_dim=4,
        box_feature_dim=3,
        empty_prob=1.0,
    )
    ctx = ScoringContext(num_classes=1)
    for name in list_strategies():
        strat = get_strategy(name)
        sel = strat.select(strat.score_images(preds, ctx), 3, ctx, 0)
        assert len(sel) == 3, name
        assert torch.isfinite(torch.tensor([s.score for s in sel])).all(), name
