"""alp's detection heads: configured R-CNN RoI heads and RetinaNet head.

:func:`install_heads` must be called on every detector (vanilla included): besides the
configured training losses it makes ``model(images)`` in eval mode return, in every result
dict, ``probs`` ((N, C+1) softmax with column 0 = background for Faster R-CNN, (N, C) sigmoid
for RetinaNet) and, when the σ head exists, ``log_vars`` (N, 4).

The names are loaded lazily, so ``models.heads.config`` (pure Python) can be imported, e.g.
by the API to validate training overrides, without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AlpRetinaNet": "models.heads.retina",
    "AlpRetinaNetHead": "models.heads.retina",
    "AlpRoIHeads": "models.heads.roi_heads",
    "HeadConfig": "models.heads.config",
    "Reweight": "models.heads.config",
    "UncertaintyBoxPredictor": "models.heads.predictor",
    "head_preset": "models.heads.config",
    "install_heads": "models.heads.install",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'models.heads' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
