"""Adapters between cycle rows and ``models``: training config, checkpoints in storage,
a per-process model cache, and inference turned into ``acquisition`` predictions.

Torch is imported inside functions only, so importing this module never initialises CUDA
before the worker forks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alp.storage import BlobCache, Storage

if TYPE_CHECKING:
    from torch import nn

    from acquisition.types import ImagePrediction, Requirements
    from models.config import TrainConfig

PREANNOTATION_MIN_SCORE = 0.3  # detections kept as pre-annotation boxes
PREANNOTATION_MAX_BOXES = 50
_CACHE: dict[str, Any] = {}


def train_config(cycle_config: dict[str, Any], device: str, weights: str | None) -> TrainConfig:
    """``TrainConfig`` from the cycle's pool-settings snapshot (preset + overrides), on
    ``device``; ``weights`` (a local checkpoint path) warm-starts the detector."""
    from models.config import TrainConfig

    overrides = dict(cycle_config.get("train_overrides") or {})
    overrides.setdefault("seed", int(cycle_config.get("seed", 0)))
    overrides["device"] = device
    if weights is not None:
        det = dict(overrides.get("detector") or {})
        det["weights"] = weights
        overrides["detector"] = det
    return TrainConfig.preset(cycle_config.get("train_preset", "huale"), **overrides)


def save_checkpoint(
    storage: Storage,
    key: str,
    model: nn.Module,
    config: TrainConfig,
    classes: list[str],
    metrics: dict[str, Any] | None = None,
) -> None:
    """Write an alp checkpoint (``models.checkpoint``, with JSON-like ``metrics``)
    atomically under storage ``key``."""
    from models.checkpoint import save_checkpoint as save

    with tempfile.TemporaryDirectory() as tmp:
        path = save(Path(tmp) / "ckpt.pt", model, config, classes, metrics)
        storage.put_file(key, path)


def class_quality(model: nn.Module, classes: list[str]) -> dict[str, float] | None:
    """PPAL class qualities ``{class name: q_c in [0, 1]}`` from the head's
    ``class_quality`` buffer (RetinaNet heads, ``models.heads.retina``); None without it."""
    q = getattr(getattr(model, "head", None), "class_quality", None)
    if q is None or q.numel() != len(classes):
        return None
    return {name: round(float(v), 6) for name, v in zip(classes, q.tolist(), strict=True)}


def class_quality_list(metrics: dict[str, Any] | None, classes: list[str]) -> list[float] | None:
    """:func:`class_quality`'s dict (as stored in ``Cycle.metrics``) in class order, or
    None when absent or not covering every class (e.g. classes added since)."""
    stored = (metrics or {}).get("class_quality")
    if not isinstance(stored, dict) or any(c not in stored for c in classes):
        return None
    return [float(stored[c]) for c in classes]


def load_model(cache: BlobCache, key: str, num_classes: int, device: str) -> nn.Module:
    """The detector saved under ``key`` in eval mode on ``device`` (cached per process:
    scoring many shards of one cycle loads the checkpoint once)."""
    cache_key = f"{key}|{device}"
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    from models.checkpoint import load_checkpoint

    model, _config, names, _metrics = load_checkpoint(cache.fetch(key), device=device)
    if len(names) != num_classes:
        raise ValueError(f"checkpoint {key} has {len(names)} classes, the pool {num_classes}")
    _CACHE.clear()
    _CACHE[cache_key] = model
    return model


def predict(
    model: nn.Module,
    images: Sequence[Any],
    image_ids: Sequence[int],
    requirements: Requirements,
    device: str,
    seed: int = 0,
) -> list[ImagePrediction]:
    """Inference with the views/embedding/per-box features the strategy needs, as
    ``ImagePrediction``s (box features land in ``extra["box_features"]``)."""
    import torch

    from acquisition.types import ORIGINAL
    from models.inference import predict as model_predict

    views = [ORIGINAL, *sorted(v for v in requirements.views if v != ORIGINAL)]
    raw = model_predict(
        model,
        list(images),
        list(image_ids),
        views=views,
        embedding=requirements.embedding,
        box_features=requirements.box_features,
        device=device,
        generator=torch.Generator().manual_seed(int(seed)),
    )
    return [to_image_prediction(r) for r in raw]


def to_image_prediction(raw: dict[str, Any]) -> ImagePrediction:
    """Plain dict with the field layout of ``acquisition.types`` -> dataclasses; the
    dict's ``extra`` (e.g. ``box_features``, (N_orig, D)) becomes ``ImagePrediction.extra``."""
    from acquisition.types import ImagePrediction, ViewPrediction

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


def preannotation(pred: ImagePrediction) -> dict[str, list[Any]]:
    """The original view's confident detections as JSON: boxes, 0-based labels, scores."""
    from acquisition.types import ORIGINAL

    view = pred.views.get(ORIGINAL)
    if view is None or len(view) == 0:
        return {"boxes": [], "labels": [], "scores": []}
    keep = (view.scores >= PREANNOTATION_MIN_SCORE).nonzero().flatten()
    keep = keep[view.scores[keep].argsort(descending=True)][:PREANNOTATION_MAX_BOXES]
    return {
        "boxes": [[round(float(c), 2) for c in b] for b in view.boxes[keep].tolist()],
        "labels": [int(v) for v in view.labels[keep].tolist()],
        "scores": [round(float(s), 4) for s in view.scores[keep].tolist()],
    }
