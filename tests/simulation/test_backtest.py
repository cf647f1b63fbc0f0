"""The backtest engine on the simulate loop (fake backend): size check, stratified split,
run time estimate, and a summary with a recommendation."""

from __future__ import annotations

import pytest

from simulation.backtest import (
    check_size,
    estimate_seconds,
    replay_split,
    required_labeled,
    run_backtest,
)
from simulation.data import SimulationData
from simulation.spec import LoopOptions, RunSpec
from tests.simulation.test_loop import FakeBackend


def entries(n: int = 100) -> list[dict]:
    """Class 1 (rare) on every 5th image, class 0 elsewhere, every 10th image empty."""
    out = []
    for i in range(n):
        labels = [] if i % 10 == 9 else ([1, 0] if i % 5 == 0 else [0, 0])
        out.append({"image_id": i, "labels": labels, "name": f"img{i}"})
    return out


def test_too_few_labeled_images_says_how_many_are_needed() -> None:
    assert required_labeled(20, 10, 3, 40) == 90
    check_size(90, 20, 10, 3, 40)
    with pytest.raises(ValueError, match="needs at least 90 labeled images; the pool has 80"):
        check_size(80, 20, 10, 3, 40)


def test_replay_split_is_stratified_seeded_and_disjoint() -> None:
    replay, test = replay_split(entries(), 20, seed=3)
    assert len(replay) == 80 and len(test) == 20
    names = [e["name"] for e in replay + test]
    assert len(set(names)) == 100
    assert sum(1 in e["labels"] for e in test) == 4  # the rare class: 20 of 100 -> 4 of 20
    assert sum(not e["labels"] for e in test) == 2  # empty images: 10 of 100 -> 2 of 20
    assert [e["image_id"] for e in test] == list(range(20))
    again = replay_split(entries(), 20, seed=3)[1]
    other = replay_split(entries(), 20, seed=4)[1]
    assert [e["name"] for e in again] == [e["name"] for e in test]
    assert [e["name"] for e in other] != [e["name"] for e in test]
    with pytest.raises(ValueError, match="test part"):
        replay_split(entries(5), 5, seed=0)


def test_estimate_counts_shared_cycle0_trainings() -> None:
    specs = [RunSpec("entropy", "vanilla"), RunSpec("random", "vanilla")]
    opts = LoopOptions(initial=5, budget=5, cycles=3, seeds=(0, 1), iterations=100)
    assert estimate_seconds(0.1, opts, specs) == pytest.approx(2 * (1 + 2 * 2) * 100 * 0.1)


def test_backtest_summary_and_recommendation() -> None:
    pool = [{"image_id": i, "labels": [i % 2] * (1 + i % 3)} for i in range(40)]
    data = SimulationData(["a", "b"], pool, [], [], source="test")
    specs = [RunSpec("entropy", "vanilla"), RunSpec("random", "vanilla")]
    opts = LoopOptions(initial=6, budget=5, cycles=3, seeds=(0, 1, 2))
    out = run_backtest(data, specs, opts, lambda _d: FakeBackend(), references=["random:vanilla"])
    assert {r["run"] for r in out["rows"]} == {"entropy:vanilla", "random:vanilla"}
    assert set(out["summary"]) == {"entropy:vanilla", "random:vanilla"}
    cost = out["cost"]["entropy:vanilla"]
    assert cost["images"] == 3 * 2 * 5 and cost["boxes_per_image"] > 0
    (comp,) = out["comparisons"]
    assert (comp["a"], comp["b"], comp["pairs"]) == ("entropy:vanilla", "random:vanilla", 6)
    rec = out["recommendation"]
    # the fake model rewards the uncertain images entropy picks: a decisive win
    assert comp["mean_difference"] > 0 and comp["decisive"]
    assert rec["recommendation"] == "entropy:vanilla"
