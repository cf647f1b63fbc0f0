"""Neural-network code: detector builders, heads, losses, samplers, data, engine, evaluation,
inference and checkpoints. Depends on torch/torchvision only (no DB, settings or Celery).

Submodules are imported explicitly (``from models.builders import build_detector``); this
package file imports nothing, so that importing one part does not import them all. The
public API ``models.load_detector(path) -> (model, class_names)`` loads lazily.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """``models.load_detector`` (public API), imported on first use only."""
    if name == "load_detector":
        from models.checkpoint import load_detector

        return load_detector
    raise AttributeError(f"module 'models' has no attribute {name!r}")
