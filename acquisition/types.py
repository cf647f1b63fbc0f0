"""The inference contract between ``models`` (producer) and ``acquisition`` (consumer).

``models`` never imports ``acquisition`` and vice versa; ``models`` returns objects that
satisfy these structures (it may use these very dataclasses' field names on its own
dataclasses). Everything is a CPU ``torch.Tensor`` unless stated.

Conventions
-----------
* Boxes are ``[x1, y1, x2, y2]`` in pixels of the ORIGINAL image. Views of augmented images
  (``"flip"``, ``"cutout"``, ``"downscale"``, ``"rotate"``, ...) are already mapped back to the
  original image's coordinates by the producer (exact for flip/downscale/cutout, the bounding
  box of the back-rotated corners for rotation).
* ``labels`` are 0-based indices into the pool's class list (foreground only).
* ``probs`` is the full class-probability vector of each detection:
  - two-stage (R-CNN): softmax over ``[background, class_0, ..., class_{C-1}]``, shape (N, C+1);
  - one-stage (RetinaNet): per-class sigmoid, shape (N, C); no background column.
  ``ImagePrediction.has_background`` says which.
* ``log_vars`` are the predicted log-variances ``s = log sigma^2`` of the 4 box deltas of each
  detection (normalised-delta space), shape (N, 4), or ``None`` when the head has none.
* An image with no detections has N = 0 tensors with the right trailing shapes.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import torch

ORIGINAL = "orig"
FLIP = "flip"
# CALD augmentation views (ALGORITHMS §2); boxes mapped back to original coordinates.
CUTOUT = "cutout"
DOWNSCALE = "downscale"
ROTATE = "rotate"
NOISE = "noise"
SALT_PEPPER = "saltpepper"
COLOR_ADJUST = "coloradjust"
COLOR_SWAP = "colorswap"


@dataclass
class ViewPrediction:
    """Detections of one view of one image (post-NMS, score-filtered by the producer)."""

    boxes: torch.Tensor  # (N, 4) float32, original-image pixels
    labels: torch.Tensor  # (N,) int64, 0-based class index
    scores: torch.Tensor  # (N,) float32 in [0, 1]
    probs: torch.Tensor  # (N, C+1) with background column 0, or (N, C) sigmoid
    log_vars: torch.Tensor | None = None  # (N, 4) or None

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class ImagePrediction:
    """Everything the scorer knows about one unlabeled image."""

    image_id: Hashable
    width: int
    height: int
    views: dict[str, ViewPrediction]
    has_background: bool = True
    embedding: torch.Tensor | None = None  # (D,) pooled backbone feature, or None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. PPAL per-box features

    @property
    def original(self) -> ViewPrediction:
        return self.views[ORIGINAL]


@dataclass(frozen=True)
class Requirements:
    """What a strategy needs from inference, so the scorer computes only that."""

    views: frozenset[str] = frozenset({ORIGINAL})
    probs: bool = True
    log_vars: bool = False
    embedding: bool = False
    box_features: bool = False  # PPAL: per-detection feature vectors in ``extra["box_features"]``
    needs_model: bool = True  # False for ``random``: no inference at all


def to_image_prediction(raw: dict[str, Any] | ImagePrediction) -> ImagePrediction:
    """Plain dict with the field layout above (what ``models.inference.predict`` returns)
    -> dataclasses; the dict's ``extra`` (e.g. ``box_features``, (N_orig, D)) becomes
    ``ImagePrediction.extra``. An ``ImagePrediction`` is returned as it is."""
    if isinstance(raw, ImagePrediction):
        return raw
    views = {
        name: v if isinstance(v, ViewPrediction) else ViewPrediction(**v)
        for name, v in raw["views"].items()
    }
    return ImagePrediction(
        image_id=raw["image_id"],
        width=int(raw["width"]),
        height=int(raw["height"]),
        views=views,
        has_background=bool(raw.get("has_background", True)),
        embedding=raw.get("embedding"),
        extra=dict(raw.get("extra") or {}),
    )
