"""Generated stand-ins for torchvision's COCO detector weights (no internet in tests).

``install_fake_weights`` writes a seeded random state dict of exactly the layout
torchvision's COCO model has, under torchvision's file name in ``<hub_dir>/checkpoints``,
so torchvision's own loading code reads it as if it had downloaded it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def fake_state_dict(weights: Any, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights with the keys and shapes of ``weights`` (a torchvision WeightsEnum
    member); float16 to halve the file (loading casts to the model's dtype)."""
    from models.builders import build_stock_detector
    from models.config import DetectorConfig
    from models.weights import known_weights

    name = {v: k for k, v in known_weights().items()}[weights]
    arch = "retinanet" if name.startswith("retinanet") else "fasterrcnn"
    backbone = ("mobilenet_v3_large_fpn" if "mobilenet" in name
                else "resnet50_fpn_v2" if "_v2_" in name else "resnet50_fpn")  # fmt: skip
    cfg = DetectorConfig(arch=arch, backbone=backbone, weights="coco")
    n = len(weights.meta["categories"])  # 91, background included
    model = build_stock_detector(cfg, n if arch == "retinanet" else n - 1, seed=seed, load=False)
    return {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}


def install_fake_weights(hub_dir: Path, weights: Any, seed: int = 0) -> Path:
    """Write :func:`fake_state_dict` under torchvision's cache name; returns the path."""
    from models.weights import cached_file

    path = cached_file(weights, hub_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fake_state_dict(weights, seed), path)
    return path
