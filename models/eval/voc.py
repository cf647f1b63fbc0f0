"""PASCAL VOC mAP at an IoU threshold, in 11-point (VOC2007) and all-point (VOC2010+) forms.

Follows the py-faster-rcnn / CALD ``voc_eval`` logic: per class, detections sorted by score
(descending, stable); a detection is a true positive when its best-IoU ground truth of the
same class in that image has IoU > ``iou_thresh`` (strict), is not "difficult" and is not
yet matched; a match to a difficult ground truth counts as neither TP nor FP; anything else
is a false positive. ``npos`` counts non-difficult ground truths. ``plus_one=True`` uses the
VOC devkit's +1-pixel width/height convention (CALD); the default treats boxes as
continuous pixel coordinates like COCO.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = False) -> float:
    """AP from cumulative recall/precision arrays (same length, detections in score order).

    ``use_07_metric``: mean over t in {0, 0.1, ..., 1} of max precision at recall >= t.
    Otherwise the area under the monotone precision envelope over recall change points.
    Empty inputs give 0.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if use_07_metric:
        ap = 0.0
        for t in np.linspace(0.0, 1.0, 11):
            above = precision[recall >= t]
            ap += (float(above.max()) if above.size else 0.0) / 11.0
        return ap
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # upper envelope
    changes = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


def _iou_one_to_many(box: np.ndarray, gts: np.ndarray, plus_one: bool) -> np.ndarray:
    one = 1.0 if plus_one else 0.0
    iw = np.maximum(np.minimum(gts[:, 2], box[2]) - np.maximum(gts[:, 0], box[0]) + one, 0.0)
    ih = np.maximum(np.minimum(gts[:, 3], box[3]) - np.maximum(gts[:, 1], box[1]) + one, 0.0)
    inter = iw * ih
    area_d = (box[2] - box[0] + one) * (box[3] - box[1] + one)
    area_g = (gts[:, 2] - gts[:, 0] + one) * (gts[:, 3] - gts[:, 1] + one)
    return inter / np.maximum(area_d + area_g - inter, np.finfo(np.float64).eps)


def _np(x: Any, shape_tail: tuple[int, ...], dtype: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype).reshape((-1, *shape_tail))


def voc_class_tp_fp(
    predictions: Sequence[dict[str, Any]],
    targets: Sequence[dict[str, Any]],
    class_index: int,
    iou_thresh: float = 0.5,
    plus_one: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-detection TP/FP flags of one class: ``(scores, tp, fp, npos)``, score-sorted."""
    gts, npos = [], 0
    for t in targets:
        labels = _np(t["labels"], (), np.int64)
        boxes = _np(t["boxes"], (4,), np.float64)[labels == class_index]
        diff = _np(t.get("difficult", np.zeros(len(labels))), (), bool)[labels == class_index]
        gts.append((boxes, diff, np.zeros(len(boxes), dtype=bool)))
        npos += int((~diff).sum())
    img_idx, scores, boxes = [], [], []
    for i, p in enumerate(predictions):
        mask = _np(p["labels"], (), np.int64) == class_index
        s = _np(p["scores"], (), np.float64)[mask]
        img_idx.append(np.full(len(s), i))
        scores.append(s)
        boxes.append(_np(p["boxes"], (4,), np.float64)[mask])
    img_all = np.concatenate(img_idx) if img_idx else np.zeros(0, dtype=np.int64)
    score_all = np.concatenate(scores) if scores else np.zeros(0)
    box_all = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    order = np.argsort(-score_all, kind="stable")
    tp = np.zeros(len(order))
    fp = np.zeros(len(order))
    for d, k in enumerate(order):
        gt_boxes, difficult, matched = gts[img_all[k]]
        if len(gt_boxes) == 0:
            fp[d] = 1.0
            continue
        ious = _iou_one_to_many(box_all[k], gt_boxes, plus_one)
        j = int(np.argmax(ious))
        if ious[j] > iou_thresh:
            if difficult[j]:
                continue
            if not matched[j]:
                tp[d], matched[j] = 1.0, True
            else:
                fp[d] = 1.0
        else:
            fp[d] = 1.0
    return score_all[order], tp, fp, npos


def evaluate_voc(
    predictions: Sequence[dict[str, Any]],
    targets: Sequence[dict[str, Any]],
    num_classes: int,
    iou_thresh: float = 0.5,
    plus_one: bool = False,
) -> dict[str, Any]:
    """VOC AP per class and their means over classes that have ground truth.

    ``predictions[i]`` / ``targets[i]`` belong to the same image: dicts with ``boxes``
    (N, 4) xyxy, ``labels`` (N,) 0-based and ``scores`` (predictions) / optional
    ``difficult`` (targets); tensors or arrays. Returns ``{"map": all-point mAP,
    "map_11pt": 11-point mAP, "per_class": [{"ap", "ap_11pt", "num_gt", "num_det"}]}``;
    a class without (non-difficult) ground truth has ``ap`` = ``ap_11pt`` = ``None`` and is
    left out of the means; with no such class at all both means are 0.0.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    per_class = []
    for c in range(num_classes):
        _, tp, fp, npos = voc_class_tp_fp(predictions, targets, c, iou_thresh, plus_one)
        entry: dict[str, Any] = {"ap": None, "ap_11pt": None, "num_gt": npos, "num_det": len(tp)}
        if npos > 0:
            ctp, cfp = np.cumsum(tp), np.cumsum(fp)
            rec = ctp / npos
            prec = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
            entry["ap"] = voc_ap(rec, prec, use_07_metric=False)
            entry["ap_11pt"] = voc_ap(rec, prec, use_07_metric=True)
        per_class.append(entry)
    valid = [e for e in per_class if e["ap"] is not None]
    return {
        "map": float(np.mean([e["ap"] for e in valid])) if valid else 0.0,
        "map_11pt": float(np.mean([e["ap_11pt"] for e in valid])) if valid else 0.0,
        "per_class": per_class,
    }
