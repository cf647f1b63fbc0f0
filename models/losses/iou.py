"""IoU-family box losses on decoded boxes (ALGORITHMS.md §1.6).

All boxes are ``(x1, y1, x2, y2)`` in pixels with ``x2 >= x1`` and ``y2 >= y1``; pairs are
aligned row by row (``pred[i]`` against ``target[i]``), not all-against-all.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import generalized_box_iou_loss

__all__ = ["eiou_loss", "paired_giou", "paired_iou", "reduce_loss"]


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Reduce a per-sample loss with ``"none" | "sum" | "mean"``.

    ``"mean"`` of an empty tensor is exactly 0 (not NaN) and keeps the autograd graph.
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else loss.sum() * 0.0
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")


def paired_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    """IoU of aligned box pairs.

    Args:
        boxes1, boxes2: (N, 4) boxes ``(x1, y1, x2, y2)``.
        eps: added to the union so that zero-area pairs give 0 instead of NaN.

    Returns:
        (N,) IoU in [0, 1]; an empty (0,) tensor for N = 0.
    """
    lt = torch.maximum(boxes1[:, :2], boxes2[:, :2])
    rb = torch.minimum(boxes1[:, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    return inter / (area1 + area2 - inter + eps)


def paired_giou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    """Generalised IoU of aligned box pairs, in [-1, 1] (torchvision's implementation).

    Args:
        boxes1, boxes2: (N, 4) boxes ``(x1, y1, x2, y2)``.

    Returns:
        (N,) GIoU; empty for N = 0; finite (not NaN) for zero-area boxes thanks to ``eps``.
    """
    return 1.0 - generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=eps)


def eiou_loss(
    pred_boxes: Tensor,
    target_boxes: Tensor,
    gamma: float = 0.5,
    reduction: str = "none",
    eps: float = 1e-7,
) -> Tensor:
    """Focal-modulated GIoU loss ``(1 + GIoU)^γ · (1 − GIoU)`` (HUALE "EIoU", [R]).

    The modulating factor ``(1 + GIoU)^γ`` (in [0, 2^γ]) is **detached**: gradients flow only
    through ``(1 − GIoU)``, so well-overlapping boxes get more weight without the factor's own
    gradient pushing their loss up.

    Args:
        pred_boxes: (N, 4) decoded predicted boxes (gradients flow here).
        target_boxes: (N, 4) matched ground-truth boxes.
        gamma: focusing exponent, 0 < γ ≤ 1 (γ = 0 gives the plain GIoU loss).
        reduction: ``"none"`` → (N,), ``"sum"`` / ``"mean"`` → 0-d; empty input → exactly 0.

    Returns:
        Per-pair loss in [0, 2^(1+γ)] or its reduction.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    giou = paired_giou(pred_boxes, target_boxes, eps=eps)
    base = 1.0 - giou
    if gamma == 0:
        return reduce_loss(base, reduction)
    factor = (1.0 + giou.detach()).clamp(min=0.0).pow(gamma)
    return reduce_loss(factor * base, reduction)
