"""Records passed between the two acquisition phases, and the pool-level scoring context.

Phase 1 (``Strategy.score_image``) turns one :class:`~acquisition.types.ImagePrediction` into
a small JSON-serialisable :class:`ImageRecord`. Records of many shards are merged and phase 2
(``Strategy.select``) returns :class:`Selected` rows, best first.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

ImageId = Hashable


def id_sort_key(image_id: ImageId) -> tuple[int, Any]:
    """Total order over image ids: ints (by value) before everything else (by ``str``)."""
    if isinstance(image_id, int) and not isinstance(image_id, bool):
        return (0, image_id)
    return (1, str(image_id))


def _finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value}")
    return value


@dataclass
class ImageRecord:
    """Per-image result of phase 1; JSON-serialisable through :meth:`to_dict`.

    * ``image_id``: the image's id (int or str for JSON round trips).
    * ``score``: the local score, higher = label first (e.g. entropy for HUALE retrieval).
    * ``components``: per-metric values for display, all finite floats.
    * ``data``: compact extra data the global step needs (lists of floats, strings, nested
      dicts, packed tensors from :func:`pack_tensor`); must be JSON-serialisable.
    """

    image_id: ImageId
    score: float
    components: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.score = _finite(self.score, f"score of image {self.image_id!r}")
        self.components = {
            str(k): _finite(v, f"component {k!r} of image {self.image_id!r}")
            for k, v in self.components.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "score": self.score,
            "components": dict(self.components),
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageRecord:
        try:
            return cls(
                image_id=d["image_id"],
                score=d["score"],
                components=dict(d.get("components", {})),
                data=dict(d.get("data", {})),
            )
        except KeyError as exc:
            raise ValueError(f"image record is missing field {exc.args[0]!r}") from None


@dataclass
class Selected:
    """One chosen image: ``rank`` is 0-based (0 = label first); ``score`` is non-increasing
    with rank within one selection; ``components`` are finite floats for display."""

    image_id: ImageId
    rank: int
    score: float
    components: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "rank": self.rank,
            "score": self.score,
            "components": dict(self.components),
        }


@dataclass
class ScoringContext:
    """Pool-level information shared by every shard (never mutated by strategies).

    * ``num_classes``: C, number of foreground classes of the pool.
    * ``labeled_class_freq``: (C,) mean number of ground-truth boxes of each class per
      labelled image (CALD stage 2; HUALE Category Diversity "pool"), or None if unknown
      (then treated as uniform).
    * ``class_quality``: (C,) PPAL class qualities q_c in [0, 1] from training, or None
      (then every difficulty weight is 1).
    * ``labeled_embeddings``: (L, D) embeddings of labelled images, used as initial centres
      by k-centre selection (coreset, two-stage) and as covered points by ``typiclust``, or
      None.
    * ``labeled_images_per_class``: (C,) number of labelled train images holding at least
      one box of each class, or None if unknown (``auto``'s budget rule).
    * ``validation_map``: the current model's mAP@0.5 on the validation split in [0, 1], or
      None without one (``auto``'s budget rule).
    """

    num_classes: int
    labeled_class_freq: Sequence[float] | None = None
    class_quality: Sequence[float] | None = None
    labeled_embeddings: torch.Tensor | None = None
    labeled_images_per_class: Sequence[int] | None = None
    validation_map: float | None = None

    def __post_init__(self) -> None:
        if int(self.num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.validation_map is not None and not 0.0 <= float(self.validation_map) <= 1.0:
            raise ValueError(f"validation_map must be in [0, 1], got {self.validation_map}")
        for name in ("labeled_class_freq", "class_quality", "labeled_images_per_class"):
            value = getattr(self, name)
            if value is not None and len(value) != self.num_classes:
                raise ValueError(
                    f"{name} has {len(value)} entries but num_classes is {self.num_classes}"
                )

    def class_freq_tensor(self) -> torch.Tensor | None:
        if self.labeled_class_freq is None:
            return None
        return torch.as_tensor(list(self.labeled_class_freq), dtype=torch.float64)

    def class_quality_tensor(self) -> torch.Tensor | None:
        if self.class_quality is None:
            return None
        return torch.as_tensor(list(self.class_quality), dtype=torch.float32)


def checked_embedding(pred: Any, strategy: str) -> torch.Tensor:
    """``pred.embedding`` (an ``ImagePrediction``'s) as a flat float32 vector; ``ValueError``
    naming ``strategy`` when it is absent, or when it is not finite."""
    if pred.embedding is None:
        raise ValueError(f"{strategy} needs an image embedding (image {pred.image_id!r})")
    emb = pred.embedding.detach().reshape(-1).to(torch.float32)
    if not bool(torch.isfinite(emb).all()):
        raise ValueError(f"embedding of image {pred.image_id!r} is not finite")
    return emb


def pack_tensor(t: torch.Tensor) -> dict[str, Any]:
    """Encode a float tensor exactly as ``{"shape", "b64"}`` (little-endian float32)."""
    t = t.detach().to(torch.float32).contiguous().cpu()
    raw = t.numpy().astype("<f4").tobytes()
    return {"shape": list(t.shape), "b64": base64.b64encode(raw).decode("ascii")}


def unpack_tensor(d: dict[str, Any]) -> torch.Tensor:
    """Inverse of :func:`pack_tensor`; returns a float32 tensor."""
    import numpy as np

    arr = np.frombuffer(base64.b64decode(d["b64"]), dtype="<f4").copy()
    return torch.from_numpy(arr).reshape(d["shape"])
