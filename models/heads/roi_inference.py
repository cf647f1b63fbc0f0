"""Inference output of :class:`~models.heads.roi_heads.AlpRoIHeads`: torchvision's
post-processing (decode, clip, score threshold, small boxes, per-class NMS, top-k) keeping
each detection's RoI softmax and σ head output aligned through the filtering."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import boxes as box_ops

from models.heads.predictor import select_log_vars


def detections_with_probs(
    heads: RoIHeads,
    class_logits: Tensor,
    box_regression: Tensor,
    proposals: list[Tensor],
    image_shapes: list[tuple[int, int]],
    log_vars: Tensor | None = None,
) -> list[dict[str, Tensor]]:
    """torchvision's ``postprocess_detections`` of ``heads`` (its box coder and inference
    thresholds) that also carries, per kept detection, the RoI's full softmax ``probs``
    (N, C+1) and, given ``log_vars``, ``log_vars`` (N, 4)."""
    num_classes = class_logits.shape[-1]
    counts = [p.shape[0] for p in proposals]
    pred_boxes = heads.box_coder.decode(box_regression, proposals).split(counts, 0)
    pred_scores = F.softmax(class_logits, -1).split(counts, 0)
    lv_split = log_vars.split(counts, 0) if log_vars is not None else [None] * len(counts)
    results = []
    for boxes, probs, lv, shape in zip(
        pred_boxes, pred_scores, lv_split, image_shapes, strict=True
    ):
        boxes = box_ops.clip_boxes_to_image(boxes, shape)
        n = probs.shape[0]
        labels = torch.arange(num_classes, device=probs.device).view(1, -1).expand_as(probs)
        rows = torch.arange(n, device=probs.device).view(-1, 1).expand_as(probs)
        boxes = boxes[:, 1:].reshape(-1, 4)
        scores = probs[:, 1:].reshape(-1)
        labels, rows = labels[:, 1:].reshape(-1), rows[:, 1:].reshape(-1)
        inds = torch.where(scores > heads.score_thresh)[0]
        boxes, scores, labels, rows = boxes[inds], scores[inds], labels[inds], rows[inds]
        keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
        boxes, scores, labels, rows = boxes[keep], scores[keep], labels[keep], rows[keep]
        keep = box_ops.batched_nms(boxes, scores, labels, heads.nms_thresh)
        keep = keep[: heads.detections_per_img]
        rows = rows[keep]
        det = {
            "boxes": boxes[keep],
            "labels": labels[keep],
            "scores": scores[keep],
            "probs": probs[rows],
        }
        if lv is not None:
            det["log_vars"] = select_log_vars(lv, rows, det["labels"])
        results.append(det)
    return results
