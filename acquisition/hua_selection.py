"""Phase 2 of ``hua`` (ALGORITHMS §1.4, §1.7) as plain functions: the entropy retrieval
with its cap on empty images, the normalisation of the ranking metrics and the
class-histogram diversity guard."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from acquisition.base import rank_indices
from acquisition.normalize import minmax_normalize, rank_normalize
from acquisition.records import ImageRecord


def normalize_metrics(raw: torch.Tensor, how: str) -> torch.Tensor:
    """Per-column min-max or rank normalisation of (N, M) metrics; constant columns -> 0."""
    if how == "minmax" or raw.shape[0] <= 1:  # one row: every column is constant -> 0
        return minmax_normalize(raw)
    return torch.stack([rank_normalize(raw[:, j]) for j in range(raw.shape[1])], dim=1)


def top_by_entropy(records: list[ImageRecord], size: int, empty_cap: float) -> list[int]:
    """Indices (into ``records``) of the ``size`` highest scores (the retrieval entropy),
    ties by position; at most ``floor(empty_cap x size)`` images without detections
    (``data["empty"]``) unless others run out."""
    ent = torch.tensor([r.score for r in records], dtype=torch.float64)
    order = rank_indices(ent).tolist()
    cap = math.floor(empty_cap * size + 1e-9)
    taken: list[int] = []
    skipped: list[int] = []
    n_empty = 0
    for i in order:
        if len(taken) == size:
            break
        if records[i].data.get("empty", False):
            if n_empty >= cap:
                skipped.append(i)
                continue
            n_empty += 1
        taken.append(i)
    taken.extend(skipped[: size - len(taken)])
    return taken


def diversity_guard(
    hists: Sequence[Sequence[float]], order: list[int], budget: int, threshold: float
) -> list[int]:
    """``order`` cut to ``budget``, skipping near-duplicates (class-histogram cosine above
    ``threshold`` with an already chosen one); refilled from the skipped; order kept."""
    h = torch.tensor(hists, dtype=torch.float64)
    unit = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
    chosen: list[int] = []
    skipped: list[int] = []
    for i in order:
        if len(chosen) == budget:
            break
        if chosen and float((unit[chosen] @ unit[i]).max()) > threshold:
            skipped.append(i)
        else:
            chosen.append(i)
    keep = set(chosen + skipped[: budget - len(chosen)])
    return [i for i in order if i in keep]
