"""The backtest engine on the simulate loop (fake backend): size check, stratified split,
run time estimate, and a summary with a recommendation."""

from __future__ import annotations

import pytest

from tests.worker.test_simulate_loop import FakeBackend
from worker.simulation.backtest import (
    check_size,
    estimate_seconds,
    pool_data,
    replay_split,
    required_labeled,
    run_backtest,
)
from worker.simulation.data import SimulationData
from worker.simulation.spec import LoopOptions, RunSpec


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


def test_backtest_on_a_pools_own_labels_with_real_detectors(sqlite_worker) -> None:
    """End to end on the engine (no API yet): a synthetic pool's labelled images, two
    strategies, 2 rounds, 2 seeds, the tiny detector at 48 px for 2 steps."""
    from alp.db import Image
    from alp.storage import BlobCache
    from tests.worker.cycle_support import pool_settings, storage_for
    from worker.simulation.backend import TorchBackend
    from worker.synthetic_pool import create_synthetic_pool

    s, sessions = sqlite_worker
    storage = storage_for(s)
    cache = BlobCache(storage, s.data_dir / "cache", 1 << 30)
    with sessions() as db:
        pool = create_synthetic_pool(db, storage, "bt", n_labeled=24, n_val=4, n_unlabeled=2,
                                     size=48, settings=pool_settings())  # fmt: skip
        val_keys = {db.get(Image, i).storage_key for i in pool.val_ids}
        with pytest.raises(ValueError, match="needs at least 30 labeled images; the pool has 24"):
            pool_data(db, cache, pool.pool_id, 10, 0, initial=10, budget=5, rounds=2)
        data = pool_data(db, cache, pool.pool_id, 6, 0, initial=8, budget=5, rounds=2)
    assert (len(data.pool), len(data.test), data.val) == (18, 6, [])
    assert not {str(e["path"]) for e in data.pool + data.test} & val_keys  # str: storage key
    opts = LoopOptions(initial=8, budget=5, cycles=3, seeds=(0, 1), iterations=2,
                       batch_size=2, image_size=48)  # fmt: skip
    specs = [RunSpec("typiclust", "vanilla"), RunSpec("random", "vanilla")]
    out = run_backtest(data, specs, opts, lambda d: TorchBackend(d, opts),
                       references=["random:vanilla"])  # fmt: skip
    assert len(out["rows"]) == 2 * 2 * 3
    assert out["summary"]["typiclust:vanilla"]["labeled"] == [8, 13, 18]
    assert out["cost"]["typiclust:vanilla"]["images"] == 2 * 2 * 5
    assert out["recommendation"]["reason"]  # a decision either way (4 pairs: never decisive)
    assert out["recommendation"]["recommendation"] is None
