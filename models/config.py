"""Serialisable detector and training configuration.

``TrainConfig`` is stored with every checkpoint (``to_dict`` gives JSON-compatible data;
``from_dict`` restores it, rejecting unknown keys and values of the wrong type, see
:mod:`models.config_fields`). ``TrainConfig.preset(name, **overrides)``
gives the named training recipes ``vanilla``, ``huale``, ``libra``, ``pisa`` (Faster R-CNN),
``aploss`` and ``retinanet`` (RetinaNet with AP-Loss / stock focal loss).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from models.config_fields import dataclass_from_dict
from models.heads.config import HeadConfig, head_preset

ARCHS = ("fasterrcnn", "retinanet")
BACKBONES = ("tiny", "mobilenet_v3_large_fpn", "resnet50_fpn", "resnet50_fpn_v2")
PRESETS = ("vanilla", "huale", "libra", "pisa", "aploss", "retinanet")


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively, so ``to_dict`` output is JSON-compatible."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def merge_overrides(base: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """``TrainConfig.preset`` overrides ``base`` with ``extra`` applied on top: where both
    hold a mapping under one key (``detector``, ``heads``) the two are merged key by key,
    otherwise ``extra``'s value replaces. Returns a new dict; the inputs are not changed."""
    out = dict(base)
    for key, value in (extra or {}).items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = {**out[key], **value} if both else value
    return out


@dataclass
class DetectorConfig:
    """What :func:`models.builders.build_detector` builds.

    ``weights``: ``"none"`` (random init), ``"imagenet"`` (torchvision ImageNet backbone;
    alias ``"default"``), ``"coco"`` (torchvision's COCO detector, new class layer), or a path
    to an alp checkpoint whose weights initialise the model. Options set to ``None`` take
    the backbone's default (see ``resolved()``); the ``tiny_*``/``representation_size``
    options only apply to the tiny backbone.
    """

    arch: str = "fasterrcnn"
    backbone: str = "tiny"
    min_size: int = 128
    max_size: int = 256
    weights: str = "none"
    tiny_channels: tuple[int, int, int] = (32, 64, 64)
    tiny_norm: str = "bn"
    tiny_depths: tuple[int, int, int] = (1, 1, 2)
    representation_size: int = 256
    rois_per_image: int | None = None  # tiny 128, otherwise torchvision's 512
    roi_sampling_ratio: int | None = None  # tiny only: RoIAlign samples per bin side (2)
    anchor_sizes: tuple[int, ...] | None = None  # tiny (16, 32, 64); FPN: per level defaults
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_n_train: int | None = None
    rpn_post_nms_top_n_train: int | None = None
    rpn_pre_nms_top_n_test: int | None = None
    rpn_post_nms_top_n_test: int | None = None
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_img: int = 100

    TINY_DEFAULTS: ClassVar[dict[str, Any]] = {
        "rois_per_image": 128,
        "roi_sampling_ratio": 2,
        "anchor_sizes": (16, 32, 64),
        "rpn_pre_nms_top_n_train": 1000,
        "rpn_post_nms_top_n_train": 500,
        "rpn_pre_nms_top_n_test": 500,
        "rpn_post_nms_top_n_test": 300,
    }
    FPN_DEFAULTS: ClassVar[dict[str, Any]] = {
        "rois_per_image": 512,
        "roi_sampling_ratio": 2,
        "anchor_sizes": None,
        "rpn_pre_nms_top_n_train": 2000,
        "rpn_post_nms_top_n_train": 2000,
        "rpn_pre_nms_top_n_test": 1000,
        "rpn_post_nms_top_n_test": 1000,
    }

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.arch == "retinanet" and self.backbone not in ("tiny", "resnet50_fpn"):
            raise ValueError("retinanet supports the 'tiny' and 'resnet50_fpn' backbones")
        if not 0 < self.min_size <= self.max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {self.min_size}, {self.max_size}")
        if not isinstance(self.weights, str) or not self.weights:
            raise ValueError("weights must be 'none', 'imagenet', 'coco' or a checkpoint path")
        if self.backbone == "tiny" and self.weights in ("imagenet", "default", "coco"):
            raise ValueError("the tiny backbone has no torchvision weights; use 'none' or a path")
        self.tiny_channels = tuple(int(c) for c in self.tiny_channels)  # type: ignore[assignment]
        self.aspect_ratios = tuple(float(r) for r in self.aspect_ratios)
        if self.anchor_sizes is not None:
            self.anchor_sizes = tuple(int(s) for s in self.anchor_sizes)

    def resolved(self, name: str) -> Any:
        """The value of option ``name`` with ``None`` replaced by the backbone's default."""
        value = getattr(self, name)
        if value is not None:
            return value
        defaults = self.TINY_DEFAULTS if self.backbone == "tiny" else self.FPN_DEFAULTS
        return defaults.get(name)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        return dataclass_from_dict(cls, data, "DetectorConfig")


@dataclass
class TrainConfig:
    """Optimiser, schedule and model configuration of one training run.

    Exactly one of ``iterations`` / ``epochs`` is set; ``milestones`` (LR x ``gamma``) are in
    the same unit. Warm-up is linear from ``warmup_factor * lr`` over
    ``min(warmup_iters, total_iters - 1)`` iterations. ``grad_clip`` is a max L2 norm or
    ``None``. ``amp`` only takes effect on CUDA. ``device`` is the default of the engine.
    """

    name: str = "vanilla"  # the preset this config was made from
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    heads: HeadConfig = field(default_factory=lambda: head_preset("vanilla"))
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 50
    warmup_factor: float = 1e-3
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    grad_clip: float | None = 10.0
    iterations: int | None = 300
    epochs: int | None = None
    batch_size: int = 8
    amp: bool = True
    seed: int = 0
    device: str = "cpu"
    hflip_prob: float = 0.5
    num_workers: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.detector, dict):
            self.detector = DetectorConfig.from_dict(self.detector)
        if isinstance(self.heads, dict):
            self.heads = HeadConfig.from_dict(self.heads)
        if (self.iterations is None) == (self.epochs is None):
            raise ValueError("set exactly one of iterations and epochs")
        length = self.iterations if self.iterations is not None else self.epochs
        if length is None or length <= 0:
            raise ValueError(f"iterations/epochs must be positive, got {length}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError("grad_clip must be positive or None")
        if not 0.0 <= self.hflip_prob <= 1.0:
            raise ValueError("hflip_prob must be in [0, 1]")
        if not 0.0 < self.warmup_factor <= 1.0:
            raise ValueError(f"warmup_factor must be in (0, 1], got {self.warmup_factor}")
        self.milestones = tuple(sorted(int(m) for m in self.milestones))

    def total_iterations(self, dataset_len: int) -> int:
        """Number of optimiser steps for a dataset of ``dataset_len`` images."""
        if self.iterations is not None:
            return int(self.iterations)
        per_epoch = max(1, math.ceil(dataset_len / self.batch_size))
        return int(self.epochs or 0) * per_epoch

    def milestone_iterations(self, dataset_len: int) -> tuple[int, ...]:
        """``milestones`` converted to iteration indices."""
        if self.iterations is not None:
            return self.milestones
        per_epoch = max(1, math.ceil(dataset_len / self.batch_size))
        return tuple(m * per_epoch for m in self.milestones)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["detector"] = self.detector.to_dict()
        data["heads"] = self.heads.to_dict()
        return _plain(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        if "detector" in data and isinstance(data["detector"], dict):
            data["detector"] = DetectorConfig.from_dict(data["detector"])
        if "heads" in data and isinstance(data["heads"], dict):
            data["heads"] = HeadConfig.from_dict(data["heads"])
        return dataclass_from_dict(cls, data, "TrainConfig")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The named recipe with ``overrides`` applied.

        ``detector`` / ``heads`` overrides may be partial dicts (merged onto the preset's)
        or complete ``DetectorConfig`` / ``HeadConfig`` objects.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {PRESETS}")
        retina = name in ("aploss", "retinanet")
        detector = DetectorConfig(arch="retinanet" if retina else "fasterrcnn").to_dict()
        heads = head_preset("vanilla" if name == "retinanet" else name).to_dict()
        base: dict[str, Any] = {"name": name}
        if retina:
            base.update(warmup_factor=1.0 / 3.0)
        det_over = overrides.pop("detector", None)
        if isinstance(det_over, DetectorConfig):
            detector = det_over.to_dict()
        elif det_over is not None:
            detector.update(det_over)
        head_over = overrides.pop("heads", None)
        if isinstance(head_over, HeadConfig):
            heads = head_over.to_dict()
        elif head_over is not None:
            heads.update(head_over)
        if "epochs" in overrides and "iterations" not in overrides:
            overrides["iterations"] = None
        base.update(overrides)
        base["detector"] = detector
        base["heads"] = heads
        return cls.from_dict(base)
