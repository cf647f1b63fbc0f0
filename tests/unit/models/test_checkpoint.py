"""Checkpoint round trip: weights, config, class names and metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models.builders import build_detector
from models.checkpoint import load_checkpoint, save_checkpoint
from models.config import TrainConfig


@pytest.mark.parametrize("preset", ["huale", "retinanet"])
def test_round_trip_restores_everything(
    preset: str, tmp_path: Path, tiny_detector_config: Callable
) -> None:
    arch = "retinanet" if preset == "retinanet" else "fasterrcnn"
    config = TrainConfig.preset(preset, detector=tiny_detector_config(arch), lr=0.03, seed=5)
    model = build_detector(config, 2, seed=6)  # differs from a fresh build with config.seed
    metrics = {"map50": 0.5, "per_class": {"cat": {"ap50": None}}}
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt", model, config, ["cat", "dog"], metrics)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))

    loaded, loaded_config, names, loaded_metrics = load_checkpoint(path)
    assert loaded_config == config
    assert names == ["cat", "dog"] and loaded_metrics == metrics
    assert not loaded.training
    state = model.state_dict()
    assert state.keys() == loaded.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in loaded.state_dict().items())
    model.eval()
    image = torch.rand(3, 64, 64)
    with torch.no_grad():
        a, b = model([image])[0], loaded([image])[0]
    torch.testing.assert_close(a["boxes"], b["boxes"])
    torch.testing.assert_close(a["scores"], b["scores"])


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="not an alp detector checkpoint"):
        load_checkpoint(other)
