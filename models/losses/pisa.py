"""PISA: ISR-P positive re-weighting and CARL (ALGORITHMS.md §5.1 and §5.3)."""

from __future__ import annotations

import torch
from torch import Tensor

from models.losses.ranking import rank_within_groups

__all__ = ["carl_loss", "carl_weights", "isr_p_weights"]


@torch.no_grad()
def isr_p_weights(
    ious: Tensor,
    labels: Tensor,
    gt_ids: Tensor,
    losses: Tensor,
    k: float = 2.0,
    bias: float = 0.0,
    base_weights: Tensor | None = None,
) -> Tensor:
    """Importance-based Sample Reweighting of positives (IoU-HLR ranking), detached.

    1. local rank ``r_loc`` of each positive among the positives of its GT (IoU descending);
    2. ``IoU' = IoU + (n_max − r_loc)`` with ``n_max`` the largest positive count of a class;
    3. global rank ``r`` inside the class by ``IoU'`` descending (all rank-0 samples first);
    4. ``w = base · (n_max − r)/n_max``, then ``w ← (bias + (1 − bias)·w)^k``;
    5. renormalise so that ``Σ w·loss = Σ base·loss`` (the total positive loss is unchanged).

    Args:
        ious: (n,) IoU of each positive's decoded (detached) prediction with its GT.
        labels: (n,) class of each positive (any integer ids).
        gt_ids: (n,) id of the assigned GT, **unique across the batch** (offset per image).
        losses: (n,) per-positive classification loss with reduction ``none`` (values only).
        k, bias: non-linear mapping (mmdet R-CNN/RetinaNet default k = 2, bias = 0).
        base_weights: (n,) incoming label weights (default 1).

    Returns:
        (n,) new label weights for the positives; empty input → empty output. If the weighted
        loss sums to 0 the un-normalised weights are returned.
    """
    n = ious.numel()
    base = torch.ones_like(losses) if base_weights is None else base_weights.to(losses)
    if n == 0:
        return base.clone()
    ious = ious.detach().to(losses.dtype)
    n_max = torch.bincount(labels - labels.min()).max().to(losses.dtype)
    local_rank = rank_within_groups(gt_ids, ious)
    boosted = ious + (n_max - local_rank.to(losses.dtype))
    global_rank = rank_within_groups(labels, boosted).to(losses.dtype)
    w = base * (n_max - global_rank) / n_max
    w = (bias + (1.0 - bias) * w).pow(k)
    ori = (base * losses.detach()).sum()
    new = (w * losses.detach()).sum()
    ok = new > 0
    ratio = torch.where(ok, ori / torch.where(ok, new, torch.ones_like(new)), torch.ones_like(new))
    return w * ratio


def carl_weights(
    cls_logits: Tensor, labels: Tensor, k: float = 1.0, bias: float = 0.2, sigmoid: bool = False
) -> Tensor:
    """CARL weights ``c = (bias + (1 − bias)·v)^k`` normalised so that ``Σ c = n``.

    ``v`` is the predicted score of the GT class: softmax over the row (R-CNN, column 0 =
    background) or sigmoid of that logit (RetinaNet/SSD). **Not detached**: the gradient reaches
    the classification logits.

    Args:
        cls_logits: (n, K) logits of the positives; labels: (n,) int64 column of the GT class.

    Returns:
        (n,) weights summing to n; empty input → empty output.
    """
    if labels.numel() == 0:
        return cls_logits.new_zeros(0)
    probs = cls_logits.sigmoid() if sigmoid else cls_logits.softmax(dim=-1)
    v = probs.gather(1, labels[:, None]).squeeze(1)
    c = (bias + (1.0 - bias) * v).pow(k)
    return c * (labels.numel() / c.sum())


def carl_loss(
    cls_logits: Tensor,
    labels: Tensor,
    reg_losses: Tensor,
    k: float = 1.0,
    bias: float = 0.2,
    avg_factor: float | Tensor | None = None,
    sigmoid: bool = False,
) -> Tensor:
    """Classification-Aware Regression Loss ``Σ_i c_i · L_reg,i / avg_factor`` (0-d).

    Added to, not replacing, the normal box loss (key ``loss_carl``). Gradients flow into the
    classification logits through ``c`` and into the regression through ``reg_losses``.

    Args:
        cls_logits: (n, K) logits of the positive samples.
        labels: (n,) int64 column of each positive's GT class in ``cls_logits``.
        reg_losses: (n,) per-positive regression loss (summed over the 4 coordinates).
        k, bias: mapping of the score (mmdet default k = 1, bias = 0.2).
        avg_factor: normaliser (R-CNN: number of sampled RoIs; RetinaNet: number of positives);
            default n. A value < 1 is raised to 1.
        sigmoid: score via sigmoid (one-stage) instead of softmax (R-CNN).

    Returns:
        0-d loss; exactly 0 (graph kept) with no positives.
    """
    if labels.numel() == 0:
        return cls_logits.sum() * 0.0 + reg_losses.sum() * 0.0
    c = carl_weights(cls_logits, labels, k=k, bias=bias, sigmoid=sigmoid)
    avg = float(labels.numel()) if avg_factor is None else avg_factor
    if isinstance(avg, Tensor):
        avg = avg.to(reg_losses.dtype).clamp(min=1.0)
    else:
        avg = max(float(avg), 1.0)
    return (c * reg_losses).sum() / avg
