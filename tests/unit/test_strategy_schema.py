"""The API validates strategy parameters with acquisition's own models
(``acquisition.param_specs``), without torch, and its schema shows their help texts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alp.schemas import STRATEGY_NAMES, PoolSettings


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
        ({"metrics": []}, "needs at least one metric"),
    ],
)
def test_bad_hua_params_rejected(params: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        PoolSettings(strategy="hua", strategy_params=params)
    from acquisition.registry import get_strategy

    with pytest.raises(ValueError):
        get_strategy("hua", **params)


def test_pool_settings_schema_lists_each_strategys_parameters() -> None:
    prop = PoolSettings.model_json_schema()["properties"]["strategy_params"]
    by_strategy = prop["x-strategy-parameters"]
    assert sorted(by_strategy) == sorted(STRATEGY_NAMES)
    hua = by_strategy["hua"]["properties"]["retrieval_threshold"]
    assert hua["description"] == "minimum detection score counted in the retrieval entropy"
    assert (hua["default"], hua["minimum"], hua["maximum"]) == (0.5, 0.0, 1.0)


def test_api_presets_match_models_presets() -> None:
    from alp.schemas import TRAIN_PRESETS
    from models.config import TrainConfig

    for name in TRAIN_PRESETS:
        assert TrainConfig.preset(name).name == name


def test_every_models_preset_is_accepted_by_the_api() -> None:
    from alp.schemas import TRAIN_PRESETS
    from models.config import PRESETS

    assert set(PRESETS) == set(TRAIN_PRESETS)
