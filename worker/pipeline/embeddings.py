"""Embeddings of the labeled training images for k-centre strategies (``coreset``,
``two_stage``): their initial centres (``ScoringContext.labeled_embeddings``).

Computed by the training stage right after training, with the new model, only when the
cycle's strategy needs embeddings (``requirements.embedding``); at most
:data:`LABELED_EMBEDDING_LIMIT` images (a seeded subset of larger labeled sets) so the extra
pass stays cheap. Stored beside the checkpoint as a ``(L, D)`` float32 tensor file; the
selection stage loads it. Torch is imported inside functions only.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from alp.cycle_config import CycleConfig
from alp.storage import Storage

if TYPE_CHECKING:
    import torch
    from torch import nn

LABELED_EMBEDDING_LIMIT = 2000
BATCH = 16


def embeddings_key(checkpoint_key: str) -> str:
    """Storage key of the labeled embeddings that belong to ``checkpoint_key``."""
    stem = checkpoint_key[:-3] if checkpoint_key.endswith(".pt") else checkpoint_key
    return f"{stem}-labeled-embeddings.pt"


def needed(cycle_config: CycleConfig | Mapping[str, Any]) -> bool:
    """Whether the cycle's strategy uses embeddings (and so labeled centres)."""
    from acquisition.registry import get_strategy

    name, params = CycleConfig.parse(cycle_config).strategy_spec()
    return bool(get_strategy(name, **params).requirements.embedding)


def compute(
    model: nn.Module,
    manifest: list[dict[str, Any]],
    device: str,
    seed: int = 0,
    limit: int = LABELED_EMBEDDING_LIMIT,
    progress: Callable[[int, int], object] | None = None,
) -> torch.Tensor:
    """``(L, D)`` float32 pooled backbone embeddings of the manifest's images (original
    view), L = min(len(manifest), ``limit``) (a subset seeded by ``seed``). Empty manifest:
    a ``(0, 0)`` tensor. ``progress(done, total)`` after each batch."""
    import torch

    from acquisition.types import ORIGINAL
    from models.data import load_image
    from models.inference import predict

    entries = list(manifest)
    if len(entries) > limit:
        entries = sorted(random.Random(seed).sample(entries, limit), key=lambda e: e["image_id"])
    rows: list[torch.Tensor] = []
    for start in range(0, len(entries), BATCH):
        chunk = entries[start : start + BATCH]
        images = [load_image(e["path"]) for e in chunk]
        out = predict(
            model, images, [e["image_id"] for e in chunk], views=[ORIGINAL], embedding=True,
            device=device,
        )  # fmt: skip
        rows += [torch.as_tensor(r["embedding"]).reshape(-1).float().cpu() for r in out]
        if progress is not None:
            progress(start + len(chunk), len(entries))
    if not rows:
        return torch.zeros((0, 0))
    return torch.stack(rows)


def save(storage: Storage, key: str, embeddings: torch.Tensor) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(embeddings.detach().to(torch.float32).cpu().contiguous(), buf)
    storage.put_bytes(key, buf.getvalue())


def load(storage: Storage, key: str) -> torch.Tensor | None:
    """The stored ``(L, D)`` tensor, or None when there is none (or it is unreadable)."""
    import torch

    try:
        data = storage.read_bytes(key)
    except FileNotFoundError:
        return None
    try:
        value = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # a truncated/corrupt file: the strategy falls back to no centres
        return None
    return value if isinstance(value, torch.Tensor) and value.dim() == 2 else None
