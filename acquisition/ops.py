"""Small pure tensor helpers shared by the strategies (no state, no RNG).

Every function accepts empty inputs (N = 0) and returns finite values.
"""

from __future__ import annotations

import math

import torch
from torchvision.ops import box_iou

from acquisition.types import ViewPrediction

EPS = 1e-10
LN2 = math.log(2.0)


def flip_boxes(boxes: torch.Tensor, width: float) -> torch.Tensor:
    """Map ``[x1, y1, x2, y2]`` boxes through a horizontal flip of an image ``width`` wide.

    ``x1' = W - x2``, ``x2' = W - x1``; y is unchanged; (N, 4) -> (N, 4), same dtype. The map
    is its own inverse; the round trip is exact whenever ``W - x`` is representable (e.g.
    pixel coordinates on a 1/256 grid in float32), otherwise within one ulp.
    """
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    out = boxes.clone()
    out[:, 0] = width - boxes[:, 2]
    out[:, 2] = width - boxes[:, 0]
    return out


def filter_view(view: ViewPrediction, min_score: float) -> ViewPrediction:
    """Keep the detections with ``score >= min_score`` (all fields filtered alike)."""
    keep = view.scores >= min_score
    if bool(keep.all()):
        return view
    return ViewPrediction(
        boxes=view.boxes[keep],
        labels=view.labels[keep],
        scores=view.scores[keep],
        probs=view.probs[keep],
        log_vars=None if view.log_vars is None else view.log_vars[keep],
    )


def to_distribution(probs: torch.Tensor, has_background: bool) -> torch.Tensor:
    """Turn per-detection class probabilities into distributions over C+1 outcomes.

    * softmax heads (``has_background``): (N, C+1) rows renormalised to sum 1;
    * sigmoid heads: (N, C) -> (N, C+1) ``[1 - s, s * p / sum(p)]`` with ``s = max_c p_c``
      (background mass = 1 - best class score). [R] design choice, see ALGORITHMS §1.3.
    Empty input gives an empty (0, K) tensor. float64 input stays float64, else float32.
    """
    dtype = torch.float64 if probs.dtype == torch.float64 else torch.float32
    probs = probs.to(dtype).clamp_min(0.0)
    if has_background:
        return probs / probs.sum(-1, keepdim=True).clamp_min(EPS)
    s = probs.max(-1, keepdim=True).values if probs.shape[-1] else probs.sum(-1, keepdim=True)
    fg = s * probs / probs.sum(-1, keepdim=True).clamp_min(EPS)
    return torch.cat([1.0 - s, fg], dim=-1)


def normalized_entropy(dist: torch.Tensor) -> torch.Tensor:
    """Entropy of each row of ``dist`` (N, K) divided by ``log K``: (N,) in [0, 1]."""
    k = dist.shape[-1]
    if k < 2:
        return dist.new_zeros(dist.shape[:-1])
    h = -(dist * torch.log(dist.clamp_min(EPS))).sum(-1)
    return (h / math.log(k)).clamp(0.0, 1.0)


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """Natural-log entropy of Bernoulli(p), elementwise, finite for p in {0, 1}."""
    p = p.clamp(EPS, 1.0 - 1e-7)
    return -(p * torch.log(p) + (1.0 - p) * torch.log1p(-p))


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Row-wise Jensen-Shannon divergence (natural log, in [0, ln 2]) of (..., K) rows.

    Inputs are distributions; tiny negative float errors are clamped to 0.
    """
    m = 0.5 * (p + q)
    log_m = torch.log(m.clamp_min(EPS))
    kl_p = (p * (torch.log(p.clamp_min(EPS)) - log_m)).sum(-1)
    kl_q = (q * (torch.log(q.clamp_min(EPS)) - log_m)).sum(-1)
    return (0.5 * (kl_p + kl_q)).clamp(0.0, LN2)


def match_boxes(ref: torch.Tensor, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each box in ``ref`` (N, 4), its best-IoU box in ``other`` (M, 4).

    Returns ``(iou, index)``, both (N,); with M = 0 the IoUs are 0 and indices 0 (callers
    must treat IoU 0 as "unmatched"). Ties go to the lowest index.
    """
    n = ref.shape[0]
    if n == 0 or other.shape[0] == 0:
        return ref.new_zeros(n), torch.zeros(n, dtype=torch.long)
    iou = box_iou(ref.to(torch.float32), other.to(torch.float32))
    best, idx = iou.max(dim=1)
    return best, idx


def class_histogram(
    labels: torch.Tensor, scores: torch.Tensor, num_classes: int, mode: str = "max"
) -> torch.Tensor:
    """Per-class score histogram (C,) of one view (unnormalised).

    ``mode="max"``: max score of the detections of each class; ``"count"``: score-weighted
    count. Classes without detections get 0; labels outside [0, C) raise ``ValueError``.
    """
    out = torch.zeros(num_classes, dtype=torch.float32)
    if labels.numel() == 0:
        return out
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"detection labels must lie in [0, {num_classes}), got {labels.tolist()}")
    reduce = "amax" if mode == "max" else "sum"
    return out.scatter_reduce(0, labels.long(), scores.to(torch.float32), reduce=reduce)


def normalize_hist(h: torch.Tensor) -> torch.Tensor:
    """``h / sum(h)``; an all-zero histogram stays all zero."""
    return h / h.sum(-1, keepdim=True).clamp_min(EPS)


def aggregate(values: torch.Tensor, how: str, empty: float) -> float:
    """Reduce per-detection values (N,) with ``max`` | ``mean`` | ``sum``; ``empty`` if N = 0."""
    if values.numel() == 0:
        return float(empty)
    if how == "max":
        return float(values.max())
    if how == "mean":
        return float(values.mean())
    if how == "sum":
        return float(values.sum())
    raise ValueError(f"unknown aggregate {how!r}; expected max, mean or sum")
