"""Shared types and random helpers for the R-CNN RoI samplers.

Conventions for every sampler (one image at a time, like mmdetection):

* candidates are the image's proposals **after** the GT boxes were appended;
* ``labels`` (P,) int64: ``> 0`` positive (class id), ``0`` negative, ``-1`` ignored;
* samplers return indices into the candidates; positives and negatives never overlap and
  never repeat;
* randomness comes from the optional ``torch.Generator`` (``None`` = torch's default
  generator, which is what torchvision's own sampler uses during training).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["SampleResult", "random_subset", "split_pos_neg"]


class SampleResult(NamedTuple):
    """Indices chosen for one image.

    Attributes:
        pos_inds: (p,) int64 indices of the sampled positives.
        neg_inds: (n,) int64 indices of the sampled negatives.
        neg_weights: (n,) classification label weights of the negatives (ISR-N), or ``None``
            meaning all 1.
    """

    pos_inds: Tensor
    neg_inds: Tensor
    neg_weights: Tensor | None = None


def random_subset(inds: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """``min(k, len(inds))`` distinct elements of ``inds`` in random order (k ≤ 0 → empty)."""
    k = max(0, min(int(k), inds.numel()))
    if k == inds.numel():
        return inds[torch.randperm(k, generator=generator, device="cpu").to(inds.device)]
    perm = torch.randperm(inds.numel(), generator=generator, device="cpu").to(inds.device)
    return inds[perm[:k]]


def split_pos_neg(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Indices of positive (``labels > 0``) and negative (``labels == 0``) candidates."""
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    pos = torch.nonzero(labels > 0).squeeze(1)
    neg = torch.nonzero(labels == 0).squeeze(1)
    return pos, neg


def expected_counts(num: int, pos_fraction: float, num_pos_available: int) -> tuple[int, int]:
    """mmdet/torchvision quotas: ``num_pos = min(int(num·pos_fraction), available)``,
    ``num_neg = num − num_pos``."""
    num_pos = min(int(num * pos_fraction), num_pos_available)
    return num_pos, num - num_pos
