"""Set-level normalisation and combination of per-image metrics (phase 2 helpers)."""

from __future__ import annotations

import torch

MINMAX_EPS = 1e-12


def minmax_normalize(values: torch.Tensor, eps: float = MINMAX_EPS) -> torch.Tensor:
    """Column-wise ``(v - min) / (max - min + eps)`` over the rows of ``values`` (N, M).

    A constant column (including N = 1) becomes all 0, so it contributes nothing. Rows are
    images, columns metrics; a 1-D input is treated as one column. Empty input -> empty.
    """
    squeeze = values.ndim == 1
    if values.shape[0] == 0:
        return values.to(torch.float64)
    v = values.reshape(values.shape[0], -1).to(torch.float64)
    lo = v.min(dim=0).values
    hi = v.max(dim=0).values
    span = hi - lo
    out = torch.where(span > 0, (v - lo) / (span + eps), torch.zeros_like(v))
    return out.reshape(-1) if squeeze else out


def euclidean_score(normalized: torch.Tensor) -> torch.Tensor:
    """HUALE image score ``l = sqrt(sum_m d_m^2)`` of normalised metrics (N, M) -> (N,)."""
    return torch.linalg.vector_norm(normalized.to(torch.float64), dim=1)


def rank_normalize(scores: torch.Tensor) -> torch.Tensor:
    """Map scores (N,) to [0, 1] by rank: best 1, worst 0 (ties share the lower rank value).

    N = 1 gives 1.
    """
    n = scores.shape[0]
    if n <= 1:
        return torch.ones(n, dtype=torch.float64)
    s = scores.to(torch.float64).contiguous()
    below = torch.searchsorted(torch.sort(s).values, s, side="left").to(torch.float64)
    return below / (n - 1)
