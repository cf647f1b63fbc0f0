"""The label-efficiency benchmark's run list and target checks (pure Python, no training)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/ is not installed
from bench import label_efficiency as bench


def test_hua_params_reach_every_hua_run_only() -> None:
    specs = bench.run_specs(True, {"retrieval_factor": 1.5})
    labels = [s.label for s in specs]
    assert labels[:6] == [
        "random:vanilla",
        "entropy:vanilla",
        "cald:vanilla",
        "hua:huale",
        "random:huale",
        "hua:vanilla",
    ]
    for s in specs:
        if s.strategy == "hua":
            assert s.params["retrieval_factor"] == 1.5
        else:
            assert dict(s.params) == {}
    ablation = [s for s in specs if s.label.startswith("hua[")]
    assert [s.params["metrics"] for s in ablation] == [[m] for m in bench.HUA_METRICS]


def test_targets_compare_runs_after_the_first_cycle() -> None:
    summary = {
        run: {"mean_after_first": v}
        for run, v in {
            "random:vanilla": 10.0,
            "hua:huale": 13.5,
            "hua:vanilla": 12.0,
            "entropy:vanilla": 12.5,
            "random:huale": 9.0,
        }.items()
    }
    t = bench.targets(summary)
    assert t["hua_huale_minus_random"] == pytest.approx(3.5)
    assert t["hua_huale_ge_random_plus_3"] is True
    assert t["hua_selection_minus_entropy"] == pytest.approx(-0.5)
    assert t["hua_selection_above_random_and_entropy"] is False
    assert bench.targets({})["hua_huale_ge_random_plus_3"] is None


def test_settings_merge_options_onto_the_profile() -> None:
    prof = bench.settings(
        "cpu",
        lr=None,
        iterations=100,
        object_scale="0.1,0.3",
        train_overrides={"detector": {"rois_per_image": 32}, "lr": 0.01},
        seeds="0",
    )
    assert prof["iterations"] == 100 and prof["lr"] == bench.PROFILES["cpu"]["lr"]
    assert prof["object_scale"] == (0.1, 0.3)
    detector = prof["train_overrides"]["detector"]
    assert detector["rois_per_image"] == 32
    assert detector["rpn_post_nms_top_n_train"] == bench.CPU_DETECTOR["rpn_post_nms_top_n_train"]
    assert prof["train_overrides"]["lr"] == 0.01
    assert bench.PROFILES["cpu"]["train_overrides"]["detector"]["rois_per_image"] == 64
    assert "seeds" not in prof


def test_any_run_label_builds_its_spec() -> None:
    spec = bench.spec_for_label(
        "hua[semantic_affinity+overlap_ratio]:huale", {"retrieval_factor": 2}
    )
    assert (spec.strategy, spec.preset) == ("hua", "huale")
    assert spec.params == {"retrieval_factor": 2, "metrics": ["semantic_affinity", "overlap_ratio"]}
    assert spec.label == "hua[semantic_affinity+overlap_ratio]:huale"
    entropy = bench.spec_for_label("entropy:huale", {"retrieval_factor": 2})
    assert (entropy.strategy, entropy.preset, dict(entropy.params)) == ("entropy", "huale", {})


def test_run_labels_carry_parameters() -> None:
    spec = bench.spec_for_label(
        "hua[semantic_affinity]{retrieval_factor=1.5;normalization=rank}:vanilla",
        {"retrieval_factor": 3, "empty_cap": 0},
    )
    assert spec.params == {
        "retrieval_factor": 1.5,
        "empty_cap": 0,
        "normalization": "rank",
        "metrics": ["semantic_affinity"],
    }
    entropy = bench.spec_for_label("entropy{aggregate=sum}:huale", {"retrieval_factor": 2})
    assert dict(entropy.params) == {"aggregate": "sum"}


@pytest.mark.parametrize(
    "label",
    [
        "hua",
        "entropy[x]:vanilla",
        "hua[]:vanilla",
        "hua[semantic_affinity:vanilla",
        "random:nope",
        "hua{retrieval_factor}:vanilla",
        "hua{=1}:vanilla",
        "hua{retrieval_factor=2:vanilla",
    ],
)
def test_malformed_run_labels_are_refused(label: str) -> None:
    with pytest.raises(ValueError):
        bench.spec_for_label(label)


def test_cli_refuses_a_bad_run_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--runs", "hua:vanilla,cald", "--out", "/nonexistent/x"])
    assert exc.value.code == 2
    assert "'cald' is not strategy:preset" in capsys.readouterr().err


def test_cli_refuses_bad_strategy_parameters_with_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--runs", "hua{retrieval_factor=0}:vanilla", "--out", "/nonexistent/x"])
    assert exc.value.code == 2
    assert "'retrieval_factor' must be >= 1.0" in capsys.readouterr().err


def test_budget_strategies_add_typiclust_and_auto_and_their_targets() -> None:
    labels = [s.label for s in bench.run_specs(False, None, budget_strategies=True)]
    assert labels[-2:] == ["typiclust:vanilla", "auto:vanilla"]
    summary = {run: {"mean_after_first": v} for run, v in {
        "random:vanilla": 10.0, "hua:vanilla": 12.0, "typiclust:vanilla": 13.0,
        "auto:vanilla": 12.5}.items()}  # fmt: skip
    t = bench.targets(summary)
    assert t["typiclust_minus_random"] == pytest.approx(3.0)
    assert t["typiclust_minus_hua_selection"] == pytest.approx(1.0)
    assert t["auto_minus_hua_selection"] == pytest.approx(0.5)
    rows = [{"run": "auto:vanilla", "strategy_used": u} for u in ("typiclust", "hua", "hua", "")]
    assert bench.strategies_used(rows) == {"auto:vanilla": {"typiclust": 1, "hua": 2}}
