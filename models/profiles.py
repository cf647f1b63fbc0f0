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

_STANDARD: dict[str, Any] = {
    "detector": {"backbone": "resnet50_fpn_v2", "weights": "coco",
                 "min_size": 800, "max_size": 1333},
    "batch_size": 4,
    "lr": 0.005,  # 0.02 per 16 images, scaled linearly to the batch
    "iterations": 500,
    "warmup_iters": 100,
    "amp": True,
}  # fmt: skip
_FAST: dict[str, Any] = {
    "detector": {"backbone": "mobilenet_v3_large_fpn", "weights": "coco",
                 "min_size": 512, "max_size": 768},
    "batch_size": 8,
    "lr": 0.01,
    "iterations": 300,
    "warmup_iters": 50,
}  # fmt: skip


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


def merged_overrides(profile: str, preset: str, explicit: dict[str, Any] | None) -> dict[str, Any]:
    """The profile's overrides with the pool's ``explicit`` ones on top (``detector`` and
    ``heads`` merged key by key; everything else replaced). Inputs are not changed."""
    out = profile_overrides(profile, preset)
    for key, value in copy.deepcopy(explicit or {}).items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = {**out[key], **value} if both else value
    if "epochs" in (explicit or {}) and "iterations" not in (explicit or {}):
        out.pop("iterations", None)
    return out
