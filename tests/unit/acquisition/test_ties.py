"""Ties are broken by the cycle's seeded random order, never by image id; a selection
decided by ties alone is reported by ``Strategy.tie_note``."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acquisition.base import TIE_TOLERANCE
from acquisition.records import ImageRecord
from acquisition.registry import get_strategy, list_strategies
from tests.unit.acquisition.helpers import context, full_predictions

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRATEGIES = list_strategies()
MODEL_FREE = {"random", "coreset", "typiclust", "probcover"}  # they never rank by a per-image score


def identical_records(name: str, ids: list[int]) -> list[ImageRecord]:
    """The same image (no detections, one embedding) scored once, copied under every id:
    every score, metric and distance is equal, so only the tie-break can order them."""
    pred = full_predictions(1, seed=3, empty_prob=1.0)[0]
    preds = [dataclasses.replace(pred, image_id=i) for i in ids]
    return get_strategy(name).score_images(preds, context())


def order(name: str, records: list[ImageRecord], budget: int, seed: int) -> list[int]:
    return [s.image_id for s in get_strategy(name).select(records, budget, context(), seed)]


@pytest.mark.parametrize("name", STRATEGIES)
@SETTINGS
@given(
    n=st.integers(12, 40),
    seed=st.integers(0, 2**31 - 1),
    delta=st.integers(1, 2**31 - 1),
    rnd=st.randoms(use_true_random=False),
)
def test_equal_scores_give_a_seeded_random_order(name, n, seed, delta, rnd) -> None:
    ids = sorted(rnd.sample(range(10_000), n))
    recs = identical_records(name, ids)
    got = order(name, recs, n, seed)
    assert sorted(got) == ids
    assert got != ids  # never the id order (chance 1/n! <= 2e-9)
    shuffled = list(recs)
    rnd.shuffle(shuffled)
    assert order(name, shuffled, n, seed) == got  # reproducible, whatever the input order
    assert order(name, recs, n, (seed + delta) % 2**31) != got  # another seed, another order


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_tied_batch_is_not_the_lowest_ids(name: str) -> None:
    ids = list(range(100, 140))
    recs = identical_records(name, ids)
    chosen = [set(order(name, recs, 5, seed)) for seed in range(6)]
    assert all(len(c) == 5 and c <= set(ids) for c in chosen)
    assert set(ids[:5]) not in chosen
    assert len({frozenset(c) for c in chosen}) > 1


def test_ties_keep_the_score_order_and_randomise_only_within_ties() -> None:
    recs = [ImageRecord(i, 1.0 if i % 2 else 0.5) for i in range(20)]
    for seed in range(5):
        got = order("entropy", recs, 20, seed)
        assert set(got[:10]) == set(range(1, 20, 2))  # every 1.0 before every 0.5
        assert got[:10] != sorted(got[:10])


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - MODEL_FREE))
def test_tie_note_for_scores_that_carry_no_information(name: str) -> None:
    strat = get_strategy(name)
    recs = identical_records(name, list(range(30)))
    note = strat.tie_note(recs, 5)
    assert note is not None
    assert note.startswith("selection is effectively random: all 30 scores")
    assert f"within {TIE_TOLERANCE:g}" in note and "chose the 5 images" in note
    assert strat.tie_note(recs, 30) is None  # the budget takes every image: nothing decided


@pytest.mark.parametrize("name", sorted(MODEL_FREE))
def test_no_tie_note_for_strategies_that_do_not_rank_by_score(name: str) -> None:
    assert get_strategy(name).tie_note(identical_records(name, list(range(30))), 5) is None


def test_tie_note_tolerance_and_informative_scores() -> None:
    strat = get_strategy("entropy")
    near = [ImageRecord(i, 0.5 + (TIE_TOLERANCE / 2 if i % 2 else 0.0)) for i in range(10)]
    assert strat.tie_note(near, 3) is not None
    apart = [ImageRecord(i, 0.5 + (1e-3 if i == 7 else 0.0)) for i in range(10)]
    assert strat.tie_note(apart, 3) is None
    assert strat.tie_note(apart[:1], 0) is None


def test_informative_scored_strategies_give_no_note() -> None:
    preds = full_predictions(30, seed=4)
    for name in STRATEGIES:
        strat = get_strategy(name)
        recs = strat.score_images(preds, context())
        assert strat.tie_note(recs, 5) is None, name
