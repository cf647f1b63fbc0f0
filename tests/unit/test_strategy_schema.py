"""The API's copy of the strategy parameter schema matches acquisition's registry, and
pool settings are validated against it without torch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from pydantic import ValidationError

from alp.schemas import STRATEGY_NAMES, PoolSettings

ROOT = Path(__file__).resolve().parents[2]


def _exporter():
    spec = importlib.util.spec_from_file_location(
        "export_strategy_schema", ROOT / "scripts" / "export_strategy_schema.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_exported_schema_is_current() -> None:
    exporter = _exporter()
    assert (ROOT / "alp" / "strategy_params.json").read_text() == exporter.render(), (
        "run: .venv/bin/python scripts/export_strategy_schema.py"
    )


def test_names_match_registry() -> None:
    from acquisition.registry import list_strategies

    assert sorted(STRATEGY_NAMES) == sorted(list_strategies())


def test_every_default_passes_api_validation() -> None:
    from acquisition.registry import describe_strategies

    for name, info in describe_strategies().items():
        PoolSettings(strategy=name, strategy_params=info["default_params"])


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"nope": 1}, "has no parameter 'nope'"),
        ({"retrieval_factor": "x"}, "expects float"),
        ({"retrieval_factor": 0.5}, "must be >= 1.0"),
        ({"entropy_aggregate": "median"}, "allowed: max, mean, sum"),
    ],
)
def test_bad_hua_params_rejected(params: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        PoolSettings(strategy="hua", strategy_params=params)
    from acquisition.registry import get_strategy

    with pytest.raises(ValueError):
        get_strategy("hua", **params)


def test_api_presets_match_models_presets() -> None:
    from alp.schemas import TRAIN_PRESETS
    from models.config import TrainConfig

    for name in TRAIN_PRESETS:
        assert TrainConfig.preset(name).name == name


def test_every_models_preset_is_accepted_by_the_api() -> None:
    from alp.schemas import TRAIN_PRESETS
    from models.config import PRESETS

    assert set(PRESETS) == set(TRAIN_PRESETS)
