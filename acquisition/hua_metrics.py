"""HUALE ranking metrics for one image (ALGORITHMS §1.4, all [R]); higher = more informative.

Every function is pure, handles empty views and returns a finite float. Boxes of the flip
view are already in original-image coordinates (see :mod:`acquisition.types`).
"""

from __future__ import annotations

import torch
from torchvision.ops import box_iou

from acquisition.ops import (
    LN2,
    class_histogram,
    js_divergence,
    match_boxes,
    normalize_hist,
    to_distribution,
)
from acquisition.types import ViewPrediction

Match = tuple[torch.Tensor, torch.Tensor]


def semantic_affinity(
    orig: ViewPrediction,
    flip: ViewPrediction,
    has_background: bool = True,
    variant: str = "js",
    match: Match | None = None,
) -> float:
    """Discrepancy in [0, 1] between original boxes and their best-IoU flip matches.

    ``variant="js"``: mean_k JS(p_k || p'_k) / ln 2; ``"iou"``: mean_k [1 - IoU_k (1 - JS_k/ln2)].
    A box whose best IoU is 0 counts 1. Both views empty -> 0; exactly one empty -> 1.
    ``match`` is ``match_boxes(orig.boxes, flip.boxes)`` if already computed.
    """
    n, m = len(orig), len(flip)
    if n == 0 and m == 0:
        return 0.0
    if n == 0 or m == 0:
        return 1.0
    iou, idx = match if match is not None else match_boxes(orig.boxes, flip.boxes)
    p = to_distribution(orig.probs, has_background)
    q = to_distribution(flip.probs, has_background)[idx]
    js = js_divergence(p, q) / LN2
    per_box = js if variant == "js" else 1.0 - iou * (1.0 - js)
    per_box = torch.where(iou > 0, per_box, torch.ones_like(per_box))
    return float(per_box.mean().clamp(0.0, 1.0))


def category_diversity(
    orig: ViewPrediction,
    flip: ViewPrediction | None,
    num_classes: int,
    variant: str = "views",
    histogram: str = "max",
    pool_dist: torch.Tensor | None = None,
) -> float:
    """Divergence in [0, 1] of image-level class histograms (JS / ln 2).

    ``variant="views"``: original vs flip histogram (exactly one view empty -> 1);
    ``"pool"``: original vs ``pool_dist`` (C,), the labelled pool's class distribution
    (None -> uniform). Histograms: per-class ``max`` score or score-weighted ``count``.
    No detections in the original (and, for "views", in the flip) -> 0.
    """
    h = class_histogram(orig.labels, orig.scores, num_classes, histogram)
    if variant == "pool":
        if len(orig) == 0:
            return 0.0
        ref = torch.full((num_classes,), 1.0 / num_classes) if pool_dist is None else pool_dist
        ref = normalize_hist(ref.to(torch.float32).clamp_min(0.0))
        if float(ref.sum()) == 0.0:
            ref = torch.full((num_classes,), 1.0 / num_classes)
        return float(js_divergence(normalize_hist(h), ref) / LN2)
    if flip is None:
        raise ValueError("category_diversity(variant='views') needs the flip view")
    n, m = len(orig), len(flip)
    if n == 0 and m == 0:
        return 0.0
    if n == 0 or m == 0:
        return 1.0
    hf = class_histogram(flip.labels, flip.scores, num_classes, histogram)
    return float(js_divergence(normalize_hist(h), normalize_hist(hf)) / LN2)


def overlap_ratio(boxes: torch.Tensor, threshold: float = 0.3) -> float:
    """Fraction of boxes (N, 4) whose IoU with some *other* box is >= ``threshold``.

    Class-agnostic; 0 when N < 2. Example: five boxes of which four overlap -> 0.8.
    """
    n = boxes.shape[0]
    if n < 2:
        return 0.0
    iou = box_iou(boxes.to(torch.float32), boxes.to(torch.float32))
    iou.fill_diagonal_(-1.0)
    return float((iou >= threshold).any(dim=1).sum()) / n


def sigma_uncertainty(views: list[ViewPrediction]) -> float:
    """LU = 1 - mean over boxes of all ``views`` of mean_e exp(-sigma_e), sigma = exp(s/2)
    from the log-variances s (N, 4). No boxes at all -> 1. Views without log_vars raise."""
    parts = []
    for v in views:
        if v.log_vars is None:
            raise ValueError("sigma localisation uncertainty needs log_vars on every view")
        parts.append(v.log_vars.reshape(-1, 4).to(torch.float32))
    s = torch.cat(parts) if parts else torch.zeros(0, 4)
    if s.shape[0] == 0:
        return 1.0
    conf = torch.exp(-torch.exp(0.5 * s.clamp(-10.0, 10.0))).mean(dim=1)
    return float((1.0 - conf.mean()).clamp(0.0, 1.0))


def flip_iou_uncertainty(n_orig: int, n_flip: int, match_iou: torch.Tensor) -> float:
    """Fallback LU = 1 - mean IoU of original boxes with their flip matches (unmatched -> 0).

    No boxes in either view -> 1 (ALGORITHMS §1.7); original empty, flip not -> 1.
    """
    if n_orig == 0 or n_flip == 0:
        return 1.0
    return float((1.0 - match_iou.mean()).clamp(0.0, 1.0))
