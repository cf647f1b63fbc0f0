"""Strategy registry: look strategies up by name with validated parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from acquisition.base import Rng, Strategy
from acquisition.records import ScoringContext, Selected
from acquisition.types import ImagePrediction

_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Register a strategy class under ``cls.name`` (usable as a decorator)."""
    name = getattr(cls, "name", None)
    if not name:
        raise ValueError(f"{cls.__name__} has no name")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"strategy name {name!r} is already registered")
    _REGISTRY[name] = cls
    return cls


def list_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    _ensure_builtin()
    return sorted(_REGISTRY)


def describe_strategies() -> dict[str, dict[str, Any]]:
    """``{name: {"description": str, "default_params": dict}}`` for every strategy."""
    _ensure_builtin()
    return {
        n: {"description": c.description, "default_params": c.default_params_of()}
        for n, c in sorted(_REGISTRY.items())
    }


def get_strategy(name: str, **params: Any) -> Strategy:
    """Instantiate strategy ``name`` with ``params`` merged over its defaults.

    Unknown name, unknown parameter or bad value -> ``ValueError`` with a clear message.
    """
    _ensure_builtin()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"unknown acquisition strategy {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name](**params)


def score_and_select(
    preds: Sequence[ImagePrediction],
    budget: int,
    strategy: str | Strategy = "hua",
    params: Mapping[str, Any] | None = None,
    context: ScoringContext | None = None,
    rng: Rng = None,
) -> list[Selected]:
    """In-process convenience: phase 1 on every prediction, then phase 2.

    ``context`` defaults to ``ScoringContext(num_classes=C)`` with C inferred from the first
    prediction's probability vectors (needs at least one prediction with a view).
    """
    if isinstance(strategy, Strategy) and params:
        raise ValueError("pass params only together with a strategy name")
    strat = strategy if isinstance(strategy, Strategy) else get_strategy(strategy, **(params or {}))
    if context is None:
        context = ScoringContext(num_classes=_infer_num_classes(preds))
    records = strat.score_images(preds, context)
    return strat.select(records, budget, context, rng)


def _infer_num_classes(preds: Sequence[ImagePrediction]) -> int:
    for p in preds:
        for v in p.views.values():
            c = int(v.probs.shape[-1]) - (1 if p.has_background else 0)
            if c >= 1:
                return c
    return 1


_LOADED = False


def _ensure_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    from acquisition.strategies.builtin import BUILTIN

    for cls in BUILTIN:
        register(cls)
    _LOADED = True
