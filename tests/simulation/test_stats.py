"""Paired statistics and the recommendation on fixed learning curves (known answers)."""

from __future__ import annotations

import pytest

from simulation.stats import (
    NO_DIFFERENCE,
    bootstrap_interval,
    compare,
    paired_differences,
    pairs_needed,
    recommend,
    sign_test,
    sign_test_min_pairs,
)

# per run: per seed, mAP at cycles 0..3 (cycle 0 is the shared model, left out of pairs)
BASE = {0: [10.0, 20.0, 30.0, 40.0], 1: [12.0, 18.0, 33.0, 41.0], 2: [9.0, 22.0, 29.0, 38.0]}
WIGGLE = {0: [0, 0.3, -0.2, 0.1], 1: [0, -0.1, 0.2, 0.0], 2: [0, 0.2, -0.3, 0.1]}


def rows_of(curves: dict[str, dict[int, list[float]]]) -> list[dict]:
    return [
        {"run": run, "seed": seed, "cycle": c, "map50": v}
        for run, per_seed in curves.items()
        for seed, curve in per_seed.items()
        for c, v in enumerate(curve)
    ]


def shifted(delta: float, wiggle: bool = True) -> dict[int, list[float]]:
    return {
        s: [v + (delta + (WIGGLE[s][c] if wiggle else 0.0) if c else 0.0) for c, v in enumerate(cv)]
        for s, cv in BASE.items()
    }


def test_paired_differences_skip_cycle_zero_and_unpaired_rows() -> None:
    rows = rows_of({"a": shifted(2.0, wiggle=False), "b": BASE})
    rows.append({"run": "a", "seed": 9, "cycle": 1, "map50": 99.0})  # b has no seed 9
    assert paired_differences(rows, "a", "b") == pytest.approx([2.0] * 9)


def test_known_difference_gives_its_interval_and_a_decision() -> None:
    result = compare(rows_of({"a": shifted(2.0), "b": BASE}), "a", "b")
    assert result["pairs"] == 9
    assert result["mean_difference"] == pytest.approx(
        2.0 + sum(sum(w) for w in WIGGLE.values()) / 9
    )
    lo, hi = result["interval"]
    assert 1.7 < lo < result["mean_difference"] < hi < 2.3
    assert result["decisive"] is True
    assert (result["wins"], result["losses"], result["ties"]) == (9, 0, 0)
    assert result["p_value"] == pytest.approx(2 / 2**9)
    assert compare(rows_of({"a": shifted(2.0), "b": BASE}), "b", "a")["interval"][1] < 0


def test_equal_curves_give_no_recommendation() -> None:
    rows = rows_of({"hua": BASE, "typiclust": BASE, "random": BASE})
    result = compare(rows, "typiclust", "hua")
    assert result["interval"] == [0.0, 0.0] and result["decisive"] is False
    assert result["p_value"] == 1.0 and result["ties"] == 9
    rec = recommend(rows, ["hua", "typiclust"], ["random", "hua"], budget=20)
    assert rec["recommendation"] is None and rec["reason"] == NO_DIFFERENCE
    assert rec["extra_labels_needed"] is None  # no difference at all: nothing to extrapolate


def test_clear_winner_is_recommended() -> None:
    rows = rows_of({"typiclust": shifted(3.0), "hua": shifted(0.5), "random": BASE})
    rec = recommend(rows, ["hua", "typiclust"], ["random", "hua"], budget=20)
    assert rec["recommendation"] == "typiclust" and rec["best"] == "typiclust"
    assert [c["b"] for c in rec["comparisons"]] == ["random", "hua"]


def test_small_noisy_difference_says_how_many_more_labels() -> None:
    noisy = {0: [10.0, 21.0, 29.0, 41.0], 1: [12.0, 17.5, 34.0, 40.5], 2: [9.0, 22.5, 28.5, 38.6]}
    rows = rows_of({"typiclust": noisy, "hua": BASE})
    rec = recommend(rows, ["hua", "typiclust"], ["hua"], budget=10)
    comp = rec["comparisons"][0]
    assert rec["recommendation"] is None and not comp["decisive"]
    need = pairs_needed(comp)
    assert need is not None and need > comp["pairs"]
    assert rec["extra_labels_needed"] == -(-(need - comp["pairs"]) // 3) * 10


def test_few_pairs_are_never_decisive_even_with_a_tight_interval() -> None:
    two_seeds = {s: BASE[s][:3] for s in (0, 1)}  # 2 seeds x 2 rounds = 4 pairs
    rows = rows_of({"a": {s: [v + (1.0 if c else 0.0) for c, v in enumerate(cv)]
                          for s, cv in two_seeds.items()}, "b": two_seeds})  # fmt: skip
    result = compare(rows, "a", "b")
    assert result["interval"] == [1.0, 1.0] and result["p_value"] == 0.125
    assert result["decisive"] is False
    assert pairs_needed(result) == 6 == sign_test_min_pairs(0.95)


def test_sign_test_and_bootstrap_edge_cases() -> None:
    assert sign_test([1.0] * 6 + [0.0]) == {"wins": 6, "losses": 0, "ties": 1, "p_value": 0.03125}
    assert sign_test([1.0, -1.0])["p_value"] == 1.0
    assert bootstrap_interval([1.5, 1.5]) == (1.5, 1.5)
    assert bootstrap_interval([1.0, 2.0, 3.0], seed=4) == bootstrap_interval(
        [1.0, 2.0, 3.0], seed=4
    )
    with pytest.raises(ValueError, match="no paired differences"):
        bootstrap_interval([])
    with pytest.raises(ValueError, match="no rows"):
        recommend([], ["hua"], ["random"], budget=5)
