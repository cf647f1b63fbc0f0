"""Detector builders: torchvision Faster R-CNN / RetinaNet with alp's heads installed.

``num_classes`` is always the number of FOREGROUND classes C. Faster R-CNN models get C + 1
outputs (torchvision label 0 is background, so torchvision label = alp label + 1);
RetinaNet models get C sigmoid outputs (torchvision label = alp label). Use
:func:`label_offset` to convert.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops import MultiScaleRoIAlign

from models.backbones import tiny_backbone
from models.config import DetectorConfig, TrainConfig
from models.heads.config import HeadConfig, head_preset

NUM_CLASSES_ATTR = "alp_num_classes"
LAYOUT_ATTR = "alp_weights_layout"  # the torchvision weights the layout was built for
LAYOUTS = ("none", "imagenet", "default", "coco")


def is_two_stage(model: nn.Module) -> bool:
    """True for Faster R-CNN (softmax with a background column), False for RetinaNet."""
    if isinstance(model, FasterRCNN):
        return True
    if isinstance(model, RetinaNet):
        return False
    raise TypeError(f"unsupported detector type {type(model).__name__}")


def label_offset(model: nn.Module) -> int:
    """torchvision label minus alp's 0-based foreground label (1 for R-CNN, 0 for RetinaNet)."""
    return 1 if is_two_stage(model) else 0


def num_classes_of(model: nn.Module) -> int:
    """Number of foreground classes C the model predicts."""
    value = getattr(model, NUM_CLASSES_ATTR, None)
    if value is not None:
        return int(value)
    if is_two_stage(model):
        return int(model.roi_heads.box_predictor.cls_score.out_features) - 1
    return int(model.head.classification_head.num_classes)


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _anchor_generator(cfg: DetectorConfig) -> AnchorGenerator | None:
    sizes = cfg.resolved("anchor_sizes")
    if sizes is None:
        return None
    if cfg.backbone == "tiny":
        return AnchorGenerator((tuple(sizes),), (tuple(cfg.aspect_ratios),))
    # FPN backbones: one anchor size per pyramid level
    return AnchorGenerator(tuple((s,) for s in sizes), (tuple(cfg.aspect_ratios),) * len(sizes))


def _rcnn_kwargs(cfg: DetectorConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "min_size": cfg.min_size,
        "max_size": cfg.max_size,
        "box_batch_size_per_image": cfg.resolved("rois_per_image"),
        "box_score_thresh": cfg.score_thresh,
        "box_nms_thresh": cfg.nms_thresh,
        "box_detections_per_img": cfg.detections_per_img,
    }
    for key in (
        "pre_nms_top_n_train",
        "post_nms_top_n_train",
        "pre_nms_top_n_test",
        "post_nms_top_n_test",
    ):
        kwargs[f"rpn_{key}"] = cfg.resolved(f"rpn_{key}")
    anchors = _anchor_generator(cfg)
    if anchors is not None:
        kwargs["rpn_anchor_generator"] = anchors
    return kwargs


def _retina_kwargs(cfg: DetectorConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "min_size": cfg.min_size,
        "max_size": cfg.max_size,
        "score_thresh": cfg.score_thresh,
        "nms_thresh": cfg.nms_thresh,
        "detections_per_img": cfg.detections_per_img,
    }
    anchors = _anchor_generator(cfg)
    if anchors is not None:
        kwargs["anchor_generator"] = anchors
    return kwargs


def _build_tiny(cfg: DetectorConfig, num_classes: int) -> nn.Module:
    backbone = tiny_backbone(cfg.tiny_channels, cfg.tiny_norm, cfg.tiny_depths)
    if cfg.arch == "fasterrcnn":
        rep = cfg.representation_size
        return FasterRCNN(
            backbone,
            num_classes=None,
            box_roi_pool=MultiScaleRoIAlign(
                ["0"], output_size=7, sampling_ratio=cfg.resolved("roi_sampling_ratio")
            ),
            box_head=TwoMLPHead(backbone.out_channels * 7 * 7, rep),
            box_predictor=FastRCNNPredictor(rep, num_classes + 1),
            **_rcnn_kwargs(cfg),
        )
    kwargs = _retina_kwargs(cfg)
    num_anchors = kwargs["anchor_generator"].num_anchors_per_location()[0]
    groups = min(16, backbone.out_channels)
    head = RetinaNetHead(
        backbone.out_channels,
        num_anchors,
        num_classes,
        norm_layer=functools.partial(nn.GroupNorm, groups),
    )
    return RetinaNet(backbone, num_classes, head=head, **kwargs)


def build_stock_detector(
    config: DetectorConfig, num_classes: int, seed: int | None = None, load: bool = True
) -> nn.Module:
    """The torchvision detector described by ``config`` WITHOUT alp's heads.

    ``num_classes``: foreground classes C (>= 1). ``seed`` makes the initialisation
    deterministic without touching the global RNG state. Checkpoint-path weights are NOT
    loaded here (see :func:`build_detector`). ``load=False`` builds the layout of a
    COCO/ImageNet-initialised model without reading torchvision's weight files.
    """
    from models import tv_detectors

    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    with _seeded(seed):
        if config.backbone == "tiny":
            model = _build_tiny(config, num_classes)
        else:
            kwargs = _retina_kwargs(config) if config.arch == "retinanet" else _rcnn_kwargs(config)
            model = tv_detectors.build(config, num_classes, kwargs, load=load)
    setattr(model, NUM_CLASSES_ATTR, num_classes)
    return model


def build_detector(
    config: TrainConfig | DetectorConfig,
    num_classes: int,
    heads: HeadConfig | None = None,
    seed: int | None = None,
    load: bool = True,
) -> nn.Module:
    """Build a detector with alp's configured heads installed (always, even for vanilla).

    ``config``: a ``TrainConfig`` (its detector, heads and seed are used unless ``heads`` /
    ``seed`` are given) or a ``DetectorConfig`` (heads default to the vanilla preset).
    ``num_classes``: number of foreground classes C. If ``config.weights`` is a checkpoint
    path, its weights are loaded (the class count must match). Returns the model in train
    mode on the CPU. ``load=False``: torchvision weights are not read (the pretrained
    layout is still built; see :func:`build_stock_detector`).
    """
    from models.heads import install_heads

    if isinstance(config, TrainConfig):
        det = config.detector
        heads = heads if heads is not None else config.heads
        seed = seed if seed is not None else config.seed
    else:
        det = config
    heads = heads if heads is not None else head_preset("vanilla")
    blob: dict[str, Any] | None = None
    path = ""
    if det.weights not in LAYOUTS:
        path = det.weights
        blob = _read_weights(path)
        stored = ((blob.get("config") or {}).get("detector") or {}).get("weights", "none")
        layout = stored if stored in LAYOUTS else "none"
        det = DetectorConfig.from_dict({**det.to_dict(), "weights": layout})
        load = False
    model = build_stock_detector(det, num_classes, seed=seed, load=load)
    with _seeded(seed):
        model = install_heads(model, heads, num_classes + label_offset(model))
    setattr(model, NUM_CLASSES_ATTR, num_classes)
    setattr(model, LAYOUT_ATTR, det.weights)
    if blob is not None:
        _load_state(model, blob, path)
    return model


def _read_weights(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights checkpoint not found: {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict):
        raise ValueError(f"{path} holds no state dict")
    return blob


def _load_state(model: nn.Module, blob: dict[str, Any], path: str | Path) -> None:
    state = blob.get("state_dict", blob)
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"weights in {path} do not fit this detector: {exc}") from exc


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load the ``state_dict`` of an alp checkpoint (or a bare state dict) into ``model``."""
    _load_state(model, _read_weights(path), path)
