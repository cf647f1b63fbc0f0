"""``bench/backtest_validity.py``: verdicts, tallies, merging, and a smoke run end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/ is not installed
from bench import backtest_validity as bench


def _seed(data_seed: int, verdict: str, agrees: bool, decisive: bool) -> dict:
    return {"data_seed": data_seed, "verdict": verdict, "point_estimate_agrees": agrees,
            "test": {"winner_decisive": decisive}}  # fmt: skip


def test_verdict_is_abstained_agree_or_wrong() -> None:
    assert bench.verdict(None, "entropy:vanilla") == "abstained"
    assert bench.verdict("entropy:vanilla", "entropy:vanilla") == "agree"
    assert bench.verdict("random:vanilla", "entropy:vanilla") == "wrong"


def test_tally_counts_every_data_seed_once() -> None:
    seeds = [_seed(0, "agree", True, True), _seed(1, "abstained", False, False),
             _seed(2, "abstained", True, True), _seed(3, "wrong", False, False)]  # fmt: skip
    t = bench.tally(seeds)
    assert t == {"data_seeds": 4, "agree": 1, "abstained": 2, "wrong": 1,
                 "point_estimate_agrees": 2, "test_winner_decisive": 2}  # fmt: skip


def test_merge_joins_per_seed_outputs_and_refuses_repeats(tmp_path: Path) -> None:
    paths = []
    for d, v in ((1, "agree"), (0, "abstained")):
        out = bench.report({"size": 32}, "random,entropy", [_seed(d, v, True, False)], 2.0)
        paths.append(tmp_path / f"v{d}.json")
        paths[-1].write_text(json.dumps(out))
    merged = bench.merge(paths)
    assert [s["data_seed"] for s in merged["per_seed"]] == [0, 1]
    assert merged["overall"]["agree"] == 1 and merged["overall"]["abstained"] == 1
    assert merged["settings"]["strategies"] == "random,entropy" and merged["seconds"] == 4.0
    with pytest.raises(SystemExit):
        bench.merge([paths[0], paths[0]])


def test_too_few_labelled_images_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--profile", "smoke", "--labeled", "10"])
    assert exc.value.code == 2
    assert "needs at least 20 labeled images" in capsys.readouterr().err


def test_smoke_run_reports_a_verdict_per_data_seed(tmp_path: Path) -> None:
    out = bench.main([
        "--profile", "smoke", "--data-seeds", "0,1", "--labeled", "20", "--pool", "12",
        "--test", "6", "--bt-test", "6", "--size", "32", "--out", str(tmp_path / "v.json"),
    ])  # fmt: skip
    assert json.loads((tmp_path / "v.json").read_text()) == out
    assert set(out) >= {"benchmark", "settings", "per_seed", "overall", "seconds"}
    assert [s["data_seed"] for s in out["per_seed"]] == [0, 1]
    labels = {"random:vanilla", "entropy:vanilla"}
    for s in out["per_seed"]:
        assert set(s) >= {"backtest", "test", "verdict", "point_estimate_agrees", "data"}
        assert s["verdict"] in bench.VERDICTS
        assert {run for run, _ in s["backtest"]["ranking"]} == labels
        assert {run for run, _ in s["test"]["ranking"]} == labels
        assert s["test"]["winner"] == s["test"]["ranking"][0][0]
        assert s["data"] == {"replay": 14, "backtest_test": 6, "unlabeled_pool": 12, "test": 6}
        # one seed x two rounds = 2 pairs: the sign test can never decide
        assert s["backtest"]["recommendation"] is None and s["verdict"] == "abstained"
    overall = out["overall"]
    assert overall["agree"] + overall["abstained"] + overall["wrong"] == 2
