"""Every built-in strategy's parameters, declared once: default, type, bounds, help text.

The strategies (``acquisition.strategies``) validate their keyword arguments against these
models, and the API validates pool settings and backtest requests with the same models
(:func:`check_params`) and shows their help texts in its schema. Pure Python (pydantic
only): importing this module never imports torch.

Cross-parameter checks that need the registry (a delegated strategy's name and its
parameters: ``auto``, ``two_stage``, ``mix``) run when the worker builds the strategy.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from acquisition.params import Int, List, StrategyParams, nullable_int, param, validate_params

__all__ = ["AUGMENTATION_LETTERS", "STRATEGY_PARAMS", "check_params", "strategy_names"]

# hua's ranking metrics (ALGORITHMS §2) and the retrieval entropy as an optional extra one
HuaMetric = Literal[
    "semantic_affinity", "category_diversity", "overlap_ratio", "localization_uncertainty"
]
HUA_METRICS: tuple[str, ...] = HuaMetric.__args__  # type: ignore[attr-defined]
ENTROPY = "entropy"
# CALD's augmentations by letter (the views are named in acquisition.strategies.cald)
AUGMENTATION_LETTERS = "FCDRGSAW"
Aggregate = Literal["max", "mean", "sum"]
Normalization = Literal["minmax", "rank"]


def _check_metrics(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("needs at least one metric")
    if len(set(value)) != len(value):
        raise ValueError("lists a metric twice")
    return value


def _check_augs(value: str) -> str:
    if not value:
        raise ValueError("needs at least one augmentation letter")
    bad = sorted(set(value) - set(AUGMENTATION_LETTERS))
    if bad:
        raise ValueError(f"unknown augmentation letter {bad[0]!r}; use {AUGMENTATION_LETTERS}")
    if len(set(value)) != len(value):
        raise ValueError("repeats an augmentation letter")
    return value


def _check_parts(value: list[Any]) -> list[Any]:
    if not value:
        raise ValueError(
            "needs at least one {'strategy': name, 'weight': w, 'params': {...}} entry"
        )
    for part in value:
        if not isinstance(part, dict) or "strategy" not in part:
            raise ValueError(f"entry {part!r} must be a dict with a 'strategy' key")
        extra = set(part) - {"strategy", "weight", "params"}
        if extra:
            raise ValueError(f"entry {part!r} has unknown key {sorted(extra)[0]!r}")
        w = part.get("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0:
            raise ValueError(f"weight {w!r} must be a non-negative number")
        if part["strategy"] == "mix":
            raise ValueError("a mix cannot contain another mix")
    if sum(float(p.get("weight", 1.0)) for p in value) <= 0:
        raise ValueError("weights must not all be 0")
    return value


class NoParams(StrategyParams):
    """``random`` and ``coreset`` take no parameters."""


class DetectionScoreParams(StrategyParams):
    """``entropy`` and ``least_confidence``."""

    aggregate: Aggregate = param("max", "how the detections' scores combine into the image's")
    score_threshold: float = param(0.05, "detections scoring below this are ignored", ge=0, le=1)
    empty_score: float = param(
        0.0, "score of an image without detections (0: never first, 1: first)", ge=0, le=1e6
    )


class HuaParams(StrategyParams):
    retrieval_factor: float = param(
        3.0, "images retrieved by entropy, as a multiple of the budget", ge=1.0, le=1e6
    )
    entropy_aggregate: Aggregate = param(
        "max", "how the detections' entropies combine into the image's retrieval entropy"
    )
    retrieval_threshold: float = param(
        0.5, "minimum detection score counted in the retrieval entropy", ge=0.0, le=1.0
    )
    empty_entropy: float = param(
        1.0, "retrieval entropy of an image without detections", ge=0, le=1e6
    )
    empty_cap: float = param(
        0.1, "largest share of the retrieved images that may have no detections", ge=0, le=1
    )
    rank_threshold: float = param(
        0.05, "minimum detection score counted in the ranking metrics", ge=0, le=1
    )
    metrics: List[Literal[HuaMetric, "entropy"]] = param(
        list(HUA_METRICS), "ranking metrics ('entropy' adds the retrieval entropy)"
    )
    normalization: Normalization = param(
        "minmax", "how each metric is normalised over the retrieved images"
    )
    sa_variant: Literal["js", "iou"] = param("js", "form of the semantic affinity metric")
    cd_variant: Literal["views", "pool"] = param(
        "views", "what category diversity compares an image's classes with"
    )
    cd_histogram: Literal["max", "count"] = param(
        "max", "class histogram: highest probability or detection count per class"
    )
    box_weights: Literal["uniform", "score"] = param(
        "uniform", "per-box means of the metrics: plain or weighted by detection score"
    )
    overlap_threshold: float = param(
        0.3, "box overlap (IoU) from which two detections count as overlapping", ge=0.0, le=1.0
    )
    overlap_views: Literal["orig", "max"] = param(
        "orig", "overlap ratio on the original image or the larger of original and flipped"
    )
    localization: Literal["auto", "sigma", "flip_iou"] = param(
        "auto", "localization uncertainty from the sigma head, from flip IoU, or auto"
    )
    diversity_guard: float | None = param(
        None,
        "skip images whose class histogram cosine similarity with a chosen one exceeds this "
        "(null: off)",
        ge=0.0,
        le=1.0,
    )

    _metrics = field_validator("metrics")(_check_metrics)


class CaldParams(StrategyParams):
    augmentations: str = param(
        "FCDR",
        "letters: F flip, C cutout, D downscale, R rotate, G noise, S salt-pepper, "
        "A colour adjust, W colour swap",
    )
    base_point: float = param(1.3, "consistency base point beta, between 0 and 2", ge=0, le=2)
    candidate_ratio: float = param(1.2, "stage 1 keeps this multiple of the budget", ge=1.0, le=1e6)
    score_threshold: float = param(0.05, "detections scoring below this are ignored", ge=0, le=1)
    stage2: Literal["js", "uniform", "none"] = param(
        "js", "stage 2: class-distribution divergence (CALD), uniform classes, or none"
    )

    _augmentations = field_validator("augmentations")(_check_augs)


class PpalParams(StrategyParams):
    alpha: float = param(0.3, "shape of the difficulty curve", gt=0.0, le=10.0)
    u_b: float = param(0.2, "largest extra weight for difficulty", ge=0.0, le=10.0)
    score_threshold: float = param(0.05, "detections scoring below this are ignored", ge=0, le=1)
    pool_factor: float = param(4.0, "candidates, as a multiple of the budget", ge=1.0, le=1e6)
    max_boxes: Int = param(30, "top-scoring boxes per image kept for image similarity", ge=1)
    kmedoids_iterations: Int = param(100, "k-medoids rounds", ge=0, le=100_000)


class TwoStageParams(StrategyParams):
    uncertainty: str = param("entropy", "the first-stage strategy")
    uncertainty_params: dict[str, Any] = param({}, "the first-stage strategy's parameters")
    factor: float = param(3.0, "candidates, as a multiple of the budget", ge=1.0, le=1e6)


class MixParams(StrategyParams):
    parts: List[Any] = param(
        [{"strategy": "entropy", "weight": 1.0}, {"strategy": "hua", "weight": 1.0}],
        "the strategies mixed: [{'strategy': name, 'weight': w, 'params': {...}}, ...]",
    )
    normalize: Normalization = param("minmax", "how each part's scores are normalised")

    _parts = field_validator("parts")(_check_parts)


class TypiclustParams(StrategyParams):
    neighbours: Int = param(20, "nearest neighbours that measure typicality", ge=1, le=1000)
    max_clusters: Int = param(
        1000, "most clusters (labelled images plus the budget)", ge=1, le=100_000
    )
    min_cluster_size: Int = param(
        2, "smaller clusters are used only when larger ones are exhausted", ge=1
    )
    normalize: bool = param(True, "L2-normalise embeddings before clustering")
    iterations: Int = param(
        50, "k-means iterations (mini-batch steps for big pools)", ge=1, le=10_000
    )


class ProbcoverParams(StrategyParams):
    delta: float | None = param(None, "ball radius (null: chosen by purity)", gt=0.0)
    purity: float = param(0.95, "ball purity that chooses the radius", ge=0.0, le=1.0)
    normalize: bool = param(True, "L2-normalise embeddings first")
    max_points: Int = param(20_000, "larger pools: a seeded subset of this size", ge=1)


class AutoParams(StrategyParams):
    low_budget: str = param("typiclust", "strategy while the pool is small")
    low_budget_params: dict[str, Any] = param({}, "the small-pool strategy's parameters")
    high_budget: str = param("hua", "strategy once the pool is past the low budget")
    high_budget_params: dict[str, Any] = param({}, "the large-pool strategy's parameters")
    min_images_per_class: nullable_int(ge=0) = param(  # type: ignore[valid-type]
        20, "small while a class has fewer labelled images (null: rule off)"
    )
    min_validation_map: float | None = param(
        None, "small while validation mAP@0.5 is below this (null: rule off)", ge=0.0, le=1.0
    )


STRATEGY_PARAMS: dict[str, type[StrategyParams]] = {
    "auto": AutoParams,
    "cald": CaldParams,
    "coreset": NoParams,
    "entropy": DetectionScoreParams,
    "hua": HuaParams,
    "least_confidence": DetectionScoreParams,
    "mix": MixParams,
    "ppal": PpalParams,
    "probcover": ProbcoverParams,
    "random": NoParams,
    "two_stage": TwoStageParams,
    "typiclust": TypiclustParams,
}
"""Parameters by strategy name (the registry's names; a test keeps them equal)."""


def strategy_names() -> list[str]:
    """The built-in strategies' names, sorted."""
    return sorted(STRATEGY_PARAMS)


def check_params(strategy: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` over ``strategy``'s defaults, validated (``ValueError`` with the reason)."""
    if strategy not in STRATEGY_PARAMS:
        raise ValueError(
            f"unknown strategy {strategy!r}; choose one of {', '.join(strategy_names())}"
        )
    return validate_params(strategy, STRATEGY_PARAMS[strategy], params)


def params_schema() -> dict[str, Any]:
    """``{strategy: JSON schema of its parameters}`` (defaults, bounds, help texts)."""
    return {name: STRATEGY_PARAMS[name].model_json_schema() for name in strategy_names()}
