"""The oracle loop of ``alp simulate`` with a fake backend (no detector training)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from acquisition.types import ORIGINAL, ImagePrediction, Requirements, ViewPrediction
from simulation.loop import Oracle, Simulation, composition, initial_set
from simulation.spec import LoopOptions, RunSpec

POOL = 40
C = 2


def _uncertainty(i: int) -> float:
    """Fake model uncertainty of pool image i: images 30..39 are the most uncertain."""
    return 0.9 if i >= 30 else 0.05 + 0.01 * (i % 10)


class FakeBackend:
    """'Trains' by remembering the labelled set; mAP grows with the uncertain images."""

    num_classes = C

    def __init__(self) -> None:
        self.trained: list[tuple[str, tuple[int, ...], int]] = []
        self.predicted: list[list[int]] = []

    def train(
        self, preset: str, labeled: Sequence[int], seed: int, progress: Callable[[int, int], None]
    ) -> Any:
        progress(1, 1)
        self.trained.append((preset, tuple(labeled), seed))
        return set(labeled)

    def evaluate(self, model: Any) -> dict[str, float | None]:
        hard = sum(1 for i in model if i >= 30)
        return {
            "map50": 10.0 + len(model) + 5 * hard,
            "coco_ap": 1.0 + hard,
            "val_map50": None,
            "val_coco_ap": None,
        }

    def predict(
        self, model: Any, ids: Sequence[int], requirements: Requirements, seed: int
    ) -> list[ImagePrediction]:
        self.predicted.append(list(ids))
        preds = []
        for i in ids:
            u = _uncertainty(i)
            probs = torch.tensor([[u / 2, 1 - u, u / 2]])
            view = ViewPrediction(
                boxes=torch.tensor([[1.0, 1.0, 9.0, 9.0]]),
                labels=torch.tensor([0]),
                scores=torch.tensor([1 - u]),
                probs=probs,
            )
            preds.append(ImagePrediction(image_id=i, width=10, height=10, views={ORIGINAL: view}))
        return preds


def _oracle() -> Oracle:
    return Oracle([[i % C] * (1 + i % 3) for i in range(POOL)], C)


def _sim(specs: list[RunSpec], **opts: Any) -> tuple[Simulation, FakeBackend]:
    backend = FakeBackend()
    base = {"initial": 6, "budget": 5, "cycles": 3, "seeds": (0, 1)}
    base.update(opts)
    return Simulation(specs, LoopOptions(**base), backend, _oracle()), backend


def test_rows_schedule_and_entropy_picks_uncertain_images() -> None:
    sim, backend = _sim([RunSpec("entropy", "vanilla"), RunSpec("random", "vanilla")])
    rows = sim.run()
    assert len(rows) == 2 * 2 * 3
    assert [r.labeled for r in rows[:3]] == [6, 11, 16]
    assert {(r.seed, r.run) for r in rows} == {
        (s, n) for s in (0, 1) for n in ("entropy:vanilla", "random:vanilla")
    }
    # entropy's second training set = initial set + the 5 most uncertain unlabelled images
    init = set(initial_set(POOL, 6, 0))
    second = set(backend.trained[1][1])
    added = second - init  # five of the equally uncertain 30..39, by the seeded order
    assert len(added) == 5 and added <= set(range(30, 40)) - init
    assert added != set(sorted(set(range(30, 40)) - init)[:5])  # not the lowest ids
    ent = [r for r in rows if r.run == "entropy:vanilla" and r.seed == 0]
    rnd = [r for r in rows if r.run == "random:vanilla" and r.seed == 0]
    assert ent[-1].map50 > rnd[-1].map50


def test_rows_record_what_the_selections_cost_the_annotator() -> None:
    sim, backend = _sim([RunSpec("entropy", "vanilla")], seeds=(0,))
    rows = sim.run()
    oracle = _oracle()
    for cycle in (0, 1):  # the images added to the next training set, from the oracle
        added = sorted(set(backend.trained[cycle + 1][1]) - set(backend.trained[cycle][1]))
        answers = oracle.reveal(added)
        row = rows[cycle]
        assert (row.chosen, row.chosen_boxes) == (5, sum(len(a) for a in answers))
        assert row.chosen_class_boxes == [sum(a.count(c) for a in answers) for c in range(C)]
        assert row.chosen_empty == 0
    assert (rows[-1].chosen, rows[-1].chosen_boxes, rows[-1].chosen_class_boxes) == (0, 0, [])


def test_composition_counts_boxes_classes_and_empty_images() -> None:
    assert composition([[0, 1, 1], [], [2]], 3) == {
        "chosen": 3,
        "chosen_boxes": 4,
        "chosen_empty": 1,
        "chosen_class_boxes": [1, 2, 1],
    }
    assert composition([], 3)["chosen_class_boxes"] == []


def test_cycle0_model_is_shared_per_preset_and_seed() -> None:
    specs = [
        RunSpec("entropy", "vanilla"),
        RunSpec("random", "vanilla"),
        RunSpec("random", "huale"),
    ]
    sim, backend = _sim(specs, seeds=(0,), cycles=2)
    rows = sim.run()
    cycle0 = [t for t in backend.trained if len(t[1]) == 6]
    assert sorted(t[0] for t in cycle0) == ["huale", "vanilla"]
    shared = {r.run: r.shared for r in rows if r.cycle == 0}
    assert shared == {"entropy:vanilla": False, "random:vanilla": True, "random:huale": False}
    assert rows[0].map50 == rows[2].map50  # same model, same metrics


def test_random_needs_no_inference_and_is_seeded() -> None:
    sim, backend = _sim([RunSpec("random", "vanilla")])
    rows_a = sim.run()
    assert backend.predicted == []
    sim_b, backend_b = _sim([RunSpec("random", "vanilla")])
    rows_b = sim_b.run()
    assert [r.map50 for r in rows_a] == [r.map50 for r in rows_b]
    assert backend.trained == backend_b.trained
    # different seeds start from different initial sets
    assert backend.trained[0][1] != backend.trained[3][1]
    # the training seed differs per cycle but not per strategy
    assert [t[2] for t in backend.trained[:3]] == [0, 1, 2]


def test_pool_exhaustion_and_score_subset() -> None:
    sim, backend = _sim(
        [RunSpec("entropy", "vanilla")], initial=30, budget=8, cycles=3, seeds=(0,), score_subset=4
    )
    rows = sim.run()
    assert [r.labeled for r in rows] == [30, 34, 38]
    assert all(len(ids) == 4 for ids in backend.predicted)
    sim, _ = _sim([RunSpec("random", "vanilla")], initial=35, budget=10, cycles=3, seeds=(0,))
    assert [r.labeled for r in sim.run()] == [35, 40, 40]


def test_oracle_reveals_and_counts() -> None:
    oracle = _oracle()
    assert oracle.reveal([0, 4]) == [[0], [0, 0]]
    assert oracle.queries == 2
    assert oracle.class_frequency([0, 1]) == [0.5, 1.0]


@pytest.mark.parametrize(
    "spec,opts",
    [
        (RunSpec("nope", "vanilla"), {}),
        (RunSpec("hua", "vanilla", params={"retrieval_factor": -1}), {}),
        (RunSpec("random", "vanilla"), {"initial": POOL + 1}),
    ],
)
def test_bad_configuration_fails_before_training(spec: RunSpec, opts: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _sim([spec], **opts)
