"""``alp.cycle_config.CycleConfig``: stored snapshots of any age parse (missing keys take
the defaults they always had), bad types are refused, and the stored JSON keeps its shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alp.cycle_config import CycleConfig
from alp.schemas import PoolSettings


def test_an_empty_or_missing_snapshot_takes_the_old_defaults() -> None:
    for stored in (None, {}):
        cfg = CycleConfig.parse(stored)
        assert (cfg.strategy, cfg.strategy_params, cfg.batch_size) == ("hua", {}, 20)
        assert (cfg.train_preset, cfg.train_overrides, cfg.seed) == ("huale", {}, 0)
        assert cfg.model == "tiny"  # snapshots older than model profiles trained tiny
        assert (cfg.val_fraction, cfg.warm_start, cfg.score_subset) == (0.2, False, None)
        assert (cfg.preannotation_min_score, cfg.preannotation_max_boxes) == (0.05, 20)


def test_an_old_snapshot_keeps_its_values_and_unknown_keys() -> None:
    old = {
        "strategy": "entropy",
        "batch_size": 7,
        "seed": 3,
        "strategy_params": None,  # stored as null by an old version
        "retired_setting": "x",
        "_scoring_context": {"labeled_class_freq": [1.0], "class_quality": None},
    }
    cfg = CycleConfig.parse(old)
    assert (cfg.strategy, cfg.batch_size, cfg.seed, cfg.strategy_params) == ("entropy", 7, 3, {})
    assert cfg.strategy_spec() == ("entropy", {})
    assert cfg.model == "tiny" and cfg.preannotation_max_boxes == 20
    json = cfg.to_json()
    assert "_scoring_context" not in json  # the cache lives in Cycle.scoring_context
    assert json["retired_setting"] == "x" and "model" not in json


def test_pool_settings_snapshot_keeps_the_stored_shape() -> None:
    settings = PoolSettings(strategy="coreset", batch_size=5, model="fast").model_dump()
    cfg = CycleConfig.from_pool_settings(settings)
    assert cfg.to_json() == settings
    assert (cfg.strategy, cfg.batch_size, cfg.model) == ("coreset", 5, "fast")
    assert CycleConfig.parse(cfg) is cfg


@pytest.mark.parametrize(
    "bad",
    [
        {"batch_size": "many"},
        {"seed": [1]},
        {"strategy_params": ["not", "a", "dict"]},
        {"train_overrides": "iterations=5"},
        {"warm_start": "perhaps"},
        {"val_fraction": {"a": 1}},
        {"strategy": 3},
    ],
)
def test_bad_types_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        CycleConfig.parse(bad)
    with pytest.raises(ValueError):  # a ValidationError is a ValueError
        CycleConfig.from_pool_settings(bad)


def test_the_config_is_immutable() -> None:
    cfg = CycleConfig.parse({})
    with pytest.raises(ValidationError):
        cfg.batch_size = 3  # type: ignore[misc]
