"""torchvision's detectors for :mod:`models.builders`: Faster R-CNN ResNet-50-FPN (v1, v2),
Faster R-CNN MobileNetV3-Large-FPN and RetinaNet ResNet-50-FPN, from scratch, with ImageNet
backbones or with COCO weights and a new class layer.

``load=False`` builds the *layout* of a pretrained model (frozen batch norm in the backbone
body, torchvision's default 3 trainable backbone stages) without reading any weight file,
so a checkpoint trained from COCO loads on a machine that never had the COCO weights.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.ops.misc import FrozenBatchNorm2d

from models.config import DetectorConfig

PRETRAINED_WEIGHTS = ("imagenet", "default", "coco")


def coco_weights(cfg: DetectorConfig) -> Any:
    """torchvision's COCO ``WeightsEnum`` member for ``cfg``'s arch and backbone (or None
    for the tiny backbone)."""
    from torchvision.models import detection as tvd

    if cfg.backbone == "tiny":
        return None
    if cfg.arch == "retinanet":
        return tvd.RetinaNet_ResNet50_FPN_Weights.COCO_V1
    return {
        "resnet50_fpn": tvd.FasterRCNN_ResNet50_FPN_Weights.COCO_V1,
        "resnet50_fpn_v2": tvd.FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
        "mobilenet_v3_large_fpn": tvd.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1,
    }[cfg.backbone]


def _builder(cfg: DetectorConfig) -> tuple[Any, Any]:
    """(torchvision builder, ImageNet backbone weights) for ``cfg``."""
    from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights
    from torchvision.models import detection as tvd

    if cfg.arch == "retinanet":
        return tvd.retinanet_resnet50_fpn, ResNet50_Weights.IMAGENET1K_V1
    if cfg.backbone == "mobilenet_v3_large_fpn":
        return tvd.fasterrcnn_mobilenet_v3_large_fpn, MobileNet_V3_Large_Weights.IMAGENET1K_V1
    if cfg.backbone == "resnet50_fpn_v2":
        return tvd.fasterrcnn_resnet50_fpn_v2, ResNet50_Weights.IMAGENET1K_V1
    return tvd.fasterrcnn_resnet50_fpn, ResNet50_Weights.IMAGENET1K_V1


def _freeze_batch_norm(module: nn.Module) -> None:
    """Replace every ``BatchNorm2d`` under ``module`` by a ``FrozenBatchNorm2d`` (in place)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            setattr(module, name, frozen)
        else:
            _freeze_batch_norm(child)


def _freeze_early_stages(cfg: DetectorConfig, body: nn.Module) -> None:
    """torchvision's default for pretrained backbones: only the last 3 stages train."""
    if cfg.backbone == "mobilenet_v3_large_fpn":
        blocks = list(body.children())
        stages = [0] + [i for i, b in enumerate(blocks) if getattr(b, "_is_cn", False)]
        stages.append(len(blocks) - 1)
        for block in blocks[: stages[len(stages) - 3]]:
            block.requires_grad_(False)
        return
    for name, param in body.named_parameters():
        if not name.startswith(("layer2", "layer3", "layer4")):
            param.requires_grad_(False)


def _new_retina_class_layer(model: nn.Module, num_classes: int) -> None:
    """Keep the COCO classification tower, replace only ``cls_logits`` (focal-loss prior)."""
    head = model.head.classification_head
    old = head.cls_logits
    layer = nn.Conv2d(old.in_channels, head.num_anchors * num_classes, 3, padding=1)
    nn.init.normal_(layer.weight, std=0.01)
    nn.init.constant_(layer.bias, -math.log((1 - 0.01) / 0.01))
    head.cls_logits = layer
    head.num_classes = num_classes


def build(cfg: DetectorConfig, num_classes: int, kwargs: dict[str, Any], load: bool = True
          ) -> nn.Module:  # fmt: skip
    """The torchvision detector for ``cfg`` with ``num_classes`` foreground classes (R-CNN
    class layers get C + 1 outputs). ``kwargs`` go to the torchvision builder. With
    ``load`` the COCO/ImageNet weights are read through torchvision's cache (downloaded
    by torchvision if missing: check :mod:`models.weights` first); without it only the
    pretrained layout is built."""
    builder, imagenet_weights = _builder(cfg)
    retina = cfg.arch == "retinanet"
    pretrained = cfg.weights in PRETRAINED_WEIGHTS
    coco = cfg.weights == "coco" and load
    imagenet = cfg.weights in ("imagenet", "default") and load
    model = builder(
        weights=coco_weights(cfg) if coco else None,
        weights_backbone=imagenet_weights if imagenet else None,
        num_classes=None if coco else num_classes + (0 if retina else 1),
        **kwargs,
    )
    if pretrained and not load:
        _freeze_batch_norm(model.backbone.body)
        _freeze_early_stages(cfg, model.backbone.body)
    if coco and retina:
        _new_retina_class_layer(model, num_classes)
    elif coco:
        in_features = model.roi_heads.box_predictor.cls_score.in_features
        model.roi_heads.box_predictor = FastRCNNPredictor(in_features, num_classes + 1)
    return model
