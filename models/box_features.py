"""Per-detection feature vectors pooled from the detector's own backbone features (PPAL CCMS).

The features are the ones the detector's forward pass already computed (captured by
``models.inference``): no second backbone pass. Each box is pooled on ONE pyramid level,
the one torchvision's ``LevelMapper`` picks for its size (as ``MultiScaleRoIAlign`` does; a
single-level backbone always uses its only map), then averaged over the pooled cells and
L2-normalised.

Modes (ALGORITHMS §3.3; the paper samples one point per box, we default to a box mean):

* ``"roi"``: RoIAlign ``2 x 2`` cells, ``sampling_ratio`` 2, mean: the box's average feature
  (the default);
* ``"centre"``: RoIAlign ``1 x 1`` with one sample: the bilinear feature at the box centre
  (the reference implementation's ``grid_sample`` at the centre, on our level choice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import roi_align
from torchvision.ops.poolers import LevelMapper

BOX_FEATURE_MODES: dict[str, tuple[int, int]] = {"roi": (2, 2), "centre": (1, 1)}


def feature_levels(model: nn.Module, available: Sequence[str]) -> list[str]:
    """Names of the feature maps boxes are pooled from: the two-stage box head's own
    ``featmap_names`` (e.g. FPN ``0..3`` without ``pool``) when it has them, else every map
    in ``available`` (RetinaNet: P3..P7; a plain backbone: its single map)."""
    pooler = getattr(getattr(model, "roi_heads", None), "box_roi_pool", None)
    names = list(getattr(pooler, "featmap_names", None) or [])
    usable = [n for n in names if n in available]
    return usable or list(available)


def level_scales(
    maps: Sequence[torch.Tensor], image_sizes: Sequence[tuple[int, int]]
) -> list[float]:
    """Feature-map scale (feature pixels per image pixel) of each map, a power of two
    inferred from the largest image height as torchvision's poolers do."""
    ref = max(int(h) for h, _ in image_sizes)
    return [2.0 ** round(math.log2(m.shape[-2] / ref)) for m in maps]


def pool_box_features(
    features: Mapping[str, torch.Tensor],
    boxes: Sequence[torch.Tensor],
    image_sizes: Sequence[tuple[int, int]],
    levels: Sequence[str],
    mode: str = "roi",
) -> list[torch.Tensor]:
    """L2-normalised features of ``boxes``, one (N_b, D) float32 CPU tensor per batch item.

    ``features``: name -> (B, D, h, w) maps of a batch of B images (a torchvision
    ``ImageList`` padded batch), ordered fine to coarse; ``boxes``: B tensors (N_b, 4) xyxy
    in the pixels of the TRANSFORMED (resized, unpadded) image of size ``image_sizes[b]`` =
    (height, width); ``levels``: which maps to use (:func:`feature_levels`). Each box is
    pooled on the level ``LevelMapper`` assigns it (FPN eq. 1, canonical 224 px at level
    4) with ``roi_align(aligned=True)`` (boxes touching the image border still sample
    inside the map). N_b = 0 gives (0, D); a zero pooled vector stays zero (no NaN).
    """
    if mode not in BOX_FEATURE_MODES:
        raise ValueError(f"unknown box feature mode {mode!r}; known: {list(BOX_FEATURE_MODES)}")
    if len(boxes) != len(image_sizes):
        raise ValueError(f"{len(boxes)} box sets for {len(image_sizes)} images")
    maps = [features[name] for name in levels]
    if not maps:
        raise ValueError("no feature maps to pool from")
    dim, counts = int(maps[0].shape[1]), [int(b.shape[0]) for b in boxes]
    if sum(counts) == 0:
        return [torch.zeros((0, dim)) for _ in counts]
    dev, dtype = maps[0].device, maps[0].dtype
    rois = torch.cat(
        [
            torch.cat([torch.full((n, 1), float(i)), b.float().reshape(-1, 4)], dim=1)
            for i, (n, b) in enumerate(zip(counts, boxes, strict=True))
        ]
    ).to(device=dev, dtype=dtype)
    scales = level_scales(maps, image_sizes)
    if len(maps) == 1:
        assigned = torch.zeros(rois.shape[0], dtype=torch.int64, device=dev)
    else:
        k_min, k_max = (round(-math.log2(s)) for s in (scales[0], scales[-1]))
        assigned = LevelMapper(k_min, k_max)([rois[:, 1:]])
    size = BOX_FEATURE_MODES[mode]
    pooled = torch.zeros((rois.shape[0], dim, *size), device=dev, dtype=dtype)
    for level, (fmap, scale) in enumerate(zip(maps, scales, strict=True)):
        sel = torch.nonzero(assigned == level).flatten()
        if sel.numel():
            pooled[sel] = roi_align(
                fmap,
                rois[sel],
                size,
                spatial_scale=scale,
                sampling_ratio=2 if mode == "roi" else 1,
                aligned=True,
            )
    vectors = F.normalize(pooled.float().mean(dim=(2, 3)), dim=1).cpu()
    return list(vectors.split(counts))


def to_transformed(
    boxes: torch.Tensor, original: tuple[int, int], transformed: tuple[int, int]
) -> torch.Tensor:
    """(N, 4) xyxy boxes in pixels of an image of size ``original`` (height, width) scaled
    to the detector's resized input of size ``transformed`` (height, width)."""
    (oh, ow), (th, tw) = original, transformed
    scale = torch.tensor([tw / ow, th / oh, tw / ow, th / oh], dtype=torch.float32)
    return boxes.float().reshape(-1, 4) * scale


__all__ = [
    "BOX_FEATURE_MODES",
    "feature_levels",
    "level_scales",
    "pool_box_features",
    "to_transformed",
]
