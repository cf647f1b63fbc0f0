"""Vectorised ranking helpers shared by losses and samplers (no Python loops per group)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rank_within_groups"]


def rank_within_groups(groups: Tensor, values: Tensor) -> Tensor:
    """0-based rank of every element by **descending** ``values`` inside its group.

    Args:
        groups: (n,) integer group id of each element (any values, need not be contiguous).
        values: (n,) sort key; ties keep the original index order (stable).

    Returns:
        (n,) int64 ranks; rank 0 is the largest value of its group. Empty input → empty output.
    """
    n = values.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=values.device)
    order = torch.argsort(values, descending=True, stable=True)
    order = order[torch.argsort(groups[order], stable=True)]
    sorted_groups = groups[order]
    pos = torch.arange(n, device=values.device)
    is_start = torch.ones(n, dtype=torch.bool, device=values.device)
    is_start[1:] = sorted_groups[1:] != sorted_groups[:-1]
    group_start = torch.cummax(torch.where(is_start, pos, torch.zeros_like(pos)), dim=0).values
    ranks = torch.empty_like(pos)
    ranks[order] = pos - group_start
    return ranks
