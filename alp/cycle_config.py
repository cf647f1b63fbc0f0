"""A cycle's settings snapshot (``Cycle.config``) as one typed, immutable value.

A cycle copies its pool's settings when it starts (and again when it is retried); every
pipeline stage reads them through :meth:`CycleConfig.parse`, so the defaults live here
once. A key missing from a stored snapshot (one taken before the setting existed) gets the
default such snapshots always had; in particular ``model`` defaults to ``tiny`` (snapshots
older than model profiles trained the tiny detector), not the pool default ``auto``.

The JSON stored in ``Cycle.config`` keeps its shape: :meth:`CycleConfig.to_json` gives back
exactly the keys that were given (unknown keys included), so API responses do not change.
Torch-free (the API imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

# The scoring-context cache lived in the snapshot before migration 0011 moved it to
# ``Cycle.scoring_context``; a stale copy in an old snapshot is ignored.
LEGACY_CONTEXT_KEY = "_scoring_context"


class CycleConfig(BaseModel):
    """The pool settings a cycle runs with (see :class:`alp.schemas.PoolSettings` for
    their meaning and the limits the API enforces; here only the types are checked).

    Raises ``pydantic.ValidationError`` (a ``ValueError``) on a value of the wrong type."""

    model_config = ConfigDict(frozen=True, extra="allow")

    strategy: str = "hua"
    strategy_params: dict[str, Any] = {}
    strategy_backtest_id: int | None = None
    batch_size: int = 20
    train_preset: str = "huale"
    model: str = "tiny"  # snapshots older than model profiles (the pool default is "auto")
    train_overrides: dict[str, Any] = {}
    auto_advance: bool = True
    val_fraction: float = 0.2
    warm_start: bool = False
    seed: int = 0
    score_subset: int | None = None
    preannotation_min_score: float = 0.05
    preannotation_max_boxes: int = 20

    @field_validator("strategy_params", "train_overrides", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return {} if v is None else v  # old snapshots may hold null

    @classmethod
    def from_pool_settings(cls, settings: Mapping[str, Any]) -> CycleConfig:
        """The snapshot a cycle takes of its pool's ``settings`` (the stored JSON)."""
        return cls.parse(settings)

    @classmethod
    def parse(cls, stored: Mapping[str, Any] | CycleConfig | None) -> CycleConfig:
        """A stored snapshot (``Cycle.config``; None or ``{}``: every default)."""
        if isinstance(stored, CycleConfig):
            return stored
        data = {k: v for k, v in (stored or {}).items() if k != LEGACY_CONTEXT_KEY}
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        """The JSON to store in ``Cycle.config``: the keys given, as given."""
        return self.model_dump(mode="json", exclude_unset=True)

    def strategy_spec(self) -> tuple[str, dict[str, Any]]:
        """``(name, params)`` for ``acquisition.registry.get_strategy``."""
        return self.strategy, dict(self.strategy_params or {})
