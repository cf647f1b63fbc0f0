"""Detection dataset over a manifest, flip augmentation and collate.

A manifest is a list of dicts, one per image::

    {"path": str | Path  OR  "image": Tensor (3, H, W) float in [0, 1] | PIL.Image,
     "boxes": [[x1, y1, x2, y2], ...]   (pixels; may be empty),
     "labels": [int, ...]               (0-based foreground class indices),
     "image_id": hashable               (optional; defaults to the index),
     "difficult": [bool, ...]           (optional, VOC evaluation only)}
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset
from torchvision.transforms.functional import pil_to_tensor

from models.augment import flip_boxes

Target = dict[str, Any]


def load_image(path: str | Path) -> torch.Tensor:
    """Decode an image file with Pillow into a (3, H, W) float32 tensor in [0, 1].

    The EXIF orientation is applied (as browsers do), so H, W and box coordinates refer to
    the upright image that annotators see.
    """
    try:
        with Image.open(path) as im:
            rgb = ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot decode image {path}: {exc}") from exc
    return pil_to_tensor(rgb).float().div_(255.0)


def to_tensor_image(image: Any) -> torch.Tensor:
    """PIL image, uint8/float tensor (3, H, W) or HWC uint8 array -> (3, H, W) float in [0, 1]."""
    if isinstance(image, Image.Image):
        return pil_to_tensor(image.convert("RGB")).float().div_(255.0)
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError("image must be a PIL image or a (3, H, W) / (1, H, W) tensor")
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    if image.dtype == torch.uint8:
        return image.float().div(255.0)
    return image.float()


def hflip(image: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip a (C, H, W) image and its (N, 4) xyxy boxes horizontally (x -> W - x)."""
    return image.flip(-1), flip_boxes(boxes, int(image.shape[-1]))


def _validate_entry(i: int, entry: dict[str, Any], num_classes: int | None) -> Target:
    if "path" not in entry and "image" not in entry:
        raise ValueError(f"manifest entry {i}: needs 'path' or 'image'")
    boxes = torch.as_tensor(entry.get("boxes", []), dtype=torch.float32).reshape(-1, 4)
    labels = torch.as_tensor(entry.get("labels", []), dtype=torch.int64).reshape(-1)
    if boxes.shape[0] != labels.shape[0]:
        raise ValueError(f"manifest entry {i}: {boxes.shape[0]} boxes but {labels.shape[0]} labels")
    if not torch.isfinite(boxes).all():
        raise ValueError(f"manifest entry {i}: non-finite box coordinates")
    if ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
        raise ValueError(f"manifest entry {i}: boxes need x2 > x1 and y2 > y1")
    if (labels < 0).any() or (num_classes is not None and (labels >= num_classes).any()):
        raise ValueError(f"manifest entry {i}: labels must be in [0, {num_classes})")
    difficult = torch.as_tensor(entry.get("difficult", [False] * len(labels)), dtype=torch.bool)
    if difficult.numel() != labels.numel():
        raise ValueError(f"manifest entry {i}: 'difficult' length differs from labels")
    return {
        "boxes": boxes,
        "labels": labels,
        "difficult": difficult.reshape(-1),
        "image_id": entry.get("image_id", i),
    }


class DetectionDataset(Dataset):
    """Images + targets from a manifest (see module docstring).

    ``__getitem__`` returns ``(image (3, H, W) float32 in [0, 1], target)`` with target
    ``{"boxes": (N, 4) float32 clipped to the image, "labels": (N,) int64 0-based,
    "difficult": (N,) bool, "image_id"}``; images without boxes give N = 0.
    With ``hflip_prob > 0`` the image and its boxes are flipped with that probability
    (decided with the global torch RNG; the engine seeds it inside a forked RNG state).
    Invalid entries raise ``ValueError`` at construction.
    """

    def __init__(
        self,
        manifest: Sequence[dict[str, Any]],
        hflip_prob: float = 0.0,
        num_classes: int | None = None,
    ) -> None:
        if not 0.0 <= hflip_prob <= 1.0:
            raise ValueError("hflip_prob must be in [0, 1]")
        self.entries = list(manifest)
        self.targets = [_validate_entry(i, e, num_classes) for i, e in enumerate(self.entries)]
        self.hflip_prob = float(hflip_prob)

    def __len__(self) -> int:
        return len(self.entries)

    def image_id(self, index: int) -> Hashable:
        return self.targets[index]["image_id"]

    def load(self, index: int) -> torch.Tensor:
        entry = self.entries[index]
        if "image" in entry:
            return to_tensor_image(entry["image"])
        return load_image(entry["path"])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        return self.get(index, augment=True)

    def get(self, index: int, augment: bool = False) -> tuple[torch.Tensor, Target]:
        """Item ``index``; the random flip is applied only when ``augment`` is true."""
        image = self.load(index)
        target = dict(self.targets[index])
        height, width = image.shape[-2:]
        boxes = target["boxes"].clone()
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        target["boxes"], target["labels"] = boxes[keep], target["labels"][keep]
        target["difficult"] = target["difficult"][keep]
        if augment and self.hflip_prob > 0 and float(torch.rand(())) < self.hflip_prob:
            image, target["boxes"] = hflip(image, target["boxes"])
        return image, target


def collate(
    batch: Sequence[tuple[torch.Tensor, Target]],
) -> tuple[list[torch.Tensor], list[Target]]:
    """Collate ``(image, target)`` pairs into ``(list of images, list of targets)``."""
    images = [item[0] for item in batch]
    targets = [item[1] for item in batch]
    return images, targets
