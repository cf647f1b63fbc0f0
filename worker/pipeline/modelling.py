"""Adapters between cycle rows and ``models``: training config, checkpoints in storage,
a per-process model cache, and inference turned into ``acquisition`` predictions.

Torch is imported inside functions only, so importing this module never initialises CUDA
before the worker forks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alp.cycle_config import CycleConfig
from alp.storage import BlobCache, Storage

if TYPE_CHECKING:
    from torch import nn

    from acquisition.types import ImagePrediction, Requirements
    from models.config import TrainConfig

PREANNOTATION_MIN_SCORE = CycleConfig.model_fields["preannotation_min_score"].default
PREANNOTATION_MAX_BOXES = CycleConfig.model_fields["preannotation_max_boxes"].default
Config = CycleConfig | Mapping[str, Any]  # a stored snapshot is parsed (CycleConfig.parse)
_CACHE: dict[str, Any] = {}


@dataclass(frozen=True)
class ModelSetup:
    """What the training stage resolved: the concrete profile (``auto`` resolved), whether
    the detector starts from pretrained weights, and a cycle issue to record (or None)."""

    profile: str
    pretrained: bool
    issue: str | None = None

    def metrics(self) -> dict[str, Any]:
        return {"model": self.profile, "pretrained": self.pretrained}


def requested_profile(cycle_config: Config) -> str:
    """The pool's ``model`` setting in the cycle snapshot; snapshots from before model
    profiles existed trained the tiny detector, so they keep it (``CycleConfig``'s default)."""
    return CycleConfig.parse(cycle_config).model


def model_setup(
    cycle_config: Config, device: str, torch_home: Path | None, download: bool
) -> ModelSetup:
    """Resolve the profile on ``device`` and make sure its pretrained weights are in
    torchvision's cache under ``torch_home`` (downloaded when missing and ``download``).

    Missing weights: an explicit profile raises ``MissingWeightsError`` (the message names
    the file and the ``alp weights`` commands); ``auto`` trains from scratch and says so in
    the returned issue.
    """
    import torch

    from models import weights as tv_weights
    from models.profiles import resolve_profile

    if torch_home is not None:
        torch.hub.set_dir(str(Path(torch_home) / "hub"))
    requested = requested_profile(cycle_config)
    profile = resolve_profile(requested, device.startswith("cuda"))
    config = train_config(cycle_config, device, None, ModelSetup(profile, True))
    needed = tv_weights.needed(config.detector)
    if needed is None:
        return ModelSetup(profile, config.detector.weights != "none")
    try:
        tv_weights.ensure(needed, profile, download)
    except tv_weights.MissingWeightsError as exc:
        if requested != "auto":
            raise
        return ModelSetup(profile, False, f"model 'auto' -> {profile}: TRAINING FROM SCRATCH, "
                                          f"no pretrained weights. {exc}")  # fmt: skip
    return ModelSetup(profile, True)


def train_config(
    cycle_config: Config, device: str, weights: str | None,
    setup: ModelSetup | None = None, n_train: int | None = None,
) -> TrainConfig:  # fmt: skip
    """``TrainConfig`` from the cycle's pool-settings snapshot: preset, then the model
    profile's overrides (``setup``; default: the snapshot's profile resolved on
    ``device``, pretrained), then the pool's ``train_overrides``; on ``device``.
    ``weights`` (a local checkpoint path) warm-starts the detector. ``n_train`` (labeled
    training images) sizes a pretrained profile's schedule (``models.profiles``)."""
    from models.config import TrainConfig
    from models.profiles import merged_overrides, resolve_profile

    cfg = CycleConfig.parse(cycle_config)
    if setup is None:
        setup = ModelSetup(resolve_profile(cfg.model, device.startswith("cuda")), True)
    preset = cfg.train_preset
    overrides = merged_overrides(setup.profile, preset, cfg.train_overrides, n_train)
    overrides.setdefault("seed", cfg.seed)
    overrides["device"] = device
    if device.startswith("cuda") and setup.profile != "tiny":
        overrides["num_workers"] = min(8, max(0, (os.cpu_count() or 1) - 1))
        allow_child_processes()
    det = dict(overrides.get("detector") or {})
    if not setup.pretrained and det.get("weights") == "coco":
        det["weights"] = "none"
    if weights is not None:
        det["weights"] = weights
    if det:
        overrides["detector"] = det
    return TrainConfig.preset(preset, **overrides)


def allow_child_processes() -> None:
    """Let this process start DataLoader worker processes. Celery's prefork children are
    daemonic, and ``multiprocessing`` refuses children of a daemonic process; the loader's
    workers are daemonic themselves and exit with their parent, so the flag is cleared for
    the rest of this (task) process."""
    import multiprocessing

    multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]


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


def store_metrics(storage: Storage, key: str, metrics: dict[str, Any]) -> None:
    """Write ``metrics`` (the cycle's, after evaluation) into the stored checkpoint, so a
    downloaded model carries its validation scores (download, rewrite, upload: any store)."""
    from models.checkpoint import update_metrics

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ckpt.pt"
        storage.download(key, path)
        storage.put_file(key, update_metrics(path, metrics))


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
    path = cache.fetch(key)  # the local file's identity: a retried cycle rewrites its key
    cache_key = f"{path}|{path.stat().st_mtime_ns if path.exists() else 0}|{device}"
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    from models.checkpoint import load_checkpoint

    model, _config, names, _metrics = load_checkpoint(path, device=device)
    if len(names) != num_classes:
        raise ValueError(f"checkpoint {key} has {len(names)} classes, the pool {num_classes}")
    _CACHE.clear()
    _CACHE[cache_key] = model
    return model


def score_batch_size(cycle_config: Config, device: str) -> int:
    """Images per scoring forward: the batch size the cycle's model profile trains with
    (the profile's, then the pool's ``train_overrides``; ``TrainConfig``'s default 8 when
    neither sets one, e.g. ``tiny``), so scoring uses what training showed fits."""
    from models.config import TrainConfig
    from models.profiles import merged_overrides, resolve_profile

    cfg = CycleConfig.parse(cycle_config)
    profile = resolve_profile(cfg.model, device.startswith("cuda"))
    overrides = merged_overrides(profile, cfg.train_preset, cfg.train_overrides)
    return max(1, int(overrides.get("batch_size", TrainConfig.batch_size)))


def predict(
    model: nn.Module,
    images: Sequence[Any],
    image_ids: Sequence[int],
    requirements: Requirements,
    device: str,
    seed: int = 0,
    batch_size: int = 8,
) -> list[ImagePrediction]:
    """Inference with the views/embedding/per-box features the strategy needs, as
    ``ImagePrediction``s (box features land in ``extra["box_features"]``), ``batch_size``
    images per forward (fp16 autocast on CUDA only: ``models.inference.forward_context``)."""
    import torch

    from acquisition.types import ORIGINAL, to_image_prediction
    from models.inference import predict as model_predict

    views = [ORIGINAL, *sorted(v for v in requirements.views if v != ORIGINAL)]
    raw = model_predict(
        model,
        list(images),
        list(image_ids),
        views=views,
        embedding=requirements.embedding,
        box_features=requirements.box_features,
        batch_size=batch_size,
        device=device,
        generator=torch.Generator().manual_seed(int(seed)),
    )
    return [to_image_prediction(r) for r in raw]


def preannotation_limits(cycle_config: Config) -> tuple[float, int]:
    """``(min_score, max_boxes)`` of pre-annotations from the cycle's settings snapshot
    (snapshots older than these settings get the defaults)."""
    cfg = CycleConfig.parse(cycle_config)
    return cfg.preannotation_min_score, cfg.preannotation_max_boxes


def preannotation(
    pred: ImagePrediction,
    min_score: float = PREANNOTATION_MIN_SCORE,
    max_boxes: int = PREANNOTATION_MAX_BOXES,
) -> dict[str, list[Any]]:
    """The original view's detections scoring ``>= min_score``, best first, at most
    ``max_boxes``, as JSON: boxes, 0-based labels, scores."""
    from acquisition.types import ORIGINAL

    view = pred.views.get(ORIGINAL)
    if view is None or len(view) == 0:
        return {"boxes": [], "labels": [], "scores": []}
    keep = (view.scores >= min_score).nonzero().flatten()
    keep = keep[view.scores[keep].argsort(descending=True)][:max_boxes]
    return {
        "boxes": [[round(float(c), 2) for c in b] for b in view.boxes[keep].tolist()],
        "labels": [int(v) for v in view.labels[keep].tolist()],
        "scores": [round(float(s), 4) for s in view.scores[keep].tolist()],
    }
