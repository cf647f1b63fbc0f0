"""PPAL end to end in process: a trained cycle's scoring asks inference for per-box
features (``Requirements.box_features``), PPAL's records carry one feature row per kept
detection, and the CCMS k-medoids selection picks ``batch_size`` images; ``alp simulate``
runs PPAL too."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from acquisition.records import unpack_tensor
from alp.cli import app
from alp.db import Cycle, ScoreShard, Selection
from alp.services import cycles
from simulation.synthetic_pool import create_synthetic_pool
from tests.worker.cycle_support import TINY_TRAIN, pool_settings, storage_for
from tests.worker.inprocess import run_stages


@pytest.mark.parametrize("preset", ["vanilla", "aploss"])  # Faster R-CNN, RetinaNet
def test_ppal_cycle_scores_with_box_features_and_selects(sqlite_worker, preset: str) -> None:
    s, sessions = sqlite_worker
    with sessions() as db:
        pool = create_synthetic_pool(
            db, storage_for(s), "ppal", n_labeled=4, n_val=0, n_unlabeled=6, size=64,
            settings=pool_settings(strategy="ppal", batch_size=2, train_preset=preset,
                                   train_overrides={**TINY_TRAIN, "iterations": 4}),
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()
    run_stages(sessions, cycle.id)
    with sessions() as db:
        c = db.get(Cycle, cycle.id)
        assert c.state == "labeling", c.error
        assert c.checkpoint_key is not None, "a model was trained, so PPAL (not random) scored"
        records = [
            e["record"]
            for sh in db.scalars(select(ScoreShard).where(ScoreShard.cycle_id == c.id))
            for e in sh.records
        ]
        assert len(records) == 6
        rows = 0
        for rec in records:
            feats = unpack_tensor(rec["data"]["features"])
            assert feats.shape == (len(rec["data"]["labels"]), 64)
            rows += feats.shape[0]
        assert rows > 0, "some detections (and so features) reached the strategy"
        chosen = db.scalars(select(Selection).where(Selection.cycle_id == c.id)).all()
        assert len(chosen) == 2 and all("uncertainty" in sel.components for sel in chosen)


def test_simulate_runs_ppal(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = ["simulate", "--strategies", "ppal:vanilla", "--seeds", "0", "--out", str(out),
            "--synthetic", "12", "--synthetic-test", "4", "--image-size", "48", "--initial", "4",
            "--budget", "2", "--cycles", "2", "--iterations", "2", "--batch-size", "2",
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with (out / "simulation.csv").open() as fh:
        assert [r["labeled"] for r in csv.DictReader(fh)] == ["4", "6"]
