"""Synthetic shape-detection datasets for tests, benchmarks, ``alp simulate`` and the demo.

Each image shows 0..``max_objects`` filled shapes (one class per shape kind) of varied size,
aspect ratio and colour on a random gradient background, optionally partly occluding each
other, with small distractor strokes ("clutter") and Gaussian pixel noise. Everything is
drawn from ``numpy.random.default_rng(seed)``: the same arguments give the same images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from models.data.coco import write_coco

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")


def class_weights(num_classes: int, imbalance: float | Sequence[float] | None) -> np.ndarray:
    """Sampling probability per class.

    ``None``: uniform. A number r >= 1: geometric from 1 (class 0) down to 1/r (last
    class). A sequence: relative weights, one per class.
    """
    if imbalance is None:
        w = np.ones(num_classes)
    elif isinstance(imbalance, int | float):
        if imbalance < 1:
            raise ValueError(f"imbalance ratio must be >= 1, got {imbalance}")
        w = float(imbalance) ** (-np.arange(num_classes) / max(1, num_classes - 1))
    else:
        w = np.asarray(imbalance, dtype=float)
        if w.shape != (num_classes,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("imbalance weights need one non-negative value per class")
    return w / w.sum()


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, box: Sequence[int], color: tuple) -> None:
    x1, y1, x2, y2 = box
    r, b = x2 - 1, y2 - 1  # PIL coordinates are inclusive pixel indices
    if kind == "circle":
        draw.ellipse([x1, y1, r, b], fill=color)
    elif kind == "square":
        draw.rectangle([x1, y1, r, b], fill=color)
    elif kind == "triangle":
        draw.polygon([(x1, b), (r, b), ((x1 + r) / 2, y1)], fill=color)
    elif kind == "diamond":
        cx, cy = (x1 + r) / 2, (y1 + b) / 2
        draw.polygon([(cx, y1), (r, cy), (cx, b), (x1, cy)], fill=color)
    elif kind == "cross":
        tw, th = max(1, (x2 - x1) // 3), max(1, (y2 - y1) // 3)
        draw.rectangle([x1 + tw, y1, r - tw, b], fill=color)
        draw.rectangle([x1, y1 + th, r, b - th], fill=color)
    elif kind == "ring":
        width = max(2, min(x2 - x1, y2 - y1) // 5)
        draw.ellipse([x1, y1, r, b], outline=color, width=width)
    else:
        raise ValueError(f"unknown shape {kind!r}; known: {SHAPES}")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.linspace(0.0, 1.0, size)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = np.cos(angle) * t[None, :] + np.sin(angle) * t[:, None]
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-9)
    return c0 * (1 - ramp[..., None]) + c1 * ramp[..., None]


def _contrasting_color(rng: np.random.Generator, bg: np.ndarray) -> tuple[int, int, int]:
    for _ in range(20):
        color = rng.integers(0, 256, 3)
        if np.abs(color - bg).sum() > 150:
            break
    return (int(color[0]), int(color[1]), int(color[2]))


def _sample_box(rng: np.random.Generator, size: int, scale: tuple[float, float]) -> list[int]:
    side = rng.uniform(*scale) * size
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    w = max(4, min(size, round(side * math.sqrt(aspect))))
    h = max(4, min(size, round(side / math.sqrt(aspect))))
    x1 = int(rng.integers(0, size - w + 1))
    y1 = int(rng.integers(0, size - h + 1))
    return [x1, y1, x1 + w, y1 + h]


def generate_one(
    rng: np.random.Generator,
    size: int,
    classes: Sequence[str],
    probs: np.ndarray,
    num_objects: int,
    scale: tuple[float, float],
    max_overlap: float,
    clutter: int,
    noise: float,
) -> tuple[Image.Image, list[list[float]], list[int]]:
    """One image with ``num_objects`` shapes (fewer if they cannot be placed)."""
    bg = _background(rng, size)
    image = Image.fromarray(bg.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(clutter):  # thin distractor strokes, smaller than any object
        x, y = rng.uniform(0, size, 2)
        length = rng.uniform(2, max(3.0, scale[0] * size * 0.6))
        ang = rng.uniform(0, 2 * math.pi)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.line(
            [(x, y), (x + length * math.cos(ang), y + length * math.sin(ang))], fill=color, width=1
        )
    boxes: list[list[float]] = []
    labels: list[int] = []
    for _ in range(num_objects):
        for _attempt in range(20):
            box = _sample_box(rng, size, scale)
            if all(_iou(box, other) <= max_overlap for other in boxes):
                break
        else:
            continue
        label = int(rng.choice(len(classes), p=probs))
        center = bg[min(size - 1, (box[1] + box[3]) // 2), min(size - 1, (box[0] + box[2]) // 2)]
        _draw_shape(draw, classes[label], box, _contrasting_color(rng, center))
        boxes.append([float(v) for v in box])
        labels.append(label)
    if noise > 0:
        arr = np.asarray(image, dtype=np.float32)
        arr = arr + rng.normal(0.0, noise * 255.0, arr.shape)
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return image, boxes, labels


def generate(
    n: int,
    size: int = 128,
    classes: Sequence[str] = ("circle", "square", "triangle"),
    seed: int = 0,
    imbalance: float | Sequence[float] | None = None,
    min_objects: int = 1,
    max_objects: int = 4,
    scale: tuple[float, float] = (0.15, 0.45),
    max_overlap: float = 0.3,
    empty_fraction: float = 0.0,
    clutter: int = 3,
    noise: float = 0.02,
    as_tensor: bool = False,
) -> list[dict[str, Any]]:
    """``n`` synthetic samples as manifest entries (see :mod:`models.data.dataset`).

    Returns ``[{"image": PIL.Image (RGB, size x size) or (3, size, size) float tensor,
    "boxes": [[x1, y1, x2, y2], ...] (pixels), "labels": [0-based class index],
    "image_id": i}]``. ``scale``: object side as a fraction of ``size``; ``max_overlap``:
    the largest IoU between objects (later shapes occlude earlier ones);
    ``empty_fraction``: probability of an image without objects; ``noise``: Gaussian pixel
    noise std as a fraction of 255.
    """
    if n < 0 or size < 16:
        raise ValueError("need n >= 0 and size >= 16")
    if not classes or any(c not in SHAPES for c in classes):
        raise ValueError(f"classes must be a non-empty subset of {SHAPES}, got {classes!r}")
    if not 0 <= min_objects <= max_objects:
        raise ValueError("need 0 <= min_objects <= max_objects")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError("scale must satisfy 0 < low <= high <= 1")
    probs = class_weights(len(classes), imbalance)
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        empty = empty_fraction > 0 and rng.uniform() < empty_fraction
        count = 0 if empty else int(rng.integers(min_objects, max_objects + 1))
        image, boxes, labels = generate_one(
            rng, size, classes, probs, count, scale, max_overlap, clutter, noise
        )
        sample: dict[str, Any] = {"image": image, "boxes": boxes, "labels": labels, "image_id": i}
        if as_tensor:
            from models.data.dataset import to_tensor_image

            sample["image"] = to_tensor_image(image)
        samples.append(sample)
    return samples


def generate_coco(
    folder: str | Path,
    n: int,
    classes: Sequence[str] = ("circle", "square", "triangle"),
    **kwargs: Any,
) -> Path:
    """Generate ``n`` samples (``kwargs`` as for :func:`generate`) and write them as a COCO
    dataset into ``folder`` (``images/*.png`` + ``annotations.json``); returns the json path."""
    samples = generate(n, classes=classes, **kwargs)
    return write_coco(samples, folder, list(classes))
