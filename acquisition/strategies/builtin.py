"""The built-in strategies, registered by :func:`acquisition.registry._ensure_builtin` (this
module does not import the registry, so neither module imports the other at load time)."""

from __future__ import annotations

from acquisition.strategies.auto import AutoStrategy
from acquisition.strategies.baselines import (
    EntropyStrategy,
    LeastConfidenceStrategy,
    RandomStrategy,
)
from acquisition.strategies.cald import CaldStrategy
from acquisition.strategies.diversity import CoresetStrategy, TwoStageStrategy
from acquisition.strategies.hua import HualeStrategy
from acquisition.strategies.mix import MixStrategy
from acquisition.strategies.ppal import PpalStrategy
from acquisition.strategies.probcover import ProbcoverStrategy
from acquisition.strategies.typiclust import TypiclustStrategy

BUILTIN = (
    RandomStrategy,
    EntropyStrategy,
    LeastConfidenceStrategy,
    HualeStrategy,
    CaldStrategy,
    PpalStrategy,
    CoresetStrategy,
    TwoStageStrategy,
    MixStrategy,
    TypiclustStrategy,
    ProbcoverStrategy,
    AutoStrategy,
)
