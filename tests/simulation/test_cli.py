"""``alp simulate`` end to end on a tiny synthetic set (real tiny detectors, CPU)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from alp.cli import app
from simulation.cli import _RichEvents
from simulation.loop import CycleRow

TINY = [
    "--synthetic",
    "16",
    "--synthetic-test",
    "6",
    "--image-size",
    "48",
    "--initial",
    "4",
    "--budget",
    "3",
    "--cycles",
    "2",
    "--iterations",
    "2",
    "--batch-size",
    "2",
    "--no-progress",
]


def test_simulate_writes_csv_json_png(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--strategies",
            "hua:huale,random:vanilla",
            "--seeds",
            "0",
            "--out",
            str(out),
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.output
    with (out / "simulation.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["run"], r["cycle"], r["labeled"]) for r in rows] == [
        ("hua:huale", "0", "4"),
        ("hua:huale", "1", "7"),
        ("random:vanilla", "0", "4"),
        ("random:vanilla", "1", "7"),
    ]
    assert all(0.0 <= float(r["map50"]) <= 100.0 for r in rows)
    payload = json.loads((out / "simulation.json").read_text())
    assert payload["config"]["data"]["eval_split"] == "test"
    assert set(payload["summary"]["map50"]) == {"hua:huale", "random:vanilla"}
    assert (out / "simulation.png").read_bytes()[:4] == b"\x89PNG"


def test_simulate_rejects_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = [
        ["--strategies", "hua:nosuchpreset"],
        ["--seeds", "x"],
        ["--strategies", "nosuchstrategy"],
        ["--initial", "99"],
        ["--strategy-params", "{oops"],
        ["--train-overrides", "{oops"],
        ["--train-overrides", "[1]"],
        ["--train-overrides", '{"nosuchkey": 1}'],
        ["--train-overrides", '{"lr": "fast"}'],
        ["--train-overrides", '{"detector": {"rois_per_image": "many"}}'],
    ]
    for extra in bad:
        result = runner.invoke(app, ["simulate", "--out", str(tmp_path), *TINY, *extra])
        assert result.exit_code == 2, (extra, result.output)
    assert not (tmp_path / "simulation.csv").exists()


def test_unknown_strategy_is_reported_before_the_dataset_is_read(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [], "annotations": [], "categories": []}')
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--out",
            str(tmp_path),
            "--no-progress",
            "--strategies",
            "nosuch",
            "--dataset",
            str(broken),
        ],
    )
    assert result.exit_code == 2
    assert "unknown acquisition strategy 'nosuch'" in result.output


def test_errors_and_progress_rows_show_brackets_verbatim(tmp_path: Path) -> None:
    """Run labels such as ``hua[semantic_affinity]:vanilla`` are not rich markup."""
    result = CliRunner().invoke(
        app, ["simulate", "--out", str(tmp_path), *TINY, "--strategies", "hua[semantic_affinity]"]
    )
    assert result.exit_code == 2
    assert "'hua[semantic_affinity]'" in " ".join(result.output.split())

    console = Console(file=io.StringIO(), width=200)
    events = _RichEvents(Progress(console=console), total_cycles=1)
    row = CycleRow(
        run="hua[semantic_affinity]:vanilla",
        strategy="hua",
        preset="vanilla",
        seed=0,
        cycle=1,
        labeled=60,
        map50=43.4,
        coco_ap=21.5,
        val_map50=None,
        val_coco_ap=None,
        train_s=1.0,
        eval_s=1.0,
        score_s=1.0,
        time_s=3.0,
    )
    events("cycle", run=row.run, seed=0, cycle=1, labeled=60)
    events("row", row=row)
    assert "hua[semantic_affinity]:vanilla seed 0 cycle 1" in console.file.getvalue()


def test_simulate_applies_train_overrides(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    overrides = {"detector": {"rois_per_image": 16}, "lr": 0.01}
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--strategies",
            "random:vanilla",
            "--out",
            str(out),
            "--train-overrides",
            json.dumps(overrides),
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "simulation.json").read_text())
    assert payload["config"]["train_overrides"] == overrides
