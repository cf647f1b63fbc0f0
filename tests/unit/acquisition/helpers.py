"""Hand-built predictions for acquisition tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from acquisition.records import ScoringContext
from acquisition.synthetic import random_predictions
from acquisition.types import (
    CUTOUT,
    DOWNSCALE,
    FLIP,
    ORIGINAL,
    ROTATE,
    ImagePrediction,
    ViewPrediction,
)

ALL_VIEWS = (ORIGINAL, FLIP, CUTOUT, DOWNSCALE, ROTATE)
NUM_CLASSES = 3


def view(
    boxes: Sequence[Sequence[float]],
    labels: Sequence[int] | None = None,
    scores: Sequence[float] | None = None,
    probs: Sequence[Sequence[float]] | None = None,
    log_vars: Sequence[Sequence[float]] | None = None,
    num_classes: int = NUM_CLASSES,
) -> ViewPrediction:
    """A softmax-head view; by default every box is class 0 with probability 0.9."""
    n = len(boxes)
    b = torch.tensor(boxes, dtype=torch.float32).reshape(n, 4)
    lab = torch.tensor(labels if labels is not None else [0] * n, dtype=torch.long)
    if probs is None:
        p = torch.full((n, num_classes + 1), 0.1 / num_classes)
        p[torch.arange(n), lab + 1] = 0.9
    else:
        p = torch.tensor(probs, dtype=torch.float32).reshape(n, num_classes + 1)
    sc = torch.tensor(scores, dtype=torch.float32) if scores is not None else p[:, 1:].max(1).values
    lv = None if log_vars is None else torch.tensor(log_vars, dtype=torch.float32).reshape(n, 4)
    return ViewPrediction(b, lab, sc, p, lv)


def empty_view(num_classes: int = NUM_CLASSES, log_vars: bool = False) -> ViewPrediction:
    return ViewPrediction(
        torch.zeros(0, 4),
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0),
        torch.zeros(0, num_classes + 1),
        torch.zeros(0, 4) if log_vars else None,
    )


def image(image_id: object, views: dict[str, ViewPrediction], **kw: object) -> ImagePrediction:
    return ImagePrediction(image_id=image_id, width=100, height=80, views=views, **kw)  # type: ignore[arg-type]


def full_predictions(n: int, seed: int = 0, **kw: object) -> list[ImagePrediction]:
    """Random predictions carrying everything any strategy may need."""
    opts: dict[str, object] = dict(
        views=ALL_VIEWS, log_vars=True, embedding_dim=8, box_feature_dim=6, max_boxes=5
    )
    opts.update(kw)
    return random_predictions(n, NUM_CLASSES, seed=seed, **opts)


def context(**kw: object) -> ScoringContext:
    opts: dict[str, object] = dict(
        num_classes=NUM_CLASSES, labeled_class_freq=[2.0, 1.0, 0.5], class_quality=[0.9, 0.5, 0.1]
    )
    opts.update(kw)
    return ScoringContext(**opts)  # type: ignore[arg-type]
