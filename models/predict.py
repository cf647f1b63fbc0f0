"""Detections on image files with a trained alp detector, as COCO results.

Public entry points: :func:`models.load_detector` (``models.checkpoint.load_detector``)
and :func:`predict_files`. The CLI ``alp predict`` wraps them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.builders import label_offset
from models.data.dataset import load_image

ProgressFn = Callable[[int, int], None]


@torch.no_grad()
def predict_files(
    model: nn.Module,
    paths: Sequence[str | Path],
    device: str | torch.device = "cpu",
    batch_size: int = 4,
    score_thresh: float = 0.0,
    progress: ProgressFn | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``model`` (in eval mode, moved to ``device``) on the image files in batches.

    Returns ``(images, results)``: ``images`` are ``{"id", "file_name", "width", "height"}``
    with ids 1.. in the order of ``paths``; ``results`` are COCO detection results
    ``{"image_id", "category_id" (alp label + 1), "bbox" [x, y, w, h] in pixels of the
    upright image, "score"}`` with score >= ``score_thresh``. ``ValueError`` names an
    image that cannot be decoded. ``progress(done, total)`` after every batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    dev = torch.device(device)
    model.to(dev).eval()
    offset = label_offset(model)
    images: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for start in range(0, len(paths), batch_size):
        chunk = list(paths[start : start + batch_size])
        tensors = [load_image(p) for p in chunk]
        outputs = model([t.to(dev) for t in tensors])
        for k, (path, tensor, out) in enumerate(zip(chunk, tensors, outputs, strict=True)):
            image_id = start + k + 1
            height, width = int(tensor.shape[1]), int(tensor.shape[2])
            images.append(
                {"id": image_id, "file_name": str(path), "width": width, "height": height}
            )
            results.extend(_coco_results(image_id, out, offset, score_thresh))
        if progress is not None:
            progress(min(start + batch_size, len(paths)), len(paths))
    return images, results


def _coco_results(
    image_id: int, out: dict[str, torch.Tensor], offset: int, score_thresh: float
) -> list[dict[str, Any]]:
    boxes = out["boxes"].float().cpu().tolist()
    labels = (out["labels"].cpu() - offset).tolist()
    scores = out["scores"].float().cpu().tolist()
    rows = []
    for (x1, y1, x2, y2), label, score in zip(boxes, labels, scores, strict=True):
        if score < score_thresh:
            continue
        rows.append({
            "image_id": image_id, "category_id": int(label) + 1,
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "score": round(float(score), 5),
        })  # fmt: skip
    return rows
