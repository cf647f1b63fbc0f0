"""HUALE Emphasis-loss weights (ALGORITHMS.md §1.5, β sources are [R]).

``L_Emp = (1 + β_cls)·L_cls + (1 + β_loc)·L_loc``. Three interchangeable β sources:

* ``"a"`` :class:`ClassDifficultyEMA` — per-class EMA of the GT-class probability and of
  the IoU of decoded predictions; β = 1 − quality (default);
* ``"b"`` :func:`hardness_betas` — per-sample hardness ``1 − p_gt`` and ``1 − IoU``;
* ``"c"`` :func:`loss_ratio_betas` — per-batch loss ratio.

Every β is detached; :func:`emphasis_weights` turns β into per-sample loss weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ClassDifficultyEMA", "emphasis_weights", "hardness_betas", "loss_ratio_betas"]


class ClassDifficultyEMA(nn.Module):
    """Per-class EMA trackers ``a_c`` (mean GT-class probability) and ``u_c`` (mean IoU).

    State lives in buffers (saved with checkpoints): ``cls_quality`` (C,), ``loc_quality``
    (C,) and ``seen`` (C,) bool. The first observation of a class sets its trackers directly
    (no bias toward the zero initialisation); later ones use
    ``q ← m·q + (1 − m)·batch_mean``. A class never seen has quality 0, i.e. β = 1.

    Args:
        num_classes: number of foreground classes C (class indices 0..C-1).
        momentum: EMA momentum m in [0, 1).
    """

    cls_quality: Tensor
    loc_quality: Tensor
    seen: Tensor

    def __init__(self, num_classes: int, momentum: float = 0.99) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.num_classes = num_classes
        self.momentum = momentum
        self.register_buffer("cls_quality", torch.zeros(num_classes))
        self.register_buffer("loc_quality", torch.zeros(num_classes))
        self.register_buffer("seen", torch.zeros(num_classes, dtype=torch.bool))

    @torch.no_grad()
    def update(self, labels: Tensor, p_gt: Tensor, ious: Tensor) -> None:
        """Fold one batch of positive samples into the trackers.

        Args:
            labels: (n,) int64 foreground class index in [0, C) of each positive.
            p_gt: (n,) probability of the GT class (any float dtype; detached here).
            ious: (n,) IoU of the decoded prediction with its GT.
            n = 0 is a no-op.
        """
        if labels.numel() == 0:
            return
        c = self.num_classes
        counts = torch.bincount(labels, minlength=c).to(self.cls_quality.dtype)
        present = counts > 0
        denom = counts.clamp(min=1)
        for tracker, values in ((self.cls_quality, p_gt), (self.loc_quality, ious)):
            sums = torch.zeros_like(tracker).index_add_(0, labels, values.detach().to(tracker))
            mean = sums / denom
            ema = self.momentum * tracker + (1.0 - self.momentum) * mean
            new = torch.where(self.seen, ema, mean)
            tracker.copy_(torch.where(present, new, tracker))
        self.seen |= present

    def betas(self, labels: Tensor) -> tuple[Tensor, Tensor]:
        """β_cls = 1 − a_c and β_loc = 1 − u_c for each label (n,) → two (n,) tensors in [0,1]."""
        b_cls = (1.0 - self.cls_quality).clamp(0.0, 1.0)
        b_loc = (1.0 - self.loc_quality).clamp(0.0, 1.0)
        return b_cls[labels], b_loc[labels]

    def negative_beta(self) -> Tensor:
        """β_cls for negatives: mean over the seen classes of ``1 − a_c`` (0-d; 0 if none seen)."""
        if not bool(self.seen.any()):
            return self.cls_quality.new_zeros(())
        return (1.0 - self.cls_quality[self.seen]).clamp(0.0, 1.0).mean()


def hardness_betas(p_gt: Tensor, ious: Tensor) -> tuple[Tensor, Tensor]:
    """Option (b): per-sample β_cls = 1 − p_gt, β_loc = 1 − IoU, both detached, clamped to [0,1].

    Args:
        p_gt: (n,) GT-class probability; ious: (n,) IoU with the GT box.
    """
    return (1.0 - p_gt.detach()).clamp(0.0, 1.0), (1.0 - ious.detach()).clamp(0.0, 1.0)


def loss_ratio_betas(
    loss_cls: Tensor, loss_loc: Tensor, eps: float = 1e-12
) -> tuple[Tensor, Tensor]:
    """Option (c): β_cls = L_cls/(L_cls + L_loc), β_loc = L_loc/(L_cls + L_loc), detached 0-d.

    Both are 0 when the two losses sum to 0 (e.g. an empty batch).
    """
    lc, ll = loss_cls.detach(), loss_loc.detach()
    total = lc + ll
    ok = total.abs() > eps
    safe = torch.where(ok, total, torch.ones_like(total))
    zero = torch.zeros_like(total)
    return torch.where(ok, lc / safe, zero), torch.where(ok, ll / safe, zero)


def emphasis_weights(betas: Tensor, losses: Tensor, renormalise: bool = True) -> Tensor:
    """Per-sample weights ``1 + β_i`` (detached), optionally renormalised.

    With ``renormalise`` the weights are rescaled so that
    ``Σ w_i·|l_i| = (1 + mean β)·Σ |l_i|``: the emphasis redistributes loss between samples
    while the total grows only by the mean β, which keeps the learning-rate schedule valid.
    Magnitudes, not signed values: the uncertainty / synchronic losses go negative when
    σ < 1, and a signed sum near 0 or of the other sign would give huge or negative weights
    (gradient ascent). For non-negative losses the two are the same.

    Args:
        betas: (n,) β per sample (or a 0-d β broadcast to all samples).
        losses: (n,) per-sample losses (detached here; only their values are used).

    Returns:
        (n,) positive weights; empty for n = 0. If ``Σ (1+β_i)·|l_i|`` is 0 the weights are
        not rescaled.
    """
    betas = betas.detach()
    losses = losses.detach().abs()
    w = (1.0 + betas).expand_as(losses).to(losses.dtype)
    if not renormalise or losses.numel() == 0:
        return w.clone()
    weighted = (w * losses).sum()
    target = (1.0 + betas.to(losses.dtype).mean()) * losses.sum()
    safe = torch.where(weighted != 0, weighted, torch.ones_like(weighted))
    ratio = torch.where(weighted != 0, target / safe, torch.ones_like(weighted))
    return w * ratio
