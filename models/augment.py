"""Test-time views of an image (CALD's augmentations) and the maps of their boxes back.

Every view function takes a (3, H, W) float image in [0, 1] and returns a :class:`View`
whose ``unmap`` converts (N, 4) xyxy boxes predicted on the view into original-image
pixels (clipped to the image). Flip, downscale and cutout/noise are exact; rotation gives
the bounding box of the back-rotated corners. Random views draw only from the passed
``torch.Generator`` (CPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

ORIGINAL = "orig"
FLIP = "flip"
VIEW_NAMES = (ORIGINAL, FLIP, "cutout", "downscale", "rotate", "noise", "saltpepper")


@dataclass
class View:
    """An augmented image and the function that maps its boxes back to the original."""

    name: str
    image: torch.Tensor
    unmap: Callable[[torch.Tensor], torch.Tensor]


def clip_boxes(boxes: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Clip (N, 4) xyxy boxes to ``[0, width] x [0, height]``."""
    out = boxes.clone()
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def _identity(boxes: torch.Tensor) -> torch.Tensor:
    return boxes


def original_view(image: torch.Tensor) -> View:
    return View(ORIGINAL, image, _identity)


def flip_boxes(boxes: torch.Tensor, width: int) -> torch.Tensor:
    """Horizontal flip of (N, 4) xyxy boxes in an image of ``width`` (its own inverse)."""
    out = boxes.clone()
    out[:, 0] = width - boxes[:, 2]
    out[:, 2] = width - boxes[:, 0]
    return out


def flip_view(image: torch.Tensor) -> View:
    width = int(image.shape[-1])
    return View(FLIP, image.flip(-1), lambda b: flip_boxes(b, width))


def downscale_view(image: torch.Tensor, factor: float = 0.8) -> View:
    """Resize by ``factor`` (antialiased bilinear); boxes are scaled back exactly."""
    height, width = (int(s) for s in image.shape[-2:])
    new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
    small = F.interpolate(
        image[None], size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
    )[0]
    scale = torch.tensor([width / new_w, height / new_h, width / new_w, height / new_h])

    def unmap(boxes: torch.Tensor) -> torch.Tensor:
        return clip_boxes(boxes * scale.to(boxes), width, height)

    return View("downscale", small, unmap)


def rotate_view(image: torch.Tensor, angle: float = 5.0) -> View:
    """Rotate by ``angle`` degrees counter-clockwise about the image centre (black fill).

    Boxes map back as the bounding box of their 4 corners rotated by ``-angle``.
    """
    height, width = (int(s) for s in image.shape[-2:])
    rotated = TF.rotate(image, angle, interpolation=TF.InterpolationMode.BILINEAR)
    cx, cy = width / 2.0, height / 2.0
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def unmap(boxes: torch.Tensor) -> torch.Tensor:
        if boxes.numel() == 0:
            return boxes.reshape(0, 4)
        xs = boxes[:, [0, 2, 2, 0]] - cx
        ys = boxes[:, [1, 1, 3, 3]] - cy
        ox = cx + xs * cos - ys * sin
        oy = cy + xs * sin + ys * cos
        out = torch.stack(
            [ox.min(1).values, oy.min(1).values, ox.max(1).values, oy.max(1).values], dim=1
        )
        return clip_boxes(out, width, height)

    return View("rotate", rotated, unmap)


def noise_view(image: torch.Tensor, generator: torch.Generator, std: float = 16 / 255) -> View:
    """Additive Gaussian noise of ``std`` (in [0, 1] units), clamped to [0, 1]."""
    noise = torch.randn(image.shape, generator=generator).to(image) * std
    return View("noise", (image + noise).clamp(0.0, 1.0), _identity)


def saltpepper_view(image: torch.Tensor, generator: torch.Generator, amount: float = 0.1) -> View:
    """Set a fraction ``amount`` of pixels to black or white (half each)."""
    height, width = image.shape[-2:]
    u = torch.rand((height, width), generator=generator).to(image.device)
    out = image.clone()
    out[:, u < amount / 2] = 0.0
    out[:, (u >= amount / 2) & (u < amount)] = 1.0
    return View("saltpepper", out, _identity)


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def cutout_view(
    image: torch.Tensor,
    ref_boxes: torch.Tensor,
    generator: torch.Generator,
    patches: int = 2,
    side: tuple[float, float] = (0.05, 0.2),
    overlap: tuple[float, float] = (0.1, 0.4),
) -> View:
    """Fill ``patches`` rectangles (sides ``side`` x image side) with the image mean.

    As in CALD, each patch is placed on a random reference box (``ref_boxes``, (N, 4), e.g.
    the original view's detections) so that it covers ``overlap`` of that box's area (up
    to 20 random tries; the best try is used); without reference boxes it goes anywhere.
    """
    height, width = (int(s) for s in image.shape[-2:])
    out = image.clone()
    fill = image.mean(dim=(1, 2), keepdim=True)
    boxes = ref_boxes.detach().float().cpu().reshape(-1, 4)
    for _ in range(patches):
        pw = max(1, round(_uniform(generator, *side) * width))
        ph = max(1, round(_uniform(generator, *side) * height))
        best, best_err = (0, 0), math.inf
        for _try in range(20):
            if len(boxes):
                k = int(torch.randint(len(boxes), (), generator=generator))
                bx1, by1, bx2, by2 = boxes[k].tolist()
                x = round(_uniform(generator, bx1 - pw, bx2))
                y = round(_uniform(generator, by1 - ph, by2))
                iw = max(0.0, min(bx2, x + pw) - max(bx1, x))
                ih = max(0.0, min(by2, y + ph) - max(by1, y))
                frac = iw * ih / max((bx2 - bx1) * (by2 - by1), 1e-9)
                err = max(0.0, overlap[0] - frac, frac - overlap[1])
            else:
                x = int(torch.randint(max(1, width - pw + 1), (), generator=generator))
                y = int(torch.randint(max(1, height - ph + 1), (), generator=generator))
                err = 0.0
            if err < best_err:
                best, best_err = (x, y), err
            if err == 0.0:
                break
        x0, y0 = max(0, best[0]), max(0, best[1])
        out[:, y0 : max(y0, best[1] + ph), x0 : max(x0, best[0] + pw)] = fill
    return View("cutout", out, _identity)


def make_view(name: str, image: torch.Tensor, generator: torch.Generator) -> View:
    """Views that need no predictions (all but ``cutout``), by name."""
    if name == ORIGINAL:
        return original_view(image)
    if name == FLIP:
        return flip_view(image)
    if name == "downscale":
        return downscale_view(image)
    if name == "rotate":
        return rotate_view(image)
    if name == "noise":
        return noise_view(image, generator)
    if name == "saltpepper":
        return saltpepper_view(image, generator)
    raise ValueError(f"unknown view {name!r}; known: {VIEW_NAMES}")
