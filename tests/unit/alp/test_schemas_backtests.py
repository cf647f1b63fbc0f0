"""The torch-free backtest plan: ``strategy:preset`` parsing and validation, the size
check, the training count and the estimate (the API and the engine share them)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alp.schemas_backtests import (
    BacktestCreate,
    check_size,
    estimate_s,
    parse_runs,
    required_labeled,
    trainings,
)


def test_parse_runs_defaults_the_preset_and_validates_parameters() -> None:
    runs = parse_runs(["typiclust", "random:huale"], "vanilla", {"typiclust": {"neighbours": 10}})
    assert [(r.label, r.params) for r in runs] == [
        ("typiclust:vanilla", {"neighbours": 10}), ("random:huale", {})]  # fmt: skip
    # a full label wins over the bare name
    both = {"typiclust": {"neighbours": 5}, "typiclust:libra": {"neighbours": 7}}
    (run,) = parse_runs(["typiclust:libra"], "vanilla", both)
    assert run.params == {"neighbours": 7}


@pytest.mark.parametrize(
    ("items", "params", "reason"),
    [
        (["nosuch"], {}, "unknown strategy 'nosuch'"),
        (["random:fast"], {}, "unknown train preset 'fast'"),
        (["random", "random:vanilla"], {}, "more than once"),
        (["typiclust"], {"typiclust": {"bogus": 1}}, "has no parameter 'bogus'"),
        (["typiclust"], {"typiclust": {"neighbours": "many"}}, "expects int"),
        (["random"], {"hua": {}}, "not in strategies"),
    ],
)
def test_parse_runs_rejects_with_a_reason(items: list, params: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_runs(items, "vanilla", params)


def test_size_check_and_estimate() -> None:
    assert required_labeled(20, 10, 3, 40) == 90
    check_size(90, 20, 10, 3, 40)
    with pytest.raises(ValueError, match="needs at least 90 labeled images; the pool has 89"):
        check_size(89, 20, 10, 3, 40)
    assert trainings(2, 1, 3, 4) == 2 * (1 + 3 * 3)
    runs = parse_runs(["random", "entropy", "hua:huale"], "vanilla", {})
    # 2 seeds x (2 presets + 3 runs x 2 later cycles) x 50 steps x 0.1 s
    assert estimate_s(0.1, 2, runs, 3, 50) == pytest.approx(2 * (2 + 3 * 2) * 50 * 0.1)


def test_request_bounds() -> None:
    BacktestCreate(strategies=["random"])
    for bad in ({"strategies": []}, {"strategies": ["random"], "rounds": 0},
                {"strategies": ["random"], "model": {"backbone": "vgg"}},
                {"strategies": ["random"], "surprise": 1}):  # fmt: skip
        with pytest.raises(ValidationError):
            BacktestCreate(**bad)
