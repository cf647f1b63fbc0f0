import pytest

from acquisition.records import ScoringContext
from acquisition.registry import (
    describe_strategies,
    get_strategy,
    list_strategies,
    score_and_select,
)
from acquisition.types import ORIGINAL
from tests.unit.acquisition.helpers import full_predictions

EXPECTED = {
    "random",
    "entropy",
    "least_confidence",
    "hua",
    "cald",
    "ppal",
    "coreset",
    "two_stage",
    "mix",
    "typiclust",
    "probcover",
    "auto",
}


def test_all_strategies_registered_with_defaults() -> None:
    assert set(list_strategies()) >= EXPECTED
    info = describe_strategies()
    for name in EXPECTED:
        s = get_strategy(name)
        assert s.default_params == info[name]["default_params"]
        assert s.params.keys() == s.default_params.keys()


@pytest.mark.parametrize(
    ("name", "params", "msg"),
    [
        ("nope", {}, "unknown acquisition strategy 'nope'"),
        ("entropy", {"aggregate": "median"}, "allowed: max, mean, sum"),
        ("entropy", {"bogus": 1}, "no parameter 'bogus'"),
        ("hua", {"retrieval_factor": 0.5}, ">= 1.0"),
        ("hua", {"metrics": []}, "at least one metric"),
        ("ppal", {"max_boxes": 0}, ">= 1"),
        ("two_stage", {"uncertainty": "nope"}, "unknown acquisition strategy"),
        ("two_stage", {"uncertainty_params": {"zz": 1}}, "no parameter 'zz'"),
        ("mix", {"parts": []}, "at least one"),
        ("mix", {"parts": [{"strategy": "entropy", "weight": -1}]}, "non-negative"),
        ("mix", {"parts": [{"strategy": "entropy", "weight": 0}]}, "not all be 0"),
        ("mix", {"parts": [{"strategy": "mix"}]}, "cannot contain another mix"),
    ],
)
def test_bad_configuration_raises_value_error(name: str, params: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        get_strategy(name, **params)


def test_requirements_are_minimal() -> None:
    assert not get_strategy("random").requirements.needs_model
    assert not get_strategy("least_confidence").requirements.probs
    assert get_strategy("entropy").requirements.views == {ORIGINAL}
    assert get_strategy("coreset").requirements.embedding
    assert get_strategy("ppal").requirements.box_features
    mix = get_strategy(
        "mix",
        parts=[{"strategy": "coreset"}, {"strategy": "cald", "params": {"augmentations": "F"}}],
    )
    assert mix.requirements.embedding and "flip" in mix.requirements.views


def test_score_and_select_infers_context() -> None:
    preds = full_predictions(10)
    sel = score_and_select(preds, 3, "entropy")
    assert len(sel) == 3
    assert sel == score_and_select(preds, 3, "entropy", context=ScoringContext(num_classes=3))
    with pytest.raises(ValueError, match="budget"):
        score_and_select(preds, -1, "entropy")
