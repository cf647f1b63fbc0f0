"""Documented input limits (README "Errors and limits") and the checks that apply them.

Every limit here is also stated in the OpenAPI document (schema constraints or the field
description), so a client can see it before sending.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

# Documented input limits (README "Errors and limits"); each is in the OpenAPI schema.
MAX_CLASSES = 1000  # classes per pool
MAX_CLASS_NAME = 200  # characters per class name
MAX_POOL_NAME = 200  # characters per pool name
MAX_SELECTION_BATCH = 100_000  # images selected per cycle
MAX_SCORE_SUBSET = 100_000_000
MAX_BOXES = 10_000  # boxes per annotation
MAX_SETTINGS_JSON = 16_384  # bytes of strategy_params / train_overrides (as JSON)
# train_overrides: training length and size (bounded so one cycle cannot run for years)
TRAIN_LIMITS: dict[str, tuple[int, int]] = {
    "iterations": (1, 1_000_000),
    "epochs": (1, 10_000),
    "batch_size": (1, 512),
    "warmup_iters": (0, 1_000_000),
}
MAX_MILESTONES = 100
DETECTOR_LIMITS: dict[str, tuple[int, int]] = {
    "min_size": (1, 4096),
    "max_size": (1, 4096),
    "representation_size": (1, 4096),
    "detections_per_img": (1, 10_000),
    "rois_per_image": (1, 100_000),
    "roi_sampling_ratio": (0, 64),
    "rpn_pre_nms_top_n_train": (1, 100_000),
    "rpn_post_nms_top_n_train": (1, 100_000),
    "rpn_pre_nms_top_n_test": (1, 100_000),
    "rpn_post_nms_top_n_test": (1, 100_000),
}
_REFUSED_CATEGORIES = ("Cc", "Cs")  # control characters, unpaired surrogates


def has_control_chars(text: str) -> bool:
    """Whether ``text`` holds a control character (Cc: NUL, newline, tab, DEL, ...) or an
    unpaired surrogate (Cs: not encodable as UTF-8). Format characters (Cf, e.g. the
    zero-width joiner of "👨‍👩‍👧") and other printable Unicode are fine."""
    return any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)


def bounded_json(value: Any, where: str) -> None:
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > MAX_SETTINGS_JSON:
        raise ValueError(f"{where} is {size} bytes as JSON; at most {MAX_SETTINGS_JSON}")


def _check_range(data: dict[str, Any], limits: dict[str, tuple[int, int]], where: str) -> None:
    for key, (low, high) in limits.items():
        value = data.get(key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and not low <= value <= high:
            raise ValueError(f"{where}.{key} must be between {low} and {high}, got {value}")


def check_train_limits(overrides: dict[str, Any]) -> None:
    """Raise ``ValueError`` when a training length or size in ``overrides`` is beyond the
    documented limits (``TRAIN_LIMITS``, ``DETECTOR_LIMITS``, ``MAX_MILESTONES``)."""
    bounded_json(overrides, "train_overrides")
    _check_range(overrides, TRAIN_LIMITS, "train_overrides")
    detector = overrides.get("detector")
    if isinstance(detector, dict):
        _check_range(detector, DETECTOR_LIMITS, "train_overrides.detector")
    milestones = overrides.get("milestones")
    if isinstance(milestones, list):
        if len(milestones) > MAX_MILESTONES:
            raise ValueError(f"train_overrides.milestones: at most {MAX_MILESTONES} entries")
        high = TRAIN_LIMITS["iterations"][1]
        if any(isinstance(m, int | float) and not 0 <= m <= high for m in milestones):
            raise ValueError(f"train_overrides.milestones must lie between 0 and {high}")


def _nullable_int(low: int, high: int) -> dict[str, Any]:
    return {"anyOf": [{"type": "integer", "minimum": low, "maximum": high}, {"type": "null"}]}


# What the OpenAPI document says about train_overrides (the rest is checked server-side).
TRAIN_OVERRIDES_SCHEMA: dict[str, Any] = {
    "properties": {
        "iterations": _nullable_int(*TRAIN_LIMITS["iterations"]),
        "epochs": _nullable_int(*TRAIN_LIMITS["epochs"]),
        "batch_size": {"type": "integer", "minimum": 1, "maximum": TRAIN_LIMITS["batch_size"][1]},
        "warmup_iters": {
            "type": "integer",
            "minimum": 0,
            "maximum": TRAIN_LIMITS["warmup_iters"][1],
        },
        "milestones": {
            "type": "array",
            "maxItems": MAX_MILESTONES,
            "items": {"type": "integer", "minimum": 0, "maximum": TRAIN_LIMITS["iterations"][1]},
        },
    }
}
