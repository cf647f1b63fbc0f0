"""Datasets of a simulation: the unlabelled pool (with its hidden ground truth), an
optional validation split carved from it, and a separate held-out test set.

Either a COCO-format dataset on disk or the synthetic shape generator of
``models.data.synthetic``. Reported mAP always comes from the test set when there is one;
the validation split is for choices (never tune on the test set).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The synthetic benchmark world: imbalanced classes, clutter strokes, some empty images,
# occlusion. Selection matters there: random picks waste budget on easy/empty images.
SYNTHETIC_DEFAULTS: dict[str, Any] = {
    "classes": ("circle", "square", "triangle", "diamond"),
    "imbalance": 8.0,
    "min_objects": 1,
    "max_objects": 5,
    "scale": (0.12, 0.4),
    "max_overlap": 0.35,
    "empty_fraction": 0.15,
    "clutter": 6,
    "noise": 0.03,
}


@dataclass
class SimulationData:
    """Manifests (``models.data.dataset`` layout) of the pool, validation and test sets.

    Pool entries keep their ground truth: the oracle reveals it when an image is selected.
    ``image_id`` of pool entries is their index in ``pool`` (0..N-1).
    """

    class_names: list[str]
    pool: list[dict[str, Any]]
    val: list[dict[str, Any]] = field(default_factory=list)
    test: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""

    @property
    def eval_split(self) -> str:
        """The split whose metrics are reported: ``"test"`` if there is one, else ``"val"``."""
        return "test" if self.test else "val"

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "classes": list(self.class_names),
            "pool": len(self.pool),
            "val": len(self.val),
            "test": len(self.test),
            "eval_split": self.eval_split,
        }


def _reindex(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, e in enumerate(entries):
        e = dict(e)
        e.setdefault("source_id", e.get("image_id", i))
        e["image_id"] = i
        out.append(e)
    return out


def split_validation(
    entries: Sequence[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split off ``round(fraction * N)`` entries (seeded permutation) as validation.

    Returns ``(pool, val)``; the pool is re-indexed so ``image_id`` = position.
    ``fraction`` must be in [0, 1) and must leave at least one pool image.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"--val-split must be in [0, 1), got {fraction}")
    n_val = round(fraction * len(entries))
    if len(entries) - n_val < 1:
        raise ValueError("the validation split leaves no pool images")
    order = np.random.default_rng(seed).permutation(len(entries))
    val_idx = set(order[:n_val].tolist())
    pool = [e for i, e in enumerate(entries) if i not in val_idx]
    val = [e for i, e in enumerate(entries) if i in val_idx]
    return _reindex(pool), _reindex(val)


def synthetic_data(
    pool_size: int,
    test_size: int,
    image_size: int,
    val_split: float = 0.0,
    seed: int = 0,
    **overrides: Any,
) -> SimulationData:
    """Synthetic pool + separate test set (different generator seeds, same distribution).

    ``overrides`` replace :data:`SYNTHETIC_DEFAULTS` (any ``models.data.generate`` option).
    Images are kept in memory as (3, S, S) float tensors.
    """
    from models.data.synthetic import generate

    if pool_size < 1 or test_size < 0:
        raise ValueError("need a pool of at least 1 image and a test size >= 0")
    opts = {**SYNTHETIC_DEFAULTS, **overrides}
    classes = list(opts.pop("classes"))
    pool = generate(pool_size, size=image_size, classes=classes, seed=seed, as_tensor=True, **opts)
    test = (
        generate(
            test_size, size=image_size, classes=classes, seed=seed + 100_003, as_tensor=True, **opts
        )
        if test_size
        else []
    )
    pool, val = split_validation(pool, val_split, seed)
    source = f"synthetic(n={pool_size}, test={test_size}, size={image_size}, seed={seed})"
    return SimulationData(classes, pool, val, _reindex(test), source=source)


def coco_data(
    json_path: str | Path,
    image_dir: str | Path | None = None,
    val_split: float = 0.0,
    test_json: str | Path | None = None,
    test_image_dir: str | Path | None = None,
    seed: int = 0,
) -> SimulationData:
    """A COCO dataset on disk as the pool (+ optional validation split and test set).

    Without ``test_json`` the validation split is what gets reported, so it must be
    non-empty. The test set must have the same category names in the same order.
    """
    from models.data.coco import read_coco

    json_path = Path(json_path)
    if not json_path.is_file():
        raise ValueError(f"COCO annotation file not found: {json_path}")
    entries, classes = read_coco(json_path, image_dir)
    if not classes:
        raise ValueError(f"{json_path} defines no categories")
    pool, val = split_validation(entries, val_split, seed)
    test: list[dict[str, Any]] = []
    if test_json is not None:
        if not Path(test_json).is_file():
            raise ValueError(f"COCO test annotation file not found: {test_json}")
        test, test_classes = read_coco(test_json, test_image_dir)
        if test_classes != classes:
            raise ValueError(f"test categories {test_classes} differ from {classes}")
    elif not val:
        raise ValueError("a COCO pool without --test-dataset needs --val-split > 0")
    return SimulationData(classes, pool, val, _reindex(test), source=str(json_path))
