"""Run-spec parsing and loop options of ``alp simulate`` (pure, no torch)."""

from __future__ import annotations

import pytest

from simulation.spec import (
    LoopOptions,
    RunSpec,
    parse_params,
    parse_seeds,
    parse_strategies,
)


def test_strategy_preset_pairs_and_default_preset() -> None:
    specs = parse_strategies("hua:huale, random ,entropy:vanilla", "pisa")
    assert [(s.strategy, s.preset, s.label) for s in specs] == [
        ("hua", "huale", "hua:huale"),
        ("random", "pisa", "random:pisa"),
        ("entropy", "vanilla", "entropy:vanilla"),
    ]


def test_params_by_name_and_label_label_wins() -> None:
    params = {"hua": {"retrieval_factor": 2.0}, "hua:vanilla": {"metrics": ["overlap_ratio"]}}
    specs = parse_strategies("hua:huale,hua:vanilla", "vanilla", params)
    assert specs[0].params == {"retrieval_factor": 2.0}
    assert specs[1].params == {"metrics": ["overlap_ratio"]}


@pytest.mark.parametrize("text", ["", "hua,,random", "hua:nope", "hua,hua:vanilla"])
def test_bad_strategy_lists_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_strategies(text, "vanilla")


def test_seeds_and_params_parsing() -> None:
    assert parse_seeds("0,1,2") == [0, 1, 2]
    for bad in ("a", "1,1", "-1", ""):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    assert parse_params(None) == {}
    assert parse_params('{"hua": {"x": 1}}') == {"hua": {"x": 1}}
    for bad in ("{", "[1]", '{"hua": 3}'):
        with pytest.raises(ValueError):
            parse_params(bad)


def test_loop_options_validate_and_count() -> None:
    opts = LoopOptions(initial=10, budget=5, cycles=4)
    assert opts.labeled_counts(100) == [10, 15, 20, 25]
    assert opts.labeled_counts(17) == [10, 15, 17, 17]
    assert opts.to_dict()["seeds"] == [0]
    for bad in ({"budget": 0}, {"cycles": -1}, {"seeds": ()}, {"score_subset": 0}, {"lr": 0.0}):
        with pytest.raises(ValueError):
            LoopOptions(**bad)


def test_run_spec_label_default() -> None:
    assert RunSpec("cald", "vanilla").label == "cald:vanilla"
    assert RunSpec("cald", "vanilla").to_dict()["params"] == {}
