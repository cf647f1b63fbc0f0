"""Strategy parameters are declared once (acquisition.param_specs): the registry's strategies
use exactly those models, and every class of bad value gets a clear message."""

from __future__ import annotations

import math

import pytest

from acquisition.param_specs import (
    AUGMENTATION_LETTERS,
    HUA_METRICS,
    STRATEGY_PARAMS,
    check_params,
    params_schema,
)
from acquisition.registry import _REGISTRY, _ensure_builtin


def test_every_registered_strategy_uses_its_declared_model() -> None:
    _ensure_builtin()
    assert sorted(STRATEGY_PARAMS) == sorted(_REGISTRY)
    for name, cls in _REGISTRY.items():
        assert cls.params_model is STRATEGY_PARAMS[name], name


def test_declared_choices_match_the_strategies() -> None:
    from acquisition.strategies import cald, hua

    assert set(AUGMENTATION_LETTERS) == set(cald.AUGMENTATION_LETTERS)
    assert HUA_METRICS == hua.METRICS


@pytest.mark.parametrize(
    ("strategy", "params", "reason"),
    [
        # unknown parameter
        ("hua", {"nope": 1}, "strategy 'hua' has no parameter 'nope'; known parameters: "),
        ("random", {"k": 1}, "known parameters: \\(none\\)"),
        # wrong type
        ("hua", {"retrieval_factor": "3"}, "'retrieval_factor' expects float, got str '3'"),
        ("hua", {"retrieval_factor": True}, "'retrieval_factor' expects float, got bool"),
        ("ppal", {"max_boxes": 2.5}, "'max_boxes' expects int, got float 2.5"),
        ("probcover", {"normalize": 1}, "'normalize' expects bool, got int 1"),
        ("hua", {"metrics": "overlap_ratio"}, "'metrics' expects list, got str"),
        ("auto", {"low_budget_params": []}, "'low_budget_params' expects dict, got list"),
        ("entropy", {"aggregate": 5}, "'aggregate' expects str, got int 5"),
        # null where a value is needed
        ("hua", {"retrieval_factor": None}, "'retrieval_factor' must not be null"),
        # out of range (closed and open bounds), not finite, over the generic limit
        ("hua", {"retrieval_factor": 0.5}, "'retrieval_factor' must be >= 1.0, got 0.5"),
        ("hua", {"diversity_guard": 1.5}, "'diversity_guard' must be <= 1.0, got 1.5"),
        ("ppal", {"alpha": 0}, "'alpha' must be > 0.0, got 0"),
        ("hua", {"empty_cap": math.inf}, "'empty_cap' must be finite"),
        ("ppal", {"max_boxes": 10**7}, "'max_boxes' must lie between -1000000 and 1000000"),
        ("auto", {"low_budget": "x" * 201}, "'low_budget' takes at most 200 characters"),
        # not one of the choices (a value, a list item)
        ("entropy", {"aggregate": "median"}, "'aggregate' got 'median'; allowed: max, mean, sum"),
        ("hua", {"metrics": ["overlap_ratio", "x"]}, "'metrics' got 'x'; allowed: semantic"),
        # the strategy's own rule
        ("hua", {"metrics": []}, "'metrics': needs at least one metric"),
        ("cald", {"augmentations": "FX"}, "'augmentations': unknown augmentation letter 'X'"),
        ("mix", {"parts": [{"strategy": "mix"}]}, "'parts': a mix cannot contain another mix"),
    ],
)
def test_bad_values_are_refused_clearly(strategy: str, params: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_params(strategy, params)


def test_json_values_are_accepted_as_their_python_types() -> None:
    out = check_params("ppal", {"max_boxes": 5.0, "alpha": 1})
    assert out["max_boxes"] == 5 and isinstance(out["max_boxes"], int)
    assert out["alpha"] == 1.0 and isinstance(out["alpha"], float)
    assert check_params("hua", {"metrics": ("entropy",)})["metrics"] == ["entropy"]


def test_defaults_are_fresh_copies() -> None:
    first = check_params("mix", {})
    first["parts"].append({"strategy": "random"})
    assert len(check_params("mix", {})["parts"]) == 2


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'nope'; choose one of auto, cald"):
        check_params("nope", {})


def test_every_parameter_has_a_help_text_in_words() -> None:
    for name, schema in params_schema().items():
        for pname, prop in schema.get("properties", {}).items():
            text = prop.get("description", "")
            assert len(text.split()) >= 2, (name, pname, text)
            assert "tau_" not in text and "=" not in text, (name, pname, text)
