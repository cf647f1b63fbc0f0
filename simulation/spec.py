"""What a simulation runs: ``strategy:preset`` run specs and the loop options.

Pure Python (no torch): parsed by the CLI before anything heavy is imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TRAIN_PRESETS = ("vanilla", "huale", "libra", "pisa", "aploss", "retinanet")


@dataclass(frozen=True)
class RunSpec:
    """One curve of the learning-curve plot: an acquisition strategy trained with a preset.

    ``label`` names the curve (default ``"strategy:preset"``); ``params`` are the strategy's
    parameters (validated by ``acquisition.registry.get_strategy`` when the run starts).
    """

    strategy: str
    preset: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not self.strategy:
            raise ValueError("a run needs a strategy name")
        if self.preset not in TRAIN_PRESETS:
            raise ValueError(
                f"unknown train preset {self.preset!r}; expected one of {', '.join(TRAIN_PRESETS)}"
            )
        if not self.label:
            object.__setattr__(self, "label", f"{self.strategy}:{self.preset}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "strategy": self.strategy,
            "preset": self.preset,
            "params": dict(self.params),
        }


def parse_strategies(
    text: str, default_preset: str, params: Mapping[str, Mapping[str, Any]] | None = None
) -> list[RunSpec]:
    """Parse ``"hua:huale,random,entropy:vanilla"`` into run specs.

    An item without ``:preset`` uses ``default_preset``. ``params`` maps a strategy name
    (or a full ``strategy:preset`` label, which wins) to that strategy's parameters.
    Empty items, unknown presets and duplicate labels raise ``ValueError``.
    """
    params = params or {}
    items = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ValueError(f"--strategies needs comma-separated names, got {text!r}")
    specs: list[RunSpec] = []
    for item in items:
        name, _, preset = item.partition(":")
        name, preset = name.strip(), (preset.strip() or default_preset)
        label = f"{name}:{preset}"
        chosen = params.get(label, params.get(name, {}))
        if not isinstance(chosen, Mapping):
            raise ValueError(f"parameters for {label!r} must be a JSON object")
        specs.append(RunSpec(strategy=name, preset=preset, params=dict(chosen), label=label))
    labels = [s.label for s in specs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"--strategies lists {', '.join(dupes)} more than once")
    return specs


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; non-integers, negatives or repeats raise ``ValueError``."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds needs comma-separated integers, got {text!r}") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must be distinct non-negative integers, got {text!r}")
    return seeds


def _json_object(text: str | None, option: str, ok: Any, shape: str) -> dict[str, Any]:
    """Parse ``option``'s JSON; ``{}`` for no text; ``ValueError`` unless ``ok(value)``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict) or not ok(value):
        raise ValueError(f"{option} must be {shape}")
    return value


def parse_params(text: str | None) -> dict[str, dict[str, Any]]:
    """``--strategy-params`` JSON: ``{"hua": {"retrieval_factor": 2}}``; ``None`` -> ``{}``."""
    return _json_object(
        text,
        "--strategy-params",
        lambda v: all(isinstance(p, dict) for p in v.values()),
        'a map of names to objects, e.g. {"hua": {...}}',
    )


def parse_train_overrides(text: str | None) -> dict[str, Any]:
    """``--train-overrides`` JSON: ``TrainConfig.preset`` keys applied to every run, e.g.
    ``{"detector": {"rois_per_image": 64}}``; ``None`` -> ``{}``. Only the JSON shape is
    checked here; the values are checked when the configs are built."""
    return _json_object(
        text, "--train-overrides", lambda v: True, 'an object, e.g. {"detector": {...}}'
    )


@dataclass
class LoopOptions:
    """Schedule of the active-learning loop (the same for every run and seed).

    ``cycles`` counts training rounds INCLUDING the initial one, so the labelled counts are
    ``initial, initial + budget, ..., initial + (cycles - 1) * budget`` (capped by the pool).
    ``score_subset``: score only a random subset of this many unlabelled images per cycle
    (COCO protocol), ``None`` = the whole unlabelled pool. ``iterations``/``batch_size``/
    ``image_size``/``backbone``/``lr`` configure each cycle's fresh detector; ``lr=None``
    keeps the preset's rate.
    """

    initial: int = 20
    budget: int = 20
    cycles: int = 3
    seeds: Sequence[int] = (0,)
    iterations: int = 100
    batch_size: int = 8
    image_size: int = 128
    backbone: str = "tiny"
    lr: float | None = None
    device: str = "cpu"
    score_subset: int | None = None
    eval_batch_size: int = 16

    def __post_init__(self) -> None:
        checks = {
            "initial": self.initial,
            "budget": self.budget,
            "cycles": self.cycles,
            "iterations": self.iterations,
            "batch_size": self.batch_size,
            "image_size": self.image_size,
            "eval_batch_size": self.eval_batch_size,
        }
        bad = [f"{k}={v}" for k, v in checks.items() if not isinstance(v, int) or v < 1]
        if bad:
            raise ValueError(f"need positive integers: {', '.join(bad)}")
        if not self.seeds:
            raise ValueError("need at least one seed")
        if self.score_subset is not None and self.score_subset < 1:
            raise ValueError("score_subset must be positive or None")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    def labeled_counts(self, pool_size: int) -> list[int]:
        """Labelled images at each cycle for a pool of ``pool_size`` images."""
        return [min(pool_size, self.initial + c * self.budget) for c in range(self.cycles)]

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (list(v) if isinstance(v, tuple | list) else v) for k, v in self.__dict__.items()
        }
