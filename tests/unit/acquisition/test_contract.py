"""Contract every registered strategy must honour."""

import itertools
import json
import math
import random

import pytest
import torch

from acquisition.records import ImageRecord, Selected
from acquisition.registry import get_strategy, list_strategies
from tests.unit.acquisition.helpers import context, full_predictions

STRATEGIES = list_strategies()
POOL = full_predictions(24, seed=5)


def run(name: str, preds=POOL, budget: int = 6, rng=0, ctx=None) -> list[Selected]:
    strat = get_strategy(name)
    ctx = ctx or context()
    return strat.select(strat.score_images(preds, ctx), budget, ctx, rng)


def check_shape(sel: list[Selected], budget: int, pool_ids: set) -> None:
    assert len(sel) == min(budget, len(pool_ids))
    assert [s.rank for s in sel] == list(range(len(sel)))
    ids = [s.image_id for s in sel]
    assert len(set(ids)) == len(ids) and set(ids) <= pool_ids
    scores = [s.score for s in sel]
    assert all(math.isfinite(x) for x in scores)
    assert all(a >= b for a, b in itertools.pairwise(scores)), scores
    assert all(math.isfinite(v) for s in sel for v in s.components.values())
    json.dumps([s.to_dict() for s in sel])


@pytest.mark.parametrize("name", STRATEGIES)
def test_shapes_and_budget_larger_than_pool(name: str) -> None:
    ids = {p.image_id for p in POOL}
    check_shape(run(name, budget=6), 6, ids)
    check_shape(run(name, budget=100), 100, ids)
    check_shape(run(name, budget=1), 1, ids)


@pytest.mark.parametrize("name", STRATEGIES)
def test_empty_pool_and_zero_budget(name: str) -> None:
    assert run(name, preds=[], budget=5) == []
    assert run(name, budget=0) == []
    with pytest.raises(ValueError, match="budget"):
        run(name, budget=-1)


@pytest.mark.parametrize("name", STRATEGIES)
def test_deterministic_given_seed_or_generator(name: str) -> None:
    assert run(name, rng=3) == run(name, rng=3)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert run(name, rng=g1) == run(name, rng=g2)


@pytest.mark.parametrize("name", STRATEGIES)
def test_records_round_trip_and_shard_merge(name: str) -> None:
    strat, ctx = get_strategy(name), context()
    whole = strat.select(strat.score_images(POOL, ctx), 7, ctx, 1)
    shards = [POOL[i::3] for i in range(3)]
    merged = [
        ImageRecord.from_dict(json.loads(json.dumps(r.to_dict())))
        for shard in reversed(shards)
        for r in strat.score_images(shard, ctx)
    ]
    random.Random(0).shuffle(merged)
    assert strat.select(merged, 7, ctx, 1) == whole


@pytest.mark.parametrize("name", STRATEGIES)
def test_labelled_embeddings_in_context_are_accepted(name: str) -> None:
    ctx = context(labeled_embeddings=torch.randn(5, 8, generator=torch.Generator().manual_seed(0)))
    check_shape(run(name, ctx=ctx), 6, {p.image_id for p in POOL})


@pytest.mark.parametrize("name", STRATEGIES)
def test_duplicate_ids_rejected(name: str) -> None:
    strat, ctx = get_strategy(name), context()
    recs = strat.score_images(POOL[:3], ctx)
    with pytest.raises(ValueError, match="duplicate"):
        strat.select(recs + recs[:1], 2, ctx)


@pytest.mark.parametrize("name", STRATEGIES)
def test_string_ids_work(name: str) -> None:
    preds = full_predictions(6, seed=2)
    for p in preds:
        p.image_id = f"img-{p.image_id}"
    check_shape(run(name, preds=preds, budget=4), 4, {p.image_id for p in preds})


@pytest.mark.parametrize("name", STRATEGIES)
def test_batched_scoring_equals_per_image_scoring(name: str) -> None:
    preds = full_predictions(9, seed=4) + full_predictions(5, seed=6, has_background=False)
    for i, p in enumerate(preds):
        p.image_id = i
    strat, ctx = get_strategy(name), context()
    assert strat.score_images(preds, ctx) == [strat.score_image(p, ctx) for p in preds]
