"""Acquisition: pure functions that turn prediction records into "label this first" scores.

No database, no files, no settings, no global RNG. Higher score = label first.

Two phases, so pool scoring can be sharded: ``strategy.score_images(preds, context)`` ->
JSON-serialisable :class:`ImageRecord` per image (shard-local), then
``strategy.select(records, budget, context, seed)`` -> :class:`Selected` rows, best first,
independent of record order and sharding.

The names below load lazily, so :mod:`acquisition.param_specs` (every strategy's
parameters, pure Python) can be imported, e.g. by the API to validate pool settings,
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ImageRecord": "acquisition.records",
    "ScoringContext": "acquisition.records",
    "Selected": "acquisition.records",
    "Strategy": "acquisition.base",
    "describe_strategies": "acquisition.registry",
    "flip_boxes": "acquisition.ops",
    "get_strategy": "acquisition.registry",
    "list_strategies": "acquisition.registry",
    "score_and_select": "acquisition.registry",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """The public names, imported on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'acquisition' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
