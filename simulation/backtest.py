"""Backtest engine: replay active learning on a pool's own labelled images, with the labels
as the oracle, and compare strategies (issue 22). The same loop as ``alp simulate``
(:class:`~simulation.loop.Simulation`); this module adds the seeded stratified split
of the labelled images into a replay pool and a held-out test part, the size check, a run
time estimate and the summary (curves, annotation cost, paired comparisons, the
recommendation of :func:`simulation.stats.recommend`).

:mod:`worker.backtest_task` runs it as a job (``POST /pools/{id}/backtests``): its
``pool_data`` reads a pool's labelled train images (never its validation images) into the
replay pool and the test part; :func:`run_backtest` replays strategies on them with any
backend (``TorchBackend`` for real detectors).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from alp.schemas_backtests import check_size, required_labeled, trainings  # noqa: F401
from simulation.data import SimulationData, _reindex
from simulation.loop import Backend, Oracle, Simulation
from simulation.report import summarize
from simulation.spec import LoopOptions, RunSpec
from simulation.stats import compare, recommend


def replay_split(
    entries: Sequence[dict[str, Any]], test_size: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(replay pool, test part)``: ``test_size`` entries held out, stratified by class.

    Each image is put in the stratum of its rarest class (over all entries; images without
    boxes form their own stratum); every stratum gives its share of ``test_size`` (largest
    remainders get the leftovers), chosen by a permutation seeded by ``seed``. Both parts
    are re-indexed (``image_id`` = position).
    """
    n = len(entries)
    if not 0 <= test_size < n:
        raise ValueError(f"test part {test_size} must be in [0, {n})")
    freq = Counter(c for e in entries for c in e.get("labels", []))
    strata: dict[Any, list[int]] = {}
    for i, e in enumerate(entries):
        labels = set(e.get("labels", []))
        key = min(labels, key=lambda c: (freq[c], c)) if labels else "empty"
        strata.setdefault(key, []).append(i)
    keys = sorted(strata, key=str)
    exact = {k: test_size * len(strata[k]) / n for k in keys}
    take = {k: math.floor(exact[k]) for k in keys}
    for k in sorted(keys, key=lambda k: (-(exact[k] - take[k]), str(k)))[
        : test_size - sum(take.values())
    ]:
        take[k] += 1
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    for k in keys:
        members = strata[k]
        held.update(members[j] for j in rng.permutation(len(members))[: take[k]].tolist())
    replay = [e for i, e in enumerate(entries) if i not in held]
    test = [e for i, e in enumerate(entries) if i in held]
    return _reindex(replay), _reindex(test)


def estimate_seconds(
    seconds_per_step: float, options: LoopOptions, specs: Sequence[RunSpec]
) -> float:
    """Run time from the pool's own training speed: trainings x steps x seconds per step
    (cycle-0 models are shared per preset and seed; evaluation and scoring not counted)."""
    n = trainings(len(options.seeds), len({s.preset for s in specs}), len(specs), options.cycles)
    return float(n * options.iterations * seconds_per_step)


def run_backtest(
    data: SimulationData,
    specs: Sequence[RunSpec],
    options: LoopOptions,
    backend_factory: Callable[[SimulationData], Backend],
    references: Sequence[str] = (),
    event: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Replay ``specs`` on ``data`` (its pool = replay pool, its test = held-out part) and
    summarise: per run the learning curve (mean ± std over seeds), mean mAP after the first
    round, AULC, annotation cost of the selections (boxes per image, empty images), paired
    comparisons against ``references`` and the recommendation."""
    oracle = Oracle([e.get("labels", []) for e in data.pool], len(data.class_names))
    sim = Simulation(specs, options, backend_factory(data), oracle, event=event)
    rows = [r.to_dict() for r in sim.run()]
    summary = summarize(rows, "map50")
    labels = [s.label for s in specs]
    cost: dict[str, dict[str, float]] = {}
    for run in labels:
        chosen = [r for r in rows if r["run"] == run and r["chosen"]]
        images = sum(r["chosen"] for r in chosen)
        cost[run] = {
            "images": images,
            "boxes_per_image": sum(r["chosen_boxes"] for r in chosen) / images if images else 0.0,
            "empty_images": sum(r["chosen_empty"] for r in chosen),
        }
    comparisons = [
        compare(rows, run, ref) for run in labels for ref in references if ref != run
    ]  # fmt: skip
    decision = recommend(rows, labels, [*references] or labels, options.budget)
    return {"rows": rows, "summary": summary, "cost": cost, "comparisons": comparisons,
            "recommendation": decision}  # fmt: skip
