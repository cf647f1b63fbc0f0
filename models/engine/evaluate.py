"""Evaluation of a detector on a labelled dataset: VOC mAP@0.5 and COCO AP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from models.builders import label_offset
from models.data.dataset import DetectionDataset
from models.eval.coco import evaluate_coco
from models.eval.voc import evaluate_voc


def _item(dataset: Any, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
    if isinstance(dataset, DetectionDataset):
        return dataset.get(index, augment=False)
    return dataset[index]


@torch.inference_mode()
def detect_dataset(
    model: nn.Module,
    dataset: Dataset | Sequence[dict[str, Any]],
    device: str | torch.device = "cpu",
    batch_size: int = 8,
) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, Any]]]:
    """Run ``model`` (eval mode) over ``dataset`` without augmentation.

    Returns ``(predictions, targets)`` aligned per image: predictions ``{"boxes" (N, 4),
    "labels" (N,) 0-based, "scores" (N,)}`` on the CPU; targets as the dataset gives them.
    The model's train/eval mode is restored afterwards.
    """
    if not isinstance(dataset, Dataset):
        dataset = DetectionDataset(list(dataset))
    dev = torch.device(device)
    offset = label_offset(model)
    was_training = model.training
    model.to(dev).eval()
    predictions: list[dict[str, torch.Tensor]] = []
    targets: list[dict[str, Any]] = []
    try:
        n = len(dataset)  # type: ignore[arg-type]
        for start in range(0, n, batch_size):
            items = [_item(dataset, i) for i in range(start, min(n, start + batch_size))]
            outputs = model([im.to(dev) for im, _ in items])
            for (_, target), out in zip(items, outputs, strict=True):
                predictions.append(
                    {
                        "boxes": out["boxes"].float().cpu(),
                        "labels": out["labels"].cpu() - offset,
                        "scores": out["scores"].float().cpu(),
                    }
                )
                targets.append(target)
    finally:
        model.train(was_training)
    return predictions, targets


def evaluate(
    model: nn.Module,
    dataset: Dataset | Sequence[dict[str, Any]],
    class_names: Sequence[str],
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    iou_thresh: float = 0.5,
    plus_one: bool = False,
    coco_backend: str = "faster_coco_eval",
) -> dict[str, Any]:
    """Detection metrics of ``model`` on ``dataset`` (targets with 0-based labels).

    Returns ``{"map50": VOC all-point mAP@iou_thresh, "map50_11pt": VOC 11-point mAP,
    "coco_ap": COCO AP@[.5:.95], "coco_ap50": COCO AP@.5, "num_images": int,
    "per_class": {name: {"ap50", "ap50_11pt", "coco_ap", "num_gt"}}}``; per-class APs of
    classes without ground truth are ``None`` and excluded from the means (which are 0.0
    when no class has ground truth). All values are plain Python floats/ints/None.
    """
    predictions, targets = detect_dataset(model, dataset, device=device, batch_size=batch_size)
    num_classes = len(class_names)
    voc = evaluate_voc(predictions, targets, num_classes, iou_thresh=iou_thresh, plus_one=plus_one)
    coco = evaluate_coco(predictions, targets, num_classes, backend=coco_backend)
    per_class = {
        name: {
            "ap50": voc["per_class"][c]["ap"],
            "ap50_11pt": voc["per_class"][c]["ap_11pt"],
            "coco_ap": coco["per_class_ap"][c],
            "num_gt": voc["per_class"][c]["num_gt"],
        }
        for c, name in enumerate(class_names)
    }
    return {
        "map50": voc["map"],
        "map50_11pt": voc["map_11pt"],
        "coco_ap": coco["ap"],
        "coco_ap50": coco["ap50"],
        "num_images": len(predictions),
        "per_class": per_class,
    }
