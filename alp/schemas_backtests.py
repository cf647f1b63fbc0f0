"""Backtest requests and answers (issue 22), and the torch-free plan checks the API runs
before anything is queued: ``strategy:preset`` parsing and parameter validation (the same
models as pool settings, :mod:`acquisition.param_specs`), the size check and the run-time estimate.

The backtest engine (:mod:`simulation.backtest`) uses :func:`required_labeled`,
:func:`check_size` and :func:`trainings` from here, so the API and the engine agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from acquisition import param_specs
from alp.schemas_cycles import JobOut

TRAIN_PRESETS = ("vanilla", "huale", "libra", "pisa", "aploss", "retinanet")
BACKBONES = ("tiny", "mobilenet_v3_large_fpn", "resnet50_fpn")
MAX_STRATEGIES = 8
# Seconds per SGD step of the tiny detector at batch 8 and 128 px on one CPU core, used
# when the pool has no trained cycle to measure its own speed from.
DEFAULT_STEP_S = 0.15
REFERENCE_PIXELS = 8 * 128 * 128


class ModelProfile(BaseModel):
    """The detector every replayed cycle trains (fresh, like ``alp simulate``); unset
    fields come from the pool's ``train_overrides`` (``detector.backbone``,
    ``detector.min_size``, ``iterations``, ``batch_size``), then the simulate defaults."""

    model_config = ConfigDict(extra="forbid")
    backbone: str | None = Field(None, description=f"One of {', '.join(BACKBONES)}.")
    image_size: int | None = Field(None, ge=16, le=2048, description="Square input side (px).")
    iterations: int | None = Field(None, ge=1, le=100_000, description="SGD steps per training.")
    batch_size: int | None = Field(None, ge=1, le=256)

    @field_validator("backbone")
    @classmethod
    def _backbone(cls, v: str | None) -> str | None:
        if v is not None and v not in BACKBONES:
            raise ValueError(f"unknown backbone {v!r}; choose one of {', '.join(BACKBONES)}")
        return v


class BacktestCreate(BaseModel):
    """``POST /pools/{id}/backtests``. ``rounds`` counts selection rounds after the initial
    set (labelled counts: initial, initial + budget, ...); seeds are ``0 .. seeds - 1``."""

    model_config = ConfigDict(extra="forbid")
    strategies: list[str] = Field(
        ..., min_length=1, max_length=MAX_STRATEGIES,
        description="`strategy` or `strategy:preset` (default preset: the pool's).",
    )  # fmt: skip
    strategy_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Parameters by strategy name or `strategy:preset` label (label wins).",
    )
    include_references: bool = Field(
        True, description="Add `random` and the pool's current strategy when not listed."
    )
    initial: int = Field(20, ge=1, le=100_000)
    budget: int = Field(20, ge=1, le=100_000)
    rounds: int = Field(3, ge=1, le=50)
    seeds: int = Field(3, ge=1, le=20)
    test_size: int = Field(50, ge=1, le=100_000, description="Held-out labelled images.")
    model: ModelProfile = Field(default_factory=ModelProfile)
    time_limit_s: int = Field(3600, ge=10, le=7 * 24 * 3600)


class RunPlan(BaseModel):
    label: str
    strategy: str
    preset: str
    params: dict[str, Any] = Field(default_factory=dict)


class BacktestOut(BaseModel):
    id: int
    pool_id: int
    state: str
    request: dict[str, Any]
    runs: list[RunPlan]
    estimate_s: float
    required_labeled: int
    error: str | None = None
    results: dict[str, Any] | None = None
    created_at: datetime
    finished_at: datetime | None = None
    job: JobOut | None = None


def parse_runs(
    items: list[str], default_preset: str, params: dict[str, dict[str, Any]]
) -> list[RunPlan]:
    """Validated runs; ``ValueError`` naming the first unknown strategy, preset or
    parameter, or a duplicate."""
    out: list[RunPlan] = []
    for item in items:
        name, _, preset = item.strip().partition(":")
        name, preset = name.strip(), preset.strip() or default_preset
        if name not in param_specs.STRATEGY_PARAMS:
            known = ", ".join(param_specs.strategy_names())
            raise ValueError(f"unknown strategy {name!r}; choose one of {known}")
        if preset not in TRAIN_PRESETS:
            raise ValueError(f"unknown train preset {preset!r} in {item!r}; choose one of "
                             f"{', '.join(TRAIN_PRESETS)}")  # fmt: skip
        label = f"{name}:{preset}"
        chosen = dict(params.get(label, params.get(name, {})))
        param_specs.check_params(name, chosen)
        if any(r.label == label for r in out):
            raise ValueError(f"strategies list {label} more than once")
        out.append(RunPlan(label=label, strategy=name, preset=preset, params=chosen))
    unused = sorted(set(params) - {k for r in out for k in (r.label, r.strategy)})
    if unused:
        raise ValueError(f"strategy_params names {unused[0]!r}, which is not in strategies")
    return out


def required_labeled(initial: int, budget: int, rounds: int, test_size: int) -> int:
    """Labelled images a backtest needs: the initial set, every round's budget, the test
    part."""
    return int(initial) + int(rounds) * int(budget) + int(test_size)


def check_size(n_labeled: int, initial: int, budget: int, rounds: int, test_size: int) -> None:
    """``ValueError`` saying how many labelled images are needed when there are too few."""
    need = required_labeled(initial, budget, rounds, test_size)
    if n_labeled < need:
        raise ValueError(
            f"a backtest with {initial} initial images, {rounds} rounds of {budget} and a "
            f"test part of {test_size} needs at least {need} labeled images; the pool has "
            f"{n_labeled}"
        )


def trainings(n_seeds: int, presets: int, runs: int, cycles: int) -> int:
    """Detector trainings of a replay: cycle-0 models are shared per preset and seed."""
    return int(n_seeds) * (int(presets) + int(runs) * max(0, int(cycles) - 1))


def estimate_s(step_s: float, n_seeds: int, runs: list[RunPlan], cycles: int, iters: int) -> float:
    """Run time: trainings x steps x seconds per step (evaluation and scoring not counted)."""
    presets = len({r.preset for r in runs})
    return float(trainings(n_seeds, presets, len(runs), cycles) * iters * step_s)
