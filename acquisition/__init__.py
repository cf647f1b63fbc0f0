"""Acquisition: pure functions that turn prediction records into "label this first" scores.

No database, no files, no settings, no global RNG. Higher score = label first.

Two phases, so pool scoring can be sharded: ``strategy.score_images(preds, context)`` ->
JSON-serialisable :class:`ImageRecord` per image (shard-local), then
``strategy.select(records, budget, context, seed)`` -> :class:`Selected` rows, best first,
independent of record order and sharding.
"""

from acquisition.base import Strategy
from acquisition.ops import flip_boxes
from acquisition.records import ImageRecord, ScoringContext, Selected
from acquisition.registry import (
    describe_strategies,
    get_strategy,
    list_strategies,
    score_and_select,
)

__all__ = [
    "ImageRecord",
    "ScoringContext",
    "Selected",
    "Strategy",
    "describe_strategies",
    "flip_boxes",
    "get_strategy",
    "list_strategies",
    "score_and_select",
]
