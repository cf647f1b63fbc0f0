"""Registers the built-in strategies (imported lazily by :mod:`acquisition.registry`)."""

from __future__ import annotations

from acquisition.registry import register
from acquisition.strategies.baselines import (
    EntropyStrategy,
    LeastConfidenceStrategy,
    RandomStrategy,
)
from acquisition.strategies.hua import HualeStrategy

for _cls in (RandomStrategy, EntropyStrategy, LeastConfidenceStrategy, HualeStrategy):
    register(_cls)
