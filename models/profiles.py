"""Model profiles: which detector a pool trains, sized to the device.

Pure Python (no torch), so the API validates the pool setting without importing torch.

==========  ==============================================================================
profile     detector
==========  ==============================================================================
auto        ``standard`` when the training worker has CUDA, ``fast`` otherwise (resolved
            by the worker at training time and recorded on the cycle)
standard    Faster R-CNN ResNet-50-FPN **v2** (RetinaNet ResNet-50-FPN for the RetinaNet
            presets), torchvision COCO weights with a new class layer, 800/1333 px, AMP
fast        Faster R-CNN MobileNetV3-Large-FPN (RetinaNet ResNet-50-FPN for the RetinaNet
            presets), COCO weights, 512/768 px: CPU friendly
tiny        the 3-stage from-scratch detector at 128 px: tests, the demo, ``alp simulate``
==========  ==============================================================================

A profile is a layer of ``TrainConfig`` overrides between the preset and the pool's
explicit ``train_overrides`` (which win key by key, ``detector`` merged field by field).
"""

from __future__ import annotations

import copy
from typing import Any

PROFILES = ("auto", "standard", "fast", "tiny")
PRETRAINED_PROFILES = ("standard", "fast")
RETINA_PRESETS = ("aploss", "retinanet")

LR_PER_IMAGE = 0.02 / 16  # torchvision's reference: lr 0.02 at 16 images per batch
_STANDARD: dict[str, Any] = {
    "detector": {"backbone": "resnet50_fpn_v2", "weights": "coco",
                 "min_size": 800, "max_size": 1333},
    "batch_size": 4,
    "lr": LR_PER_IMAGE * 4,
    "iterations": 500,  # used without a labeled-set size; see SCHEDULES
    "warmup_iters": 100,
    "amp": True,
}  # fmt: skip
_FAST: dict[str, Any] = {
    "detector": {"backbone": "mobilenet_v3_large_fpn", "weights": "coco",
                 "min_size": 512, "max_size": 768},
    "batch_size": 8,
    "lr": LR_PER_IMAGE * 8,
    "iterations": 300,
    "warmup_iters": 50,
}  # fmt: skip
# (epochs over the labeled train split, lower, upper iteration bound): unmeasured defaults
SCHEDULES: dict[str, tuple[int, int, int]] = {
    "standard": (12, 300, 20_000),
    "fast": (12, 200, 10_000),
}


def check_profile(name: str) -> str:
    """``name`` if it is a profile, else ``ValueError`` listing the profiles."""
    if name not in PROFILES:
        raise ValueError(f"unknown model profile {name!r}; choose one of {', '.join(PROFILES)}")
    return name


def resolve_profile(name: str, cuda: bool) -> str:
    """The concrete profile: ``auto`` becomes ``standard`` with CUDA, ``fast`` without."""
    check_profile(name)
    if name == "auto":
        return "standard" if cuda else "fast"
    return name


def profile_overrides(profile: str, preset: str) -> dict[str, Any]:
    """``TrainConfig.preset`` overrides of a concrete profile for ``preset`` (a new dict).

    RetinaNet presets use torchvision's COCO RetinaNet ResNet-50-FPN (v1) in both
    pretrained profiles (torchvision has no MobileNet RetinaNet); ``tiny`` adds nothing.
    """
    if profile not in ("standard", "fast", "tiny"):
        raise ValueError(f"profile {profile!r} is not concrete (resolve 'auto' first)")
    if profile == "tiny":
        return {}
    out = copy.deepcopy(_STANDARD if profile == "standard" else _FAST)
    if preset in RETINA_PRESETS:
        out["detector"]["backbone"] = "resnet50_fpn"
    return out


def scheduled_iterations(profile: str, n_train: int, batch_size: int) -> int:
    """Iterations of a pretrained profile for ``n_train`` labeled images: its epochs,
    clamped to its [lower, upper] bounds, so the schedule grows with the labeled set."""
    epochs, lower, upper = SCHEDULES[profile]
    per_epoch = -(-max(1, n_train) // max(1, batch_size))
    return max(lower, min(upper, epochs * per_epoch))


def merged_overrides(
    profile: str, preset: str, explicit: dict[str, Any] | None, n_train: int | None = None
) -> dict[str, Any]:
    """The profile's overrides with the pool's ``explicit`` ones on top (``detector`` and
    ``heads`` merged key by key; everything else replaced). Inputs are not changed.

    Pretrained profiles: with ``n_train`` (labeled training images) the iterations follow
    :func:`scheduled_iterations` unless ``explicit`` sets ``iterations``/``epochs``; an
    explicit ``batch_size`` without ``lr`` scales the lr linearly (``LR_PER_IMAGE``).
    """
    out = profile_overrides(profile, preset)
    if profile in SCHEDULES:
        batch = int((explicit or {}).get("batch_size", out["batch_size"]))
        if "lr" not in (explicit or {}):
            out["lr"] = LR_PER_IMAGE * batch
        if n_train is not None and not {"iterations", "epochs"} & set(explicit or {}):
            out["iterations"] = scheduled_iterations(profile, n_train, batch)
    for key, value in copy.deepcopy(explicit or {}).items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = {**out[key], **value} if both else value
    if "epochs" in (explicit or {}) and "iterations" not in (explicit or {}):
        out.pop("iterations", None)
    return out
