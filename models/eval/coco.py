"""COCO box AP via faster-coco-eval (pycocotools-compatible; ``backend="pycocotools"`` too).

Boxes come in as xyxy pixels and are converted to COCO's xywh (no +1). Image ids are the
positions 1..N, category ids are 0-based labels + 1. Targets may carry ``difficult``
flags: those ground truths are passed as ``iscrowd=1`` (ignored-matchable; this only
approximates VOC's rule).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def _rows(x: Any, tail: tuple[int, ...], dtype: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype).reshape((-1, *tail))


def to_coco(
    predictions: Sequence[dict[str, Any]], targets: Sequence[dict[str, Any]], num_classes: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ground-truth dataset dict and detection list in COCO format."""
    images, anns, dets = [], [], []
    for i, (pred, tgt) in enumerate(zip(predictions, targets, strict=True)):
        boxes = _rows(tgt["boxes"], (4,), np.float64)
        labels = _rows(tgt["labels"], (), np.int64)
        diff = _rows(tgt.get("difficult", np.zeros(len(labels))), (), bool)
        width = float(boxes[:, 2].max()) if len(boxes) else 1.0
        height = float(boxes[:, 3].max()) if len(boxes) else 1.0
        images.append(
            {"id": i + 1, "width": tgt.get("width", width), "height": tgt.get("height", height)}
        )
        for box, label, d in zip(boxes, labels, diff, strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(label) + 1,
                    "bbox": [float(box[0]), float(box[1]), float(w), float(h)],
                    "area": float(w * h),
                    "iscrowd": int(d),
                }
            )
        pboxes = _rows(pred["boxes"], (4,), np.float64)
        for box, label, score in zip(
            pboxes,
            _rows(pred["labels"], (), np.int64),
            _rows(pred["scores"], (), np.float64),
            strict=True,
        ):
            w, h = box[2] - box[0], box[3] - box[1]
            dets.append(
                {
                    "image_id": i + 1,
                    "category_id": int(label) + 1,
                    "score": float(score),
                    "bbox": [float(box[0]), float(box[1]), float(w), float(h)],
                    "area": float(w * h),
                }
            )
    categories = [{"id": c + 1, "name": str(c)} for c in range(num_classes)]
    return {"images": images, "annotations": anns, "categories": categories}, dets


def evaluate_coco(
    predictions: Sequence[dict[str, Any]],
    targets: Sequence[dict[str, Any]],
    num_classes: int,
    backend: str = "faster_coco_eval",
) -> dict[str, Any]:
    """COCO AP@[.5:.95] (``ap``), AP50 (``ap50``) and per-class AP@[.5:.95].

    Inputs as for :func:`models.eval.voc.evaluate_voc`. Returns ``{"ap", "ap50",
    "per_class_ap": [float | None] * C}``; a class with no ground truth gets ``None``; when
    nothing can be evaluated (no ground truth at all) ``ap`` and ``ap50`` are 0.0. Images
    without detections simply contribute misses.
    """
    gt_dict, dets = to_coco(predictions, targets, num_classes)
    per_class: list[float | None] = [None] * num_classes
    if not gt_dict["annotations"]:
        return {"ap": 0.0, "ap50": 0.0, "per_class_ap": per_class}
    if not dets:
        present = {a["category_id"] - 1 for a in gt_dict["annotations"] if not a["iscrowd"]}
        return {
            "ap": 0.0,
            "ap50": 0.0,
            "per_class_ap": [0.0 if c in present else None for c in range(num_classes)],
        }
    if backend == "faster_coco_eval":
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    elif backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    else:
        raise ValueError(f"unknown COCO backend {backend!r}")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        dt = gt.loadRes(dets)
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = [max(0.0, float(s)) for s in evaluator.stats[:2]]
    precision = np.asarray(evaluator.eval["precision"])  # (T, R, K, A, M)
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        if values.size:
            per_class[int(cat_id) - 1] = float(values.mean())
    return {"ap": stats[0], "ap50": stats[1], "per_class_ap": per_class}
