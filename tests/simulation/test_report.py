"""Summary statistics and output files of ``alp simulate`` (no torch)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from simulation.report import FIELDS, aulc, selection_mix, summarize, write_outputs


def _rows() -> list[dict]:
    rows = []
    for seed, offset in ((0, 0.0), (1, 2.0)):
        for cycle, (labeled, m) in enumerate(((10, 20.0), (20, 30.0), (30, 40.0))):
            rows.append(
                {
                    "run": "hua:huale",
                    "strategy": "hua",
                    "preset": "huale",
                    "seed": seed,
                    "cycle": cycle,
                    "labeled": labeled,
                    "map50": m + offset,
                    "coco_ap": (m + offset) / 2,
                    "val_map50": None,
                    "val_coco_ap": None,
                    "train_s": 1.0,
                    "eval_s": 0.5,
                    "score_s": 0.2,
                    "time_s": 1.7,
                    "shared": False,
                }
            )
    return rows


def test_aulc_is_mean_height() -> None:
    assert aulc([10, 20, 30], [20, 30, 40]) == pytest.approx(30.0)
    assert aulc([0, 10, 30], [0, 10, 10]) == pytest.approx((50 + 200) / 30)
    assert aulc([5], [7.0]) == 7.0
    with pytest.raises(ValueError):
        aulc([], [])


def test_summarize_mean_std_over_seeds() -> None:
    s = summarize(_rows())["hua:huale"]
    assert s["labeled"] == [10, 20, 30]
    assert s["mean"] == [21.0, 31.0, 41.0]
    assert s["std"] == [pytest.approx(1.414, abs=1e-3)] * 3
    assert s["mean_over_cycles"] == 31.0
    assert s["mean_after_first"] == 36.0
    assert s["aulc"] == 31.0
    assert s["per_seed"]["1"] == [22.0, 32.0, 42.0]
    assert summarize(_rows(), "coco_ap")["hua:huale"]["mean"][0] == 10.5


def test_incomplete_seed_is_cut_to_common_cycles() -> None:
    rows = [r for r in _rows() if not (r["seed"] == 1 and r["cycle"] == 2)]
    assert summarize(rows)["hua:huale"]["labeled"] == [10, 20]


def test_selection_mix_sums_over_seeds_and_cycles() -> None:
    rows = _rows()
    rows[0].update(chosen=2, chosen_boxes=3, chosen_empty=1, chosen_class_boxes=[3, 0])
    rows[3].update(chosen=2, chosen_boxes=5, chosen_empty=0, chosen_class_boxes=[1, 4])
    mix = selection_mix(rows)
    assert mix == {
        "images": 4,
        "boxes_per_image": 2.0,
        "empty_share": 0.25,
        "class_share": [0.5, 0.5],
    }
    assert summarize(rows)["hua:huale"]["selection"] == mix
    assert selection_mix(_rows()) is None  # rows without selection columns (older files)


def test_write_outputs(tmp_path: Path) -> None:
    rows = _rows()
    rows[0].update(chosen=2, chosen_boxes=3, chosen_empty=1, chosen_class_boxes=[3, 0])
    paths = write_outputs(rows, tmp_path / "out", {"note": "x"})
    with paths["csv"].open() as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == list(FIELDS) and len(table) == 6
    assert table[0]["val_map50"] == ""
    assert table[0]["chosen_class_boxes"] == "3;0" and table[1]["chosen_class_boxes"] == ""
    payload = json.loads(paths["json"].read_text())
    assert payload["config"] == {"note": "x"}
    assert payload["summary"]["map50"]["hua:huale"]["aulc"] == 31.0
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "png" not in write_outputs([], tmp_path / "empty", {})
