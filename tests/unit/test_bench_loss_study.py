"""bench/loss_study.py end to end at the smoke profile's size (two training steps)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/ is not installed
from bench import loss_study as bench


def test_loss_study_reports_validation_map_per_seed() -> None:
    out = bench.main(
        [
            "--profile",
            "smoke",
            "--pool",
            "20",
            "--labelled",
            "4",
            "--seeds",
            "0,1",
            "--heads",
            '{"eiou_weight": 5}',
            "--threads",
            "1",
        ]
    )
    assert out["data"]["val"] == 8 and out["data"]["test"] == 0
    assert [r["seed"] for r in out["runs"]] == [0, 1]
    assert all(0.0 <= r["val_map50"] <= 100.0 for r in out["runs"])
    assert out["heads"] == {"eiou_weight": 5}


def test_loss_study_refuses_more_labelled_images_than_the_pool() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--profile", "smoke", "--pool", "20", "--labelled", "50"])
