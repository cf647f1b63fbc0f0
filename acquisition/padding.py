"""Pack one view of many images into padded batch tensors, so per-image metrics run as a
few batched torch ops instead of hundreds of tiny per-image ops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from torchvision.ops import box_iou

from acquisition.ops import to_distribution
from acquisition.types import ORIGINAL, ImagePrediction, ViewPrediction

T = TypeVar("T")


@dataclass
class PaddedView:
    """One view of B images, padded to N = max(1, max detections) slots.

    ``boxes`` (B, N, 4), ``labels`` (B, N), ``scores`` (B, N), ``dist`` (B, N, K) class
    distributions from :func:`~acquisition.ops.to_distribution`, ``max_fg`` (B, N) the
    largest foreground class probability, ``log_vars`` (B, N, 4)
    (zeros where missing), ``has_log_vars`` (B,), ``valid`` (B, N) and ``count`` (B,).
    Padding slots hold zeros and ``valid = False``. Float fields are float64: results then
    agree to float32 precision whatever the batch composition (padding changes reduction
    order and vectorised/scalar code paths only at the float64 ulp level).
    """

    boxes: torch.Tensor
    labels: torch.Tensor
    scores: torch.Tensor
    dist: torch.Tensor
    max_fg: torch.Tensor
    log_vars: torch.Tensor
    has_log_vars: torch.Tensor
    valid: torch.Tensor
    count: torch.Tensor

    def masked_mean(self, x: torch.Tensor, weighted: bool = False) -> torch.Tensor:
        """Mean of (B, N) values over the valid slots; 0 for images without detections.
        ``weighted``: detection-score-weighted mean (plain mean where the scores sum to 0)."""
        plain = (x * self.valid).sum(1) / self.count.clamp_min(1)
        if not weighted:
            return plain
        w = self.scores * self.valid
        den = w.sum(1)
        return torch.where(den > 0, (x * w).sum(1) / den.clamp_min(1e-300), plain)


def pad_views(
    views: Sequence[ViewPrediction], has_background: bool, min_score: float
) -> PaddedView:
    """Keep detections with ``score >= min_score`` and pad them per image (B = len(views)).

    All views must share the probability width (same head). Works for B = 0 and for
    images without detections.
    """
    b = len(views)
    counts = torch.tensor([len(v) for v in views], dtype=torch.long)
    widths = {int(v.probs.shape[-1]) for v in views}
    if len(widths) > 1:
        raise ValueError(f"views have different class-probability widths {sorted(widths)}")
    k_in = widths.pop() if widths else 1
    boxes = torch.cat([v.boxes.reshape(-1, 4) for v in views]) if b else torch.zeros(0, 4)
    labels = torch.cat([v.labels.reshape(-1) for v in views]) if b else torch.zeros(0)
    scores = torch.cat([v.scores.reshape(-1) for v in views]) if b else torch.zeros(0)
    probs = torch.cat([v.probs.reshape(-1, k_in) for v in views]) if b else torch.zeros(0, k_in)
    has_lv = torch.tensor([v.log_vars is not None for v in views], dtype=torch.bool)
    lv = (
        torch.cat(
            [
                v.log_vars.reshape(-1, 4) if v.log_vars is not None else torch.zeros(len(v), 4)
                for v in views
            ]
        )
        if b
        else torch.zeros(0, 4)
    )
    img = torch.repeat_interleave(torch.arange(b), counts)
    keep = scores >= min_score
    img, boxes, labels, scores, probs, lv = (
        img[keep],
        boxes[keep],
        labels[keep],
        scores[keep],
        probs[keep],
        lv[keep],
    )
    dist = to_distribution(probs.to(torch.float64), has_background)
    fg = probs[:, 1:] if has_background else probs
    max_fg = fg.max(dim=1).values if fg.shape[1] else torch.zeros(fg.shape[0])
    count = torch.bincount(img, minlength=b)
    n = max(1, int(count.max())) if b else 1
    pos = torch.arange(img.numel()) - (torch.cumsum(count, 0) - count)[img]

    def put(values: torch.Tensor, *trail: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        out = torch.zeros(b, n, *trail, dtype=dtype)
        out[img, pos] = values.to(dtype)
        return out

    valid = torch.zeros(b, n, dtype=torch.bool)
    valid[img, pos] = True
    return PaddedView(
        boxes=put(boxes, 4, dtype=torch.float32),  # IoU needs no transcendental ops
        labels=put(labels, dtype=torch.long),
        scores=put(scores),
        dist=put(dist, dist.shape[-1]),
        max_fg=put(max_fg),
        log_vars=put(lv, 4),
        has_log_vars=has_lv,
        valid=valid,
        count=count,
    )


def padded_iou(a: PaddedView, b: PaddedView) -> torch.Tensor:
    """Pairwise IoU (B, N, M) of the two views' boxes per image; -1 on padding pairs."""
    iou = box_iou(a.boxes, b.boxes)
    ok = a.valid[:, :, None] & b.valid[:, None, :]
    return torch.where(ok, iou, torch.full_like(iou, -1.0))


def padded_match(a: PaddedView, b: PaddedView) -> tuple[torch.Tensor, torch.Tensor]:
    """For each slot of ``a``, the best IoU (>= 0; 0 if unmatched) and index into ``b``."""
    best, idx = padded_iou(a, b).max(dim=2)
    return best.clamp_min(0.0), idx


def class_histograms(v: PaddedView, num_classes: int, mode: str = "max") -> torch.Tensor:
    """(B, C) per-class max score (``"max"``) or score-weighted count (``"count"``)."""
    labels = torch.where(v.valid, v.labels, 0)
    if v.valid.any() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"detection labels must lie in [0, {num_classes})")
    out = torch.zeros(v.labels.shape[0], num_classes, dtype=v.scores.dtype)
    reduce = "amax" if mode == "max" else "sum"
    return out.scatter_reduce(1, labels, v.scores * v.valid, reduce=reduce)


def map_in_size_batches(
    preds: Sequence[ImagePrediction],
    fn: Callable[[list[ImagePrediction], bool], list[T]],
    batch_size: int = 128,
) -> list[T]:
    """Apply ``fn(batch, has_background)`` to batches of images with similar detection
    counts (less padding) and the same head type; results come back in input order."""

    def key(i: int) -> tuple[bool, int]:
        view = preds[i].views.get(ORIGINAL)
        return (preds[i].has_background, 0 if view is None else len(view))

    order = sorted(range(len(preds)), key=key)
    out: list[T | None] = [None] * len(preds)
    start = 0
    while start < len(order):
        bg = preds[order[start]].has_background
        stop = start
        while (
            stop < len(order)
            and stop - start < batch_size
            and preds[order[stop]].has_background == bg
        ):
            stop += 1
        idx = order[start:stop]
        for i, r in zip(idx, fn([preds[i] for i in idx], bg), strict=True):
            out[i] = r
        start = stop
    return out  # type: ignore[return-value]
