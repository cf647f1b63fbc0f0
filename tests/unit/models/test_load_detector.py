"""``models.load_detector`` (public API) and ``models.predict.predict_files``: checkpoints
of another format or class count are refused with a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

import models
from models.builders import build_detector
from models.checkpoint import read_checkpoint, save_checkpoint
from models.config import TrainConfig
from models.predict import predict_files

NAMES = ["circle", "square", "triangle"]


@pytest.fixture
def checkpoint(tmp_path: Path, tiny_detector_config) -> Path:
    cfg = TrainConfig.preset("huale", detector=tiny_detector_config())
    model = build_detector(cfg, len(NAMES), seed=0)
    return save_checkpoint(tmp_path / "m.pt", model, cfg, NAMES, {"map50": 0.25})


def test_load_detector_gives_the_model_and_class_names(checkpoint: Path) -> None:
    model, names = models.load_detector(checkpoint)
    assert names == NAMES and not model.training
    assert read_checkpoint(checkpoint)["metrics"] == {"map50": 0.25}


def test_other_format_class_count_or_missing_file_is_refused(
    checkpoint: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}, "epoch": 3}, other)
    with pytest.raises(ValueError, match="not an alp detector checkpoint"):
        models.load_detector(other)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        models.load_detector(tmp_path / "junk.pt")
    blob: dict[str, Any] = torch.load(checkpoint, weights_only=True)
    blob["class_names"] = [*NAMES, "extra"]
    torch.save(blob, tmp_path / "more.pt")
    with pytest.raises(ValueError, match="weights do not fit the stored config"):
        models.load_detector(tmp_path / "more.pt")
    with pytest.raises(FileNotFoundError):
        models.load_detector(tmp_path / "absent.pt")


def test_predict_files_gives_coco_results(
    checkpoint: Path, tmp_path: Path, synthetic_samples: list[dict[str, Any]]
) -> None:
    model, _ = models.load_detector(checkpoint)
    paths = []
    for i, sample in enumerate(synthetic_samples[:3]):
        arr = (sample["image"].permute(1, 2, 0) * 255).byte().numpy()
        paths.append(tmp_path / f"im{i}.png")
        Image.fromarray(arr).save(paths[-1])
    seen: list[tuple[int, int]] = []
    images, results = predict_files(model, paths, batch_size=2, progress=lambda d, t:
                                     seen.append((d, t)))  # fmt: skip
    assert seen == [(2, 3), (3, 3)]
    assert [im["id"] for im in images] == [1, 2, 3] and images[0]["width"] == 64
    assert all(set(r) == {"image_id", "category_id", "bbox", "score"} for r in results)
    assert all(1 <= r["category_id"] <= 3 and r["bbox"][2] >= 0 for r in results)
    (tmp_path / "broken.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="cannot decode image"):
        predict_files(model, [tmp_path / "broken.png"])
