"""Checkpoints: weights + training config + class names + metrics in one ``torch.save`` file.

The file holds only tensors and JSON-like values, so it loads with ``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.builders import LAYOUT_ATTR, LAYOUTS, build_detector
from models.config import TrainConfig
from models.weights import write_atomically

FORMAT = "alp-detector"
VERSION = 1


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: TrainConfig,
    class_names: Sequence[str],
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights (moved to CPU), ``config``, ``class_names`` and ``metrics``
    (JSON-like) to ``path`` atomically (temp file + rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": _portable(config, model),
        "class_names": [str(c) for c in class_names],
        "metrics": dict(metrics or {}),
    }
    return _write(path, blob)


def update_metrics(path: str | Path, metrics: dict[str, Any]) -> Path:
    """Replace the stored ``metrics`` (JSON-like) of the checkpoint at ``path``, atomically."""
    blob = read_checkpoint(path)
    blob["metrics"] = dict(metrics)
    return _write(Path(path), blob)


def _write(path: Path, blob: dict[str, Any]) -> Path:
    return write_atomically(path, lambda tmp: torch.save(blob, tmp))


def _portable(config: TrainConfig, model: nn.Module) -> dict[str, Any]:
    """``config`` as a dict with a checkpoint-path ``detector.weights`` (warm start)
    replaced by the weight layout the model was built with (``coco``, ``none``, ...)."""
    data = config.to_dict()
    if data["detector"]["weights"] not in LAYOUTS:
        data["detector"]["weights"] = getattr(model, LAYOUT_ATTR, "none")
    return data


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict (CPU tensors); ``ValueError`` if it is not an alp checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise ValueError(f"{path} is not a readable checkpoint: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not an alp detector checkpoint")
    if int(blob.get("version", 0)) > VERSION:
        raise ValueError(f"{path} has checkpoint version {blob['version']} > {VERSION}")
    return blob


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig, list[str], dict[str, Any]]:
    """Rebuild the detector from a checkpoint: ``(model in eval mode on device, config,
    class_names, metrics)``. Nothing is downloaded or read besides ``path`` (the stored
    weights replace any pretrained initialisation; a checkpoint path in the stored config
    is not followed). ``ValueError`` if the file is not an alp checkpoint or its weights
    do not fit its config."""
    blob = read_checkpoint(path)
    config = TrainConfig.from_dict(blob["config"])
    class_names = list(blob["class_names"])
    if config.detector.weights not in LAYOUTS:  # older checkpoints stored the path
        config.detector.weights = "none"
    model = build_detector(config, len(class_names), load=False)
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit the stored config: {exc}") from exc
    model.to(torch.device(device)).eval()
    return model, config, class_names, dict(blob.get("metrics", {}))


def load_detector(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, list[str]]:
    """Public API: the trained detector of an alp checkpoint (e.g. downloaded from
    ``GET /cycles/{id}/model``) in eval mode on ``device``, and its class names.

    ``model([image (3, H, W) float in [0, 1]])`` returns torchvision detections; label
    ``k`` (``k >= 1`` for Faster R-CNN, ``k >= 0`` for RetinaNet) is class name
    ``class_names[k - label_offset(model)]`` (``models.builders.label_offset``). Nothing is
    downloaded. ``ValueError`` for a file that is not an alp checkpoint or whose weights do
    not fit its config; ``FileNotFoundError`` when missing.
    """
    model, _config, class_names, _metrics = load_checkpoint(path, device=device)
    return model, class_names
