"""API-side validation of a pool's ``train_overrides`` (``TrainConfig`` overrides).

The training configuration dataclasses (``models.config``, ``models.heads.config``) and
their one field check (``models.config_fields``) are pure Python, so the API checks
overrides exactly as the worker builds them, without importing torch: unknown keys, wrong
value types, out-of-range values and invalid combinations (e.g. ``reg_loss`` "synchronic"
without the σ head) become a clear 422 when the settings are saved instead of a failed
cycle later. Keys the worker owns are refused.
"""

from __future__ import annotations

import copy
from typing import Any

# keys a pool may not set: the service decides them
OWNED = {
    "name": "set the pool's train_preset instead",
    "device": "the worker chooses the device",
    "seed": "set the pool's seed instead",
    "num_workers": "the worker chooses its data-loader processes",
}
# torchvision weights a pool may ask for; checkpoint paths are the worker's business
PUBLIC_WEIGHTS = ("none", "imagenet", "default", "coco")


def check_override_types(overrides: dict[str, Any], where: str = "train_overrides") -> None:
    """Raise ``ValueError`` for an unknown key or a value of the wrong JSON type anywhere in
    ``TrainConfig`` overrides (``detector`` / ``heads`` checked field by field)."""
    from models.config import DetectorConfig, TrainConfig
    from models.config_fields import check_fields
    from models.heads.config import HeadConfig

    check_fields(TrainConfig, overrides, where, {"detector": DetectorConfig, "heads": HeadConfig})


def check_train_overrides(preset: str, overrides: dict[str, Any]) -> None:
    """Raise ``ValueError`` (with the reason) unless ``TrainConfig.preset(preset,
    **overrides)`` builds and every override is one a pool may set."""
    from models.config import TrainConfig

    owned = sorted(set(overrides) & set(OWNED))
    if owned:
        raise ValueError(f"train_overrides.{owned[0]} cannot be set: {OWNED[owned[0]]}")
    check_override_types(overrides)
    weights = (overrides.get("detector") or {}).get("weights", "none")
    if weights not in PUBLIC_WEIGHTS:
        raise ValueError(
            f"train_overrides.detector.weights must be one of {PUBLIC_WEIGHTS}; "
            "checkpoint paths cannot be set over the API (use warm_start)"
        )
    try:
        TrainConfig.preset(preset, **copy.deepcopy(overrides))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"train_overrides: {exc}") from None
