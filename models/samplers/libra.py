"""Libra R-CNN sampling: instance-balanced positives + IoU-balanced negatives (ALGORITHMS §4).

Two behaviours of the negative binning, chosen by ``faithful``:

* ``False`` (mmdetection-compatible): bins split ``[floor, max_iou)`` where ``max_iou`` is
  the largest max-IoU of **all** candidates (≈ 1 with GT boxes appended), so the top bin is
  usually empty and its quota is refilled at random;
* ``True`` (paper): bins split ``[floor, neg_iou_thr)``, the IoU range negatives can have.

mmdetection's known defects are not reproduced: leftovers are computed on index tensors
(``torch.isin``), so no duplicates; ``floor_thr = -1`` never mutates the sampler.
"""

from __future__ import annotations

import torch
from torch import Tensor

from models.losses.ranking import rank_within_groups
from models.samplers.base import SampleResult, expected_counts, random_subset, split_pos_neg

__all__ = ["InstanceBalancedPosSampler", "IoUBalancedNegSampler", "LibraSampler"]


def _rand_keys(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    return torch.rand(n, generator=generator, device="cpu").to(device)


def _fill(chosen: Tensor, pool: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """Append up to ``k − len(chosen)`` random elements of ``pool`` not already chosen."""
    short = k - chosen.numel()
    if short <= 0:
        return chosen
    rest = pool[~torch.isin(pool, chosen)]
    return torch.cat([chosen, random_subset(rest, short, generator)])


class InstanceBalancedPosSampler:
    """Positives spread evenly over GT instances.

    ``__call__(pos_inds, gt_inds, num_expected, generator) -> Tensor``: if there are at most
    ``num_expected`` positives all are returned; otherwise each GT contributes at most
    ``round(num_expected / num_gts) + 1`` random positives, the shortfall is filled at random
    from unused positives and any excess is randomly dropped.

    Args (call):
        pos_inds: (p,) candidate indices of the positives.
        gt_inds: (p,) assigned GT of each positive.
    """

    def __call__(
        self,
        pos_inds: Tensor,
        gt_inds: Tensor,
        num_expected: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        if pos_inds.numel() <= num_expected:
            return pos_inds
        num_gts = int(torch.unique(gt_inds).numel())
        per_gt = round(num_expected / num_gts) + 1
        keys = _rand_keys(pos_inds.numel(), generator, pos_inds.device)
        chosen = pos_inds[rank_within_groups(gt_inds, keys) < per_gt]
        if chosen.numel() > num_expected:
            return random_subset(chosen, num_expected, generator)
        return _fill(chosen, pos_inds, num_expected, generator)


class IoUBalancedNegSampler:
    """IoU-balanced negatives (mmdet ``IoUBalancedNegSampler`` semantics).

    Args:
        floor_thr: −1 = no floor set; 0 = IoU == 0 negatives form the floor set; > 0 = IoU in
            ``[0, floor_thr)`` form the floor set. The floor set is sampled at random.
        floor_fraction: share of ``num_expected`` reserved for the floor set.
        num_bins: number of IoU bins K (quota ``int(n_iou / K)`` each).

    ``__call__(neg_inds, neg_ious, num_expected, max_iou, generator) -> Tensor`` with
    ``neg_ious`` (n,) the max IoU of each negative with any GT and ``max_iou`` the upper end
    of the binned range.
    """

    def __init__(self, floor_thr: float = -1.0, floor_fraction: float = 0.0, num_bins: int = 3):
        if not 0.0 <= floor_fraction <= 1.0:
            raise ValueError(f"floor_fraction must be in [0, 1], got {floor_fraction}")
        if num_bins < 1:
            raise ValueError(f"num_bins must be >= 1, got {num_bins}")
        self.floor_thr = floor_thr
        self.floor_fraction = floor_fraction
        self.num_bins = num_bins

    def _interval_sample(
        self, inds: Tensor, ious: Tensor, n: int, lo: float, hi: float, gen: torch.Generator | None
    ) -> Tensor:
        width = (hi - lo) / self.num_bins
        if width <= 0:
            return random_subset(inds, n, gen)
        bins = torch.floor((ious - lo) / width).long()
        in_range = (bins >= 0) & (bins < self.num_bins)
        keys = _rand_keys(inds.numel(), gen, inds.device)
        rank = rank_within_groups(torch.where(in_range, bins, -1), keys)
        chosen = inds[in_range & (rank < n // self.num_bins)]
        return _fill(chosen, inds, n, gen)

    def __call__(
        self,
        neg_inds: Tensor,
        neg_ious: Tensor,
        num_expected: int,
        max_iou: float,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        if neg_inds.numel() <= num_expected:
            return neg_inds
        if self.floor_thr > 0:
            floor_mask = neg_ious < self.floor_thr
        elif self.floor_thr == 0:
            floor_mask = neg_ious == 0
        else:
            floor_mask = torch.zeros_like(neg_ious, dtype=torch.bool)
        floor_set, iou_set = neg_inds[floor_mask], neg_inds[~floor_mask]
        iou_ious = neg_ious[~floor_mask]
        n_iou = int(num_expected * (1 - self.floor_fraction))
        if iou_set.numel() > n_iou and self.num_bins >= 2:
            lo = max(self.floor_thr, 0.0)
            sampled = self._interval_sample(iou_set, iou_ious, n_iou, lo, max_iou, generator)
        else:
            sampled = random_subset(iou_set, n_iou, generator)
        sampled = torch.cat(
            [sampled, random_subset(floor_set, num_expected - sampled.numel(), generator)]
        )
        return _fill(sampled, neg_inds, num_expected, generator)


class LibraSampler:
    """Combined Libra sampler: instance-balanced positives + IoU-balanced negatives.

    Args:
        num: RoIs per image; pos_fraction: positive share (quota ``int(num·pos_fraction)``).
        num_bins, floor_thr, floor_fraction: see :class:`IoUBalancedNegSampler`.
        faithful: bin ``[floor, neg_iou_thr)`` (paper) instead of ``[floor, max IoU of all
            candidates)`` (mmdetection).
        neg_iou_thr: the R-CNN matcher's background threshold (torchvision default 0.5).

    ``__call__(labels, matched_idxs, max_ious, generator=None) -> SampleResult`` where
    ``matched_idxs`` (P,) is the assigned GT of each candidate (any value for negatives) and
    ``max_ious`` (P,) its max IoU with any GT (0 for an image without GT).
    """

    def __init__(
        self,
        num: int = 512,
        pos_fraction: float = 0.25,
        num_bins: int = 3,
        floor_thr: float = -1.0,
        floor_fraction: float = 0.0,
        faithful: bool = False,
        neg_iou_thr: float = 0.5,
    ) -> None:
        if num < 1 or not 0.0 <= pos_fraction <= 1.0:
            raise ValueError(f"need num >= 1 and 0 <= pos_fraction <= 1, got {num}, {pos_fraction}")
        self.num = num
        self.pos_fraction = pos_fraction
        self.faithful = faithful
        self.neg_iou_thr = neg_iou_thr
        self.pos_sampler = InstanceBalancedPosSampler()
        self.neg_sampler = IoUBalancedNegSampler(floor_thr, floor_fraction, num_bins)

    def __call__(
        self,
        labels: Tensor,
        matched_idxs: Tensor,
        max_ious: Tensor,
        generator: torch.Generator | None = None,
    ) -> SampleResult:
        pos, neg = split_pos_neg(labels)
        num_pos, _ = expected_counts(self.num, self.pos_fraction, pos.numel())
        pos = self.pos_sampler(pos, matched_idxs[pos], num_pos, generator)
        num_neg = self.num - pos.numel()
        if self.faithful:
            hi = self.neg_iou_thr
        else:
            hi = float(max_ious.max()) if max_ious.numel() else 0.0
        neg = self.neg_sampler(neg, max_ious[neg], num_neg, hi, generator)
        return SampleResult(pos, neg, None)
