"""The warm-start benchmark's summary and the merge of its parallel runs (no training)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/ is not installed
from bench import warm_start as bench


def _row(seed: int, cycle: int, arm: str, map50: float, cpu: float = 1.0) -> dict:
    return {"seed": seed, "cycle": cycle, "arm": arm, "map50": map50, "train_cpu_s": cpu}


def test_merge_counts_cycle_zero_once_and_pairs_arms(tmp_path: Path, capsys) -> None:
    fresh = [_row(0, 0, "fresh", 10), _row(0, 1, "fresh", 20), _row(0, 2, "fresh", 30)]
    warm = [_row(0, 0, "fresh", 10, cpu=2.0), _row(0, 1, "warm", 26), _row(0, 2, "warm", 32)]
    files = []
    for name, rows in (("f", fresh), ("w", warm)):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps({"rows": rows}))
    bench.main(["--merge", *map(str, files)])
    out = json.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 5
    summary = out["summary"]
    assert summary["map50"] == {"cycle0": {"fresh": 10.0}, "cycle1": {"fresh": 20.0, "warm": 26.0},
                                "cycle2": {"fresh": 30.0, "warm": 32.0}}  # fmt: skip
    assert (summary["warm_minus_fresh"], summary["pairs"]) == (4.0, 2)
