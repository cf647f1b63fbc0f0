"""Installing alp's configured heads on a torchvision detector (see ``models.heads``)."""

from __future__ import annotations

from torch import nn
from torchvision.models.detection import FasterRCNN, RetinaNet

from models.heads.config import HeadConfig
from models.heads.predictor import UncertaintyBoxPredictor
from models.heads.retina import AlpRetinaNet, AlpRetinaNetHead
from models.heads.roi_heads import AlpRoIHeads

__all__ = ["install_heads"]


def _install_rcnn(model: FasterRCNN, config: HeadConfig, num_classes: int) -> None:
    if config.retina_cls_loss != "focal":
        raise ValueError(f"retina_cls_loss={config.retina_cls_loss!r} applies to RetinaNet only")
    heads = model.roi_heads
    if heads.has_mask() or heads.has_keypoint():
        raise ValueError("install_heads supports box-only Faster R-CNN (no mask/keypoint heads)")
    predictor = heads.box_predictor
    cls_score = getattr(predictor, "cls_score", None)
    out = getattr(cls_score, "out_features", None)
    if out != num_classes:
        raise ValueError(
            f"num_classes={num_classes} (background included) does not match the "
            f"box predictor's {out} outputs"
        )
    keep_sigma = (
        isinstance(predictor, UncertaintyBoxPredictor)
        and predictor.class_agnostic_sigma == config.uncertainty_class_agnostic
    )
    if config.uncertainty_head and not keep_sigma:
        predictor = UncertaintyBoxPredictor.from_predictor(
            predictor, config.uncertainty_class_agnostic
        )
    elif not config.uncertainty_head and isinstance(predictor, UncertaintyBoxPredictor):
        raise ValueError("the model already has a σ head; rebuild it to drop the σ head")
    model.roi_heads = AlpRoIHeads(heads, config, num_classes, predictor)


def _install_retina(model: RetinaNet, config: HeadConfig, num_classes: int) -> None:
    rcnn_only = {
        "emphasis": config.emphasis is not None,
        "reg_loss": config.reg_loss != "smooth_l1",
        "uncertainty_head": config.uncertainty_head,
        "sampler": config.sampler in ("libra", "libra_faithful"),
    }
    bad = [name for name, used in rcnn_only.items() if used]
    if bad:
        raise ValueError(f"head options {bad} exist for Faster R-CNN only, not RetinaNet")
    head = model.head
    cls_head = getattr(head, "classification_head", None)
    reg_head = getattr(head, "regression_head", None)
    if cls_head is None or reg_head is None:
        raise TypeError(f"unsupported RetinaNet head {type(head).__name__}")
    if cls_head.num_classes != num_classes:
        raise ValueError(
            f"num_classes={num_classes} does not match the RetinaNet head's "
            f"{cls_head.num_classes} classes"
        )
    if type(model) is RetinaNet:
        model.__class__ = AlpRetinaNet
    elif not isinstance(model, AlpRetinaNet):
        raise TypeError(f"unsupported RetinaNet subclass {type(model).__name__}")
    model.head = AlpRetinaNetHead(cls_head, reg_head, config, num_classes)


def install_heads(model: nn.Module, head_config: HeadConfig, num_classes: int) -> nn.Module:
    """Replace a torchvision detector's heads by alp's configured heads, in place.

    Args:
        model: a torchvision ``FasterRCNN`` (box-only) or ``RetinaNet``, as built; existing
            layers (and their weights) are kept, a σ branch is added when configured.
        head_config: what to install; R-CNN-only options (emphasis, reg_loss, σ head, Libra
            samplers) on a RetinaNet and ``retina_cls_loss='aploss'`` on a Faster R-CNN raise
            ``ValueError``; ``score_hlr``/``isr_p``/``carl`` are ignored by RetinaNet (which
            reads ``retina_isr_p``/``retina_carl``).
        num_classes: classes as torchvision counts them: C + 1 (background included) for
            Faster R-CNN, C for RetinaNet; must match the model.

    Returns:
        The same ``model`` object. Calling it again with another config re-installs.
    """
    if isinstance(model, FasterRCNN):
        _install_rcnn(model, head_config, num_classes)
    elif isinstance(model, RetinaNet):
        _install_retina(model, head_config, num_classes)
    else:
        raise TypeError(
            f"install_heads supports FasterRCNN and RetinaNet, got {type(model).__name__}"
        )
    return model
