"""The in-process active-learning loop with a ground-truth oracle.

Per run (``RunSpec``) and seed: pick the initial labelled set at random (seeded; the same
set for every run of that seed), then for each cycle train a FRESH detector on the
labelled images (CALD protocol), evaluate it, score the unlabelled pool with the strategy,
select ``budget`` images and let the oracle reveal their labels.

The heavy parts (training, evaluation, inference) sit behind :class:`Backend`, so the
loop itself is tested with fakes. Cycle-0 models are shared between runs with the same
training preset and seed (their training inputs are identical), which saves
``(runs per preset - 1)`` trainings per seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import Any, Protocol

import torch

from acquisition.records import ScoringContext
from acquisition.registry import get_strategy
from acquisition.types import ImagePrediction, Requirements
from simulation.oracle import CycleRow, Oracle, composition
from simulation.spec import LoopOptions, RunSpec

Event = Callable[..., None]
LABELED_EMBEDDING_LIMIT = 2000  # as worker.pipeline.embeddings (which imports the DB layer)


class Backend(Protocol):
    """Training, evaluation and inference over the pool (see ``simulation.backend``)."""

    num_classes: int

    def train(self, preset: str, labeled: Sequence[int], seed: int, progress: Event) -> Any:
        """A fresh detector trained on pool images ``labeled`` (seeded)."""

    def evaluate(self, model: Any) -> dict[str, float | None]:
        """``{"map50", "coco_ap", "val_map50", "val_coco_ap"}`` in percent."""

    def predict(
        self, model: Any, ids: Sequence[int], requirements: Requirements, seed: int
    ) -> list[ImagePrediction]:
        """Predictions for pool images ``ids`` with the views the strategy needs."""


def initial_set(pool_size: int, size: int, seed: int) -> list[int]:
    """``size`` distinct pool indices drawn with a generator seeded by ``seed`` (sorted)."""
    gen = torch.Generator().manual_seed(int(seed))
    return sorted(torch.randperm(pool_size, generator=gen)[: min(size, pool_size)].tolist())


def train_seed(seed: int, cycle: int) -> int:
    """Training seed of ``cycle`` in the run seeded ``seed`` (same for every strategy)."""
    return seed * 1000 + cycle


def selection_seed(seed: int, cycle: int) -> int:
    """Seed of the strategy's generator and of the scoring subset at ``cycle``."""
    return seed * 10_007 + 7919 * (cycle + 1)


def _candidates(unlabeled: list[int], subset: int | None, seed: int) -> list[int]:
    if subset is None or subset >= len(unlabeled):
        return unlabeled
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(unlabeled), generator=gen)[:subset].tolist()
    return sorted(unlabeled[i] for i in pick)


def _no_model_predictions(ids: Sequence[Hashable]) -> list[ImagePrediction]:
    return [ImagePrediction(image_id=i, width=0, height=0, views={}) for i in ids]


def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None


def check_runs(specs: Sequence[RunSpec]) -> None:
    """``ValueError`` for no runs, an unknown strategy or bad strategy parameters (cheap:
    builds each strategy, touches no data)."""
    if not specs:
        raise ValueError("need at least one strategy")
    for spec in specs:
        get_strategy(spec.strategy, **dict(spec.params))


class Simulation:
    """Runs ``specs`` x ``options.seeds`` over ``backend``; call :meth:`run`."""

    def __init__(
        self,
        specs: Sequence[RunSpec],
        options: LoopOptions,
        backend: Backend,
        oracle: Oracle,
        event: Event | None = None,
    ) -> None:
        check_runs(specs)
        if options.initial > len(oracle):
            raise ValueError(f"--initial {options.initial} exceeds the pool ({len(oracle)})")
        self.specs, self.options, self.backend, self.oracle = list(specs), options, backend, oracle
        self.event = event or _noop
        self._shared: dict[tuple[Any, ...], tuple[Any, dict[str, Any], float, float]] = {}

    def run(self, on_row: Callable[[CycleRow], None] | None = None) -> list[CycleRow]:
        """All rows, ordered by seed, then run, then cycle."""
        rows: list[CycleRow] = []
        for seed in self.options.seeds:
            self._shared.clear()
            for spec in self.specs:
                for row in self.run_one(spec, seed):
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
        self._shared.clear()
        return rows

    def run_one(self, spec: RunSpec, seed: int) -> list[CycleRow]:
        """The learning curve of one run and seed."""
        opts = self.options
        strategy = get_strategy(spec.strategy, **dict(spec.params))
        labeled = initial_set(len(self.oracle), opts.initial, seed)
        self.oracle.reveal(labeled)
        rows: list[CycleRow] = []
        for cycle in range(opts.cycles):
            answers: list[list[int]] = []
            self.event("cycle", run=spec.label, seed=seed, cycle=cycle, labeled=len(labeled))
            model, metrics, train_s, eval_s, shared = self._train_eval(spec, seed, cycle, labeled)
            score_s, used = 0.0, ""
            unlabeled = sorted(set(range(len(self.oracle))) - set(labeled))
            if cycle < opts.cycles - 1 and unlabeled:
                start = time.perf_counter()
                vmap = metrics.get("val_map50")
                chosen, used = self._select(
                    strategy,
                    model,
                    seed,
                    cycle,
                    labeled,
                    unlabeled,
                    None if vmap is None else float(vmap) / 100.0,
                )
                score_s = time.perf_counter() - start
                answers = self.oracle.reveal(chosen)
                next_labeled = sorted([*labeled, *chosen])
            else:
                next_labeled = labeled
            rows.append(
                CycleRow(
                    run=spec.label,
                    strategy=spec.strategy,
                    preset=spec.preset,
                    seed=seed,
                    cycle=cycle,
                    labeled=len(labeled),
                    map50=float(metrics["map50"]),
                    coco_ap=float(metrics["coco_ap"]),
                    val_map50=metrics.get("val_map50"),
                    val_coco_ap=metrics.get("val_coco_ap"),
                    train_s=round(train_s, 3),
                    eval_s=round(eval_s, 3),
                    score_s=round(score_s, 3),
                    time_s=round(train_s + eval_s + score_s, 3),
                    shared=shared,
                    strategy_used=used,
                    **composition(answers, self.oracle.num_classes),
                )
            )
            self.event("row", row=rows[-1])
            labeled = next_labeled
        return rows

    def _train_eval(
        self, spec: RunSpec, seed: int, cycle: int, labeled: list[int]
    ) -> tuple[Any, dict[str, Any], float, float, bool]:
        key = (spec.preset, seed, cycle, tuple(labeled))
        if cycle == 0 and key in self._shared:
            model, metrics, train_s, eval_s = self._shared[key]
            return model, metrics, train_s, eval_s, True
        start = time.perf_counter()
        model = self.backend.train(
            spec.preset,
            labeled,
            train_seed(seed, cycle),
            lambda it, total: self.event("train", it=it, total=total),
        )
        train_s = time.perf_counter() - start
        self.event("phase", name="evaluate")
        start = time.perf_counter()
        metrics = self.backend.evaluate(model)
        eval_s = time.perf_counter() - start
        if cycle == 0:
            self._shared[key] = (model, metrics, train_s, eval_s)
        return model, metrics, train_s, eval_s, False

    def _select(
        self,
        strategy: Any,
        model: Any,
        seed: int,
        cycle: int,
        labeled: list[int],
        unlabeled: list[int],
        validation_map: float | None = None,
    ) -> tuple[list[int], str]:
        """The chosen pool indices and the name of the strategy that chose them. Like the
        selection stage: embedding strategies get the labelled images' embeddings (at most
        ``LABELED_EMBEDDING_LIMIT``, a seeded subset) and ``auto`` its pool statistics."""
        sel_seed = selection_seed(seed, cycle)
        candidates = _candidates(unlabeled, self.options.score_subset, sel_seed)
        req = strategy.requirements
        self.event("phase", name=f"score {len(candidates)}")
        if req.needs_model:
            preds = self.backend.predict(model, candidates, req, sel_seed)
        else:
            preds = _no_model_predictions(candidates)
        context = ScoringContext(
            num_classes=self.oracle.num_classes,
            labeled_class_freq=self.oracle.class_frequency(labeled),
        )
        if strategy.uses_pool_stats:
            context = replace(
                context,
                validation_map=validation_map,
                labeled_images_per_class=self.oracle.images_per_class(labeled),
            )
        if req.embedding and req.needs_model and labeled:
            context = replace(context, labeled_embeddings=self._embeddings(model, labeled, seed))
        records = strategy.score_images(preds, context)
        budget = min(self.options.budget, len(candidates))
        selected = strategy.select(records, budget, context, rng=sel_seed)
        chosen = [int(s.image_id) for s in selected]
        if len(set(chosen)) != len(chosen) or set(chosen) & set(labeled):
            raise RuntimeError(f"strategy {strategy.name!r} selected invalid images")
        decision = strategy.decision(context)
        return chosen, decision["strategy"] if decision else strategy.name

    def _embeddings(self, model: Any, labeled: list[int], seed: int) -> torch.Tensor:
        ids = _candidates(labeled, LABELED_EMBEDDING_LIMIT, seed)
        req = Requirements(probs=False, embedding=True)
        preds = self.backend.predict(model, ids, req, seed)
        rows = [p.embedding.reshape(-1).float() for p in preds if p.embedding is not None]
        return torch.stack(rows) if rows else torch.zeros((0, 0))
