"""Shared fixtures for tests of ``models/``: tiny synthetic data and tiny detectors.

Imports of ``models`` happen inside the fixtures so that collecting one test folder never
fails because another part of ``models`` is broken or missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

TINY_SIZE = 64
NUM_CLASSES = 3


@pytest.fixture(scope="session")
def synthetic_samples() -> list[dict[str, Any]]:
    """12 synthetic 64-px samples (3 shape classes, 1-3 objects, image 5 empty); read-only."""
    from models.data.synthetic import generate

    samples = generate(
        12,
        size=TINY_SIZE,
        seed=0,
        max_objects=3,
        scale=(0.25, 0.5),
        clutter=1,
        noise=0.01,
        as_tensor=True,
    )
    samples[5] = {**samples[5], "boxes": [], "labels": []}
    return samples


@pytest.fixture
def tiny_detector_config() -> Callable[..., Any]:
    """Factory ``(arch="fasterrcnn", **overrides) -> DetectorConfig`` for 64-px tiny models."""
    from models.config import DetectorConfig

    def make(arch: str = "fasterrcnn", **overrides: Any) -> DetectorConfig:
        options: dict[str, Any] = {
            "arch": arch,
            "backbone": "tiny",
            "min_size": TINY_SIZE,
            "max_size": TINY_SIZE,
            "anchor_sizes": (12, 24, 48),
        }
        options.update(overrides)
        return DetectorConfig(**options)

    return make


@pytest.fixture
def stock_tiny_detector(tiny_detector_config: Callable[..., Any]) -> Callable[..., nn.Module]:
    """Factory ``(arch="fasterrcnn", num_classes=3, seed=0, **overrides) -> nn.Module``:
    a stock torchvision detector (no alp heads) on the tiny backbone, 64-px inputs."""
    from models.builders import build_stock_detector

    def make(
        arch: str = "fasterrcnn", num_classes: int = NUM_CLASSES, seed: int = 0, **overrides: Any
    ) -> nn.Module:
        return build_stock_detector(tiny_detector_config(arch, **overrides), num_classes, seed)

    return make


@pytest.fixture
def tiny_batch(synthetic_samples: list[dict[str, Any]]) -> tuple[list[torch.Tensor], list[dict]]:
    """Four 64-px images and torchvision-style targets (labels 1-based, R-CNN convention)."""
    images = [s["image"] for s in synthetic_samples[:4]]
    targets = [
        {
            "boxes": torch.tensor(s["boxes"], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(s["labels"], dtype=torch.int64) + 1,
        }
        for s in synthetic_samples[:4]
    ]
    return images, targets
