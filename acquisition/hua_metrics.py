"""HUALE ranking metrics (ALGORITHMS §1.4, all [R]); higher = more informative.

Each metric is implemented once, batched over B images on :class:`PaddedView` tensors
(``*_batch``, returning (B,) tensors); the per-image functions are thin wrappers for
callers with a single image. Boxes of the flip view are already in original coordinates.
All results are finite and handle empty views as specified in §1.7. ``weighted=True``
replaces the per-box means by detection-score-weighted means (not HUALE's; an alp option),
so that a few confident boxes outweigh many near-threshold ones.
"""

from __future__ import annotations

import torch

from acquisition.ops import LN2, js_divergence, normalize_hist
from acquisition.padding import (
    PaddedView,
    class_histograms,
    pad_views,
    padded_iou,
    padded_match,
)
from acquisition.types import ViewPrediction

NO_FILTER = float("-inf")


def _one_empty(o: PaddedView, f: PaddedView) -> tuple[torch.Tensor, torch.Tensor]:
    n0, m0 = o.count == 0, f.count == 0
    return n0 & m0, n0 ^ m0


def semantic_affinity_batch(
    o: PaddedView,
    f: PaddedView,
    match: tuple[torch.Tensor, torch.Tensor],
    variant: str = "js",
    weighted: bool = False,
) -> torch.Tensor:
    """mean_k JS(p_k || p'_k)/ln2 (``"js"``) or mean_k [1 - IoU_k (1 - JS_k/ln2)] (``"iou"``)
    over original boxes and their best-IoU flip matches; unmatched (IoU 0) boxes count 1;
    both views empty -> 0; exactly one empty -> 1. Result (B,) in [0, 1]."""
    iou, idx = match
    q = f.dist.gather(1, idx[:, :, None].expand(-1, -1, f.dist.shape[-1]))
    js = js_divergence(o.dist, q) / LN2
    per_box = js if variant == "js" else 1.0 - iou * (1.0 - js)
    per_box = torch.where(iou > 0, per_box, torch.ones_like(per_box))
    sa = o.masked_mean(per_box, weighted).clamp(0.0, 1.0)
    both, one = _one_empty(o, f)
    return torch.where(both, 0.0, torch.where(one, 1.0, sa))


def category_diversity_batch(
    o: PaddedView,
    f: PaddedView | None,
    num_classes: int,
    variant: str = "views",
    histogram: str = "max",
    pool_dist: torch.Tensor | None = None,
) -> torch.Tensor:
    """JS/ln2 between normalised class histograms: original vs flip (``"views"``; exactly one
    view empty -> 1) or original vs the labelled pool's distribution ``pool_dist`` (C,)
    (``"pool"``; None or all-zero -> uniform). No detections (in both views) -> 0."""
    h = normalize_hist(class_histograms(o, num_classes, histogram))
    if variant == "pool":
        ones = torch.ones(num_classes, dtype=h.dtype)
        ref = ones if pool_dist is None else pool_dist.to(h.dtype).clamp_min(0)
        ref = normalize_hist(ref if float(ref.sum()) > 0 else ones)
        cd = js_divergence(h, ref.expand_as(h)) / LN2
        return torch.where(o.count == 0, 0.0, cd)
    if f is None:
        raise ValueError("category_diversity(variant='views') needs the flip view")
    hf = normalize_hist(class_histograms(f, num_classes, histogram))
    cd = js_divergence(h, hf) / LN2
    both, one = _one_empty(o, f)
    return torch.where(both, 0.0, torch.where(one, 1.0, cd))


def overlap_ratio_batch(
    v: PaddedView,
    threshold: float = 0.3,
    self_iou: torch.Tensor | None = None,
    weighted: bool = False,
) -> torch.Tensor:
    """Fraction (score-weighted share if ``weighted``) of boxes whose IoU with some *other*
    box of the same image is >= ``threshold`` (class-agnostic); 0 with fewer than 2 boxes.
    (B,)."""
    iou = padded_iou(v, v) if self_iou is None else self_iou
    eye = torch.eye(iou.shape[1], dtype=torch.bool)
    hit = (torch.where(eye, -1.0, iou) >= threshold).any(dim=2) & v.valid
    ratio = v.masked_mean(hit.to(v.scores.dtype), weighted)
    return torch.where(v.count < 2, 0.0, ratio)


def sigma_uncertainty_batch(views: list[PaddedView], weighted: bool = False) -> torch.Tensor:
    """LU = 1 - mean (score-weighted if ``weighted``) over the boxes of all views that carry
    log-variances s of mean_e exp(-sigma_e), sigma = exp(s / 2); 1 when there are no such
    boxes (or, weighted, when their scores sum to 0). (B,)."""
    num = torch.zeros(views[0].count.shape[0], dtype=views[0].log_vars.dtype)
    den = torch.zeros_like(num)
    for v in views:
        conf = torch.exp(-torch.exp(0.5 * v.log_vars.clamp(-10.0, 10.0))).mean(dim=2)
        w = v.valid * (v.scores if weighted else 1.0)
        num = num + (conf * w).sum(1) * v.has_log_vars
        den = den + w.sum(1) * v.has_log_vars
    return torch.where(den > 0, 1.0 - num / den.clamp_min(1e-300), 1.0).clamp(0.0, 1.0)


def flip_iou_uncertainty_batch(
    o: PaddedView, f: PaddedView, match: tuple[torch.Tensor, torch.Tensor], weighted: bool = False
) -> torch.Tensor:
    """LU fallback = 1 - mean best flip IoU of the original boxes; 1 if either view is empty."""
    lu = (1.0 - o.masked_mean(match[0], weighted)).clamp(0.0, 1.0)
    return torch.where((o.count == 0) | (f.count == 0), 1.0, lu)


# ----------------------------------------------------------------- per-image wrappers
def _pad(v: ViewPrediction, bg: bool = True) -> PaddedView:
    return pad_views([v], bg, NO_FILTER)


def semantic_affinity(
    orig: ViewPrediction,
    flip: ViewPrediction,
    has_background: bool = True,
    variant: str = "js",
    weighted: bool = False,
) -> float:
    o, f = _pad(orig, has_background), _pad(flip, has_background)
    return float(semantic_affinity_batch(o, f, padded_match(o, f), variant, weighted)[0])


def category_diversity(
    orig: ViewPrediction,
    flip: ViewPrediction | None,
    num_classes: int,
    variant: str = "views",
    histogram: str = "max",
    pool_dist: torch.Tensor | None = None,
) -> float:
    f = None if flip is None else _pad(flip)
    return float(
        category_diversity_batch(_pad(orig), f, num_classes, variant, histogram, pool_dist)[0]
    )


def overlap_ratio(
    boxes: torch.Tensor, threshold: float = 0.3, scores: torch.Tensor | None = None
) -> float:
    """Example: five boxes of which four overlap -> 0.8. With ``scores``: the score-weighted
    share."""
    n = boxes.shape[0]
    w = torch.ones(n) if scores is None else scores
    v = ViewPrediction(boxes, torch.zeros(n, dtype=torch.long), w, torch.ones(n, 2), None)
    return float(overlap_ratio_batch(_pad(v), threshold, weighted=scores is not None)[0])


def sigma_uncertainty(views: list[ViewPrediction], weighted: bool = False) -> float:
    """Views without log_vars raise ``ValueError``."""
    if any(v.log_vars is None for v in views):
        raise ValueError("sigma localisation uncertainty needs log_vars on every view")
    return float(sigma_uncertainty_batch([_pad(v) for v in views], weighted)[0])


def flip_iou_uncertainty(
    orig: ViewPrediction, flip: ViewPrediction, weighted: bool = False
) -> float:
    o, f = _pad(orig), _pad(flip)
    return float(flip_iou_uncertainty_batch(o, f, padded_match(o, f), weighted)[0])
