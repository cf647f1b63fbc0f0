"""Inference for acquisition: detections of several views per image, mapped back.

``predict`` returns one plain dict per image with the field layout of
``acquisition.types.ImagePrediction`` / ``ViewPrediction`` (the worker converts it with
one line; ``models`` does not import ``acquisition``)::

    {"image_id": Hashable, "width": int, "height": int, "has_background": bool,
     "embedding": Tensor (D,) | None,
     "extra": {"box_features": Tensor (N_orig, D)} when requested, else {},
     "views": {name: {"boxes": (N, 4) float32 original-image pixels,
                      "labels": (N,) int64 0-based foreground class,
                      "scores": (N,) float32 in [0, 1],
                      "probs": (N, C + 1) softmax with background column 0 (Faster R-CNN)
                               or (N, C) sigmoid (RetinaNet),
                      "log_vars": (N, 4) float32 | None}}}

All tensors are on the CPU; an image without detections has N = 0 with the same trailing
shapes. ``extra["box_features"]`` has one L2-normalised row per detection of the ORIGINAL
view, in the order of ``views["orig"]["boxes"]`` (``models.box_features``). If the
installed heads do not provide ``probs`` a fallback is used: score on the predicted class,
1 - score on background (R-CNN), zeros elsewhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.augment import ORIGINAL, VIEW_NAMES, View, clip_boxes, cutout_view, make_view
from models.box_features import BOX_FEATURE_MODES
from models.builders import is_two_stage, num_classes_of
from models.data.dataset import load_image, to_tensor_image
from models.feature_capture import FeatureCapture, add_box_features


@contextlib.contextmanager
def detection_limits(model: nn.Module, score_thresh: float, max_det: int) -> Iterator[None]:
    """Temporarily set the model's post-processing score threshold and detections/image."""
    owner = model.roi_heads if is_two_stage(model) else model
    saved = (owner.score_thresh, owner.detections_per_img)
    owner.score_thresh, owner.detections_per_img = float(score_thresh), int(max_det)
    try:
        yield
    finally:
        owner.score_thresh, owner.detections_per_img = saved


def _convert(
    out: dict[str, torch.Tensor],
    view: View,
    width: int,
    height: int,
    two_stage: bool,
    num_classes: int,
) -> dict[str, Any]:
    offset = 1 if two_stage else 0
    cols = num_classes + offset
    labels = out["labels"].cpu().to(torch.int64) - offset
    scores = out["scores"].detach().float().cpu()
    boxes = clip_boxes(view.unmap(out["boxes"].detach().float().cpu()), width, height)
    probs = out.get("probs")
    if probs is None:
        probs = torch.zeros((len(scores), cols))
        probs[torch.arange(len(scores)), labels + offset] = scores
        if two_stage:
            probs[:, 0] = 1.0 - scores
    log_vars = out.get("log_vars")
    return {
        "boxes": boxes,
        "labels": labels,
        "scores": scores,
        "probs": probs.detach().float().cpu().reshape(-1, cols),
        "log_vars": None if log_vars is None else log_vars.detach().float().cpu(),
    }


def forward_context(device: str | torch.device, amp: bool = True) -> Any:
    """The context a scoring forward runs in: fp16 ``torch.autocast`` on CUDA when
    ``amp``; a no-op (``contextlib.nullcontext``) on every other device, so CPU results
    are exactly those of a plain float32 forward."""
    if amp and torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _forward(
    model: nn.Module, views: list[View], device: torch.device, amp: bool = True
) -> list[dict]:
    if not views:
        return []
    if device.type == "cuda":  # pinned host copy, asynchronous transfer
        images = [v.image.pin_memory().to(device, non_blocking=True) for v in views]
    else:
        images = [v.image.to(device) for v in views]
    with forward_context(device, amp):
        return model(images)


@torch.inference_mode()
def predict(
    model: nn.Module,
    images: Sequence[torch.Tensor],
    image_ids: Sequence[Hashable] | None = None,
    views: Sequence[str] = (ORIGINAL, "flip"),
    embedding: bool = False,
    box_features: bool = False,
    box_feature_mode: str = "roi",
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
    score_thresh: float = 0.05,
    max_det: int = 100,
    amp: bool = True,
) -> list[dict[str, Any]]:
    """Detections of every requested view of every image (module docstring: output layout).

    ``images``: (3, H, W) float tensors in [0, 1] (uint8 accepted). ``views`` must contain
    ``"orig"``; all views except ``"cutout"`` of ``batch_size`` images go through ONE
    batched forward pass; ``"cutout"`` needs the original detections and takes a second
    pass. ``generator`` (CPU) drives the random views (default: seeded with 0).
    ``embedding=True`` adds the pooled backbone feature of the original view;
    ``box_features=True`` adds ``extra["box_features"]``, (N, D) float32 per original-view
    detection pooled from the same forward's features (``box_feature_mode``: ``"roi"`` box
    mean or ``"centre"`` point, see ``models.box_features``). The model's
    train/eval mode and post-processing limits are restored afterwards. Runs under
    ``torch.inference_mode``; on CUDA the inputs are copied from pinned memory and, with
    ``amp``, the forward runs under fp16 autocast (:func:`forward_context`; outputs are
    returned as float32); on the CPU ``amp`` changes nothing.
    """
    names = list(dict.fromkeys(views))
    if ORIGINAL not in names:
        raise ValueError("views must include 'orig'")
    unknown = [v for v in names if v not in VIEW_NAMES]
    if unknown:
        raise ValueError(f"unknown views {unknown}; known: {VIEW_NAMES}")
    if image_ids is None:
        image_ids = list(range(len(images)))
    if len(image_ids) != len(images):
        raise ValueError(f"{len(image_ids)} image ids for {len(images)} images")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if box_features and box_feature_mode not in BOX_FEATURE_MODES:
        raise ValueError(
            f"unknown box_feature_mode {box_feature_mode!r}; known: {list(BOX_FEATURE_MODES)}"
        )
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    dev = torch.device(device)
    two_stage, num_classes = is_two_stage(model), num_classes_of(model)
    direct = [v for v in names if v != "cutout"]
    orig_at = direct.index(ORIGINAL)  # batch item i * len(direct) + orig_at: image i's original
    was_training = model.training
    model.to(dev).eval()
    capture = FeatureCapture(model)
    results: list[dict[str, Any]] = []
    try:
        with detection_limits(model, score_thresh, max_det):
            for start in range(0, len(images), batch_size):
                chunk = [to_tensor_image(im) for im in images[start : start + batch_size]]
                batch = [make_view(n, im, gen) for im in chunk for n in direct]
                outputs = _forward(model, batch, dev, amp)
                chunk_results = []
                for i, im in enumerate(chunk):
                    height, width = int(im.shape[-2]), int(im.shape[-1])
                    entry: dict[str, Any] = {
                        "image_id": image_ids[start + i],
                        "width": width,
                        "height": height,
                        "has_background": two_stage,
                        "embedding": None,
                        "extra": {},
                        "views": {},
                    }
                    for j, name in enumerate(direct):
                        k = i * len(direct) + j
                        entry["views"][name] = _convert(
                            outputs[k], batch[k], width, height, two_stage, num_classes
                        )
                    if embedding:
                        entry["embedding"] = capture.embedding(i * len(direct) + orig_at)
                    chunk_results.append(entry)
                if box_features:
                    add_box_features(
                        model, capture, chunk, chunk_results, len(direct), orig_at, box_feature_mode
                    )
                if "cutout" in names:
                    cut = [
                        cutout_view(im, r["views"][ORIGINAL]["boxes"], gen)
                        for im, r in zip(chunk, chunk_results, strict=True)
                    ]
                    for r, view, out in zip(
                        chunk_results, cut, _forward(model, cut, dev, amp), strict=True
                    ):
                        r["views"]["cutout"] = _convert(
                            out, view, r["width"], r["height"], two_stage, num_classes
                        )
                for r in chunk_results:  # keep the requested order of views
                    r["views"] = {n: r["views"][n] for n in names}
                results.extend(chunk_results)
    finally:
        capture.remove()
        model.train(was_training)
    return results


def predict_paths(
    model: nn.Module,
    paths: Sequence[str | Path],
    image_ids: Sequence[Hashable] | None = None,
    batch_size: int = 8,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """:func:`predict` on image files decoded with Pillow, ``batch_size`` files at a time.

    ``image_ids`` default to the paths as strings. Undecodable files raise ``ValueError``
    naming the file.
    """
    ids = list(image_ids) if image_ids is not None else [str(p) for p in paths]
    if len(ids) != len(paths):
        raise ValueError(f"{len(ids)} image ids for {len(paths)} paths")
    results: list[dict[str, Any]] = []
    for start in range(0, len(paths), batch_size):
        chunk = [load_image(p) for p in paths[start : start + batch_size]]
        results.extend(
            predict(model, chunk, ids[start : start + batch_size], batch_size=batch_size, **kwargs)
        )
    return results


__all__ = ["detection_limits", "forward_context", "predict", "predict_paths"]
