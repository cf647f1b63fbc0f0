"""Uncertainty-aware regression and the HUALE synchronic loss (ALGORITHMS.md §1.6, [R]).

The σ head predicts ``s = log σ²`` per box coordinate (same parameterisation as the deltas of
torchvision's ``BoxCoder``). All functions return per-sample losses (summed over the 4
coordinates) so that callers can weight samples before normalising like torchvision
(sum over positives / number of sampled RoIs).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from models.losses.iou import eiou_loss, reduce_loss

__all__ = ["lambda_schedule", "synchronic_loss", "uncertainty_regression_loss"]


def uncertainty_regression_loss(
    deltas: Tensor,
    target_deltas: Tensor,
    log_vars: Tensor,
    beta: float = 1.0 / 9.0,
    log_var_clamp: float = 10.0,
    reduction: str = "none",
) -> Tensor:
    """Kendall & Gal / KL-Loss style regression: ``exp(−s)·SmoothL1(Δ, Δ*)/2 + s/2``.

    Args:
        deltas: (N, 4) predicted box deltas.
        target_deltas: (N, 4) encoded regression targets.
        log_vars: (N, 4) predicted log-variances ``s``; clamped to ``[−clamp, clamp]``
            (no gradient outside that range).
        beta: Smooth-L1 transition point (torchvision's R-CNN uses 1/9).
        reduction: ``"none"`` → (N,) summed over coordinates; ``"sum"``/``"mean"`` → 0-d.
            Empty input → exactly 0.

    Returns:
        Per-sample loss (may be negative when σ < 1 and the error is small) or its reduction.
    """
    s = log_vars.clamp(min=-log_var_clamp, max=log_var_clamp)
    err = F.smooth_l1_loss(deltas, target_deltas, beta=beta, reduction="none")
    per_coord = 0.5 * (-s).exp() * err + 0.5 * s
    return reduce_loss(per_coord.sum(dim=-1), reduction)


def lambda_schedule(step: int, lam: float, ramp_steps: int) -> float:
    """λ for the synchronic loss at training step ``step`` (0-based).

    With ``ramp_steps > 0``, λ ramps linearly from 1 (pure EIoU, lets σ settle) to ``lam``
    over the first ``ramp_steps`` steps; afterwards, and when ``ramp_steps <= 0``, it is ``lam``.
    """
    if ramp_steps <= 0 or step >= ramp_steps:
        return float(lam)
    frac = max(step, 0) / ramp_steps
    return float(1.0 - (1.0 - lam) * frac)


def synchronic_loss(
    pred_boxes: Tensor,
    target_boxes: Tensor,
    deltas: Tensor,
    target_deltas: Tensor,
    log_vars: Tensor,
    lam: float = 0.5,
    gamma: float = 0.5,
    beta: float = 1.0 / 9.0,
    reduction: str = "none",
) -> Tensor:
    """Synchronic IoU–localisation loss ``λ·L_EIoU + (1 − λ)·L_unc`` per positive sample.

    Args:
        pred_boxes: (N, 4) boxes decoded from ``deltas`` (same proposals as the targets).
        target_boxes: (N, 4) matched ground-truth boxes.
        deltas, target_deltas, log_vars: (N, 4) as in :func:`uncertainty_regression_loss`.
        lam: weight of the EIoU term in [0, 1].
        gamma: EIoU focusing exponent.
        reduction: ``"none"`` → (N,); empty input → exactly 0 for ``"sum"``/``"mean"``.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lam}")
    l_iou = eiou_loss(pred_boxes, target_boxes, gamma=gamma)
    l_unc = uncertainty_regression_loss(deltas, target_deltas, log_vars, beta=beta)
    return reduce_loss(lam * l_iou + (1.0 - lam) * l_unc, reduction)
