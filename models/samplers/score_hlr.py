"""PISA Score-HLR negative sampling with ISR-N weights (ALGORITHMS.md §5.2; two-stage only)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_iou, nms

from models.losses.ranking import rank_within_groups
from models.samplers.base import SampleResult, expected_counts, random_subset, split_pos_neg

__all__ = ["ScoreHLRSampler", "nms_match_groups"]


def nms_match_groups(boxes: Tensor, scores: Tensor, iou_thr: float) -> Tensor:
    """Group boxes the way greedy NMS suppresses them ("NMS-match").

    Every box kept by NMS starts a group; a suppressed box joins the group of the first
    (highest-scoring) kept box whose IoU with it exceeds ``iou_thr``, which is exactly the box
    that suppressed it in greedy NMS.

    Args:
        boxes: (n, 4) ``(x1, y1, x2, y2)``; scores: (n,).

    Returns:
        (n,) int64 group ids (the rank of the group's kept box in NMS order); empty for n = 0.
    """
    n = scores.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=scores.device)
    keep = nms(boxes, scores, iou_thr)
    group = torch.arange(n, device=scores.device) + keep.numel()  # unmatched → own group
    group[keep] = torch.arange(keep.numel(), device=scores.device)
    suppressed = torch.ones(n, dtype=torch.bool, device=scores.device)
    suppressed[keep] = False
    sup = torch.nonzero(suppressed).squeeze(1)
    if sup.numel():
        over = box_iou(boxes[keep], boxes[sup]) > iou_thr  # (K, S); NaN compares False
        first = over.to(torch.uint8).argmax(dim=0)  # first True row = the suppressing box
        group[sup] = torch.where(over.any(dim=0), first, group[sup])
    return group


class ScoreHLRSampler:
    """Score-based hierarchical local rank (Score-HLR) negatives + random positives.

    Args:
        num, pos_fraction: RoIs per image and positive share (random positives).
        k, bias: ISR-N mapping ``(bias + (1 − bias)·w)^k`` (mmdet default k = 0.5, bias = 0).
        score_thr: negatives whose max foreground score exceeds it are "valid" (ranked).
        iou_thr: NMS-match IoU for grouping the valid negatives.

    ``__call__(labels, neg_logits, neg_boxes, generator=None) -> SampleResult``:

    * ``neg_logits`` (n_neg, C+1): R-CNN class logits (column 0 = background) of the
      candidates with ``labels == 0``, in the order of ``torch.nonzero(labels == 0)``;
    * ``neg_boxes`` (n_neg, 4): those candidates decoded with the deltas of their argmax
      foreground class.

    Valid negatives are ranked by ``imp = n_valid − rank_in_group + score`` and the top
    ``num_expected`` are kept; a shortfall is filled with random invalid negatives, which get
    the minimum weight. Weights ``(up − rank)/up`` with ``up = max(num_expected, n_valid)`` are
    mapped by ``(bias + (1 − bias)·w)^k`` and renormalised so that the selected negatives'
    background cross-entropy sum is unchanged. No valid negative → random negatives, weight 1.
    """

    def __init__(
        self,
        num: int = 512,
        pos_fraction: float = 0.25,
        k: float = 0.5,
        bias: float = 0.0,
        score_thr: float = 0.05,
        iou_thr: float = 0.5,
    ) -> None:
        if num < 1 or not 0.0 <= pos_fraction <= 1.0:
            raise ValueError(f"need num >= 1 and 0 <= pos_fraction <= 1, got {num}, {pos_fraction}")
        self.num = num
        self.pos_fraction = pos_fraction
        self.k = k
        self.bias = bias
        self.score_thr = score_thr
        self.iou_thr = iou_thr

    @torch.no_grad()
    def __call__(
        self,
        labels: Tensor,
        neg_logits: Tensor,
        neg_boxes: Tensor,
        generator: torch.Generator | None = None,
    ) -> SampleResult:
        pos, neg = split_pos_neg(labels)
        m = neg_logits.shape[0]
        if m > neg.numel() or neg_boxes.shape[0] != m:
            raise ValueError(
                f"neg_logits/neg_boxes need the same number of rows, at most one per negative "
                f"({neg.numel()}); got {m} and {neg_boxes.shape[0]}"
            )
        num_pos, _ = expected_counts(self.num, self.pos_fraction, pos.numel())
        pos = random_subset(pos, num_pos, generator)
        num_expected = self.num - pos.numel()
        if neg.numel() == 0 or num_expected <= 0:
            return SampleResult(pos, neg[:0], neg_logits.new_zeros(0))

        scores = torch.zeros(neg.numel(), device=neg_logits.device)
        scores[:m] = F.softmax(neg_logits.float(), dim=-1)[:, 1:].max(dim=1).values
        valid = torch.nonzero(scores > self.score_thr).squeeze(1)
        invalid = torch.nonzero(scores <= self.score_thr).squeeze(1)
        n_valid = valid.numel()
        if n_valid == 0:
            chosen = random_subset(
                torch.arange(neg.numel(), device=neg.device), num_expected, generator
            )
            return SampleResult(pos, neg[chosen], scores.new_ones(chosen.numel()))

        v_scores = scores[valid]
        groups = nms_match_groups(neg_boxes[valid].float(), v_scores, self.iou_thr)
        imp = n_valid - rank_within_groups(groups, v_scores).to(v_scores.dtype) + v_scores
        order = torch.argsort(imp, descending=True, stable=True)
        n_hlr = min(num_expected, n_valid)
        hlr = order[:n_hlr]  # positions in `valid`; their global rank is 0..n_hlr-1
        up = float(max(num_expected, n_valid))
        w_hlr = (up - torch.arange(n_hlr, device=imp.device, dtype=imp.dtype)) / up
        rand = random_subset(invalid, num_expected - n_hlr, generator)
        w_rand = w_hlr.min().expand(rand.numel())
        chosen = torch.cat([valid[hlr], rand])
        w = torch.cat([w_hlr, w_rand])
        w = (self.bias + (1.0 - self.bias) * w).pow(self.k)
        return SampleResult(pos, neg[chosen], w.to(neg_logits.dtype))
