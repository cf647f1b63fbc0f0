"""Global selection algorithms over many images: k-centre greedy, k-medoids (vectorised)."""

from __future__ import annotations

import torch

BLOCK = 4096


def pairwise_min_dist(x: torch.Tensor, centres: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """For each row of ``x`` (N, D), the Euclidean distance to its nearest row of ``centres``
    (L, D), computed in blocks of ``block`` centres; L = 0 gives +inf everywhere."""
    out = torch.full((x.shape[0],), float("inf"), dtype=torch.float64)
    for start in range(0, centres.shape[0], block):
        d = torch.cdist(x.to(torch.float64), centres[start : start + block].to(torch.float64))
        out = torch.minimum(out, d.min(dim=1).values)
    return out


def kcenter_greedy(
    x: torch.Tensor,
    k: int,
    initial_centres: torch.Tensor | None = None,
    first: int = 0,
) -> tuple[list[int], list[float]]:
    """Greedy k-centre (farthest point) selection over points ``x`` (N, D).

    Starts from ``initial_centres`` (L, D) when given and non-empty, otherwise from point
    ``first``. Returns (indices, scores): the chosen indices in pick order and, for each, its
    distance to the nearest centre when picked (non-increasing; the ``first`` point, picked
    without centres, scores its largest distance to any point). Ties: lowest index
    (strategies pass the points in the seeded random order, so that is a random tie-break).
    ``k`` is clamped to N.
    """
    n = x.shape[0]
    k = min(k, n)
    if k <= 0:
        return [], []
    x = x.to(torch.float64)
    chosen: list[int] = []
    scores: list[float] = []
    if initial_centres is not None and initial_centres.shape[0] > 0:
        if initial_centres.shape[1] != x.shape[1]:
            raise ValueError(
                f"labelled embeddings have dim {initial_centres.shape[1]}, pool has {x.shape[1]}"
            )
        min_dist = pairwise_min_dist(x, initial_centres)
    else:
        d_first = torch.cdist(x[first : first + 1], x)[0]
        chosen.append(first)
        scores.append(float(d_first.max()))
        min_dist = d_first
    taken = torch.zeros(n, dtype=torch.bool)
    taken[chosen] = True
    while len(chosen) < k:
        i = int(torch.argmax(torch.where(taken, torch.full_like(min_dist, -1.0), min_dist)))
        chosen.append(i)
        taken[i] = True
        scores.append(float(min_dist[i]))
        min_dist = torch.minimum(min_dist, torch.cdist(x[i : i + 1], x)[0])
    return chosen, scores


def kcenter_from_matrix(dist: torch.Tensor, k: int, first: int) -> list[int]:
    """Greedy k-centre on a precomputed symmetric distance matrix (P, P), starting at
    ``first``; returns k distinct indices in pick order (ties: lowest index)."""
    p = dist.shape[0]
    k = min(k, p)
    if k <= 0:
        return []
    chosen = [first]
    min_dist = dist[first].clone().to(torch.float64)
    taken = torch.zeros(p, dtype=torch.bool)
    taken[first] = True
    while len(chosen) < k:
        cand = torch.where(taken, torch.full_like(min_dist, -1.0), min_dist)
        i = int(torch.argmax(cand))
        chosen.append(i)
        taken[i] = True
        min_dist = torch.minimum(min_dist, dist[i].to(torch.float64))
    return chosen


def k_medoids(
    dist: torch.Tensor, medoids: list[int], iterations: int = 100, block: int = BLOCK
) -> list[int]:
    """Alternating k-medoids on a distance matrix (P, P) from initial ``medoids`` (distinct).

    Each round assigns every point to its nearest medoid (a medoid always to itself; ties
    to the earlier medoid) and moves each medoid to the member minimising the sum of
    distances to its cluster (ties: lowest index). Stops when stable or after
    ``iterations``. Returns the medoids sorted ascending.
    """
    p = dist.shape[0]
    k = len(medoids)
    if k == 0 or k >= p:
        return sorted(medoids)
    dist = dist.to(torch.float64)
    med = torch.tensor(sorted(medoids), dtype=torch.long)
    idx = torch.arange(p)
    for _ in range(iterations):
        assign = torch.argmin(dist[:, med], dim=1)
        assign[med] = torch.arange(k)
        cost = torch.empty(p, dtype=torch.float64)
        for s in range(0, p, block):
            same = assign[s : s + block, None] == assign[None, :]
            cost[s : s + block] = (dist[s : s + block] * same).sum(dim=1)
        best = torch.full((k,), float("inf"), dtype=torch.float64)
        best = best.scatter_reduce(0, assign, cost, reduce="amin")
        is_best = cost <= best[assign]
        cand = torch.where(is_best, idx, torch.full_like(idx, p))
        new = torch.full((k,), p, dtype=torch.long).scatter_reduce(0, assign, cand, reduce="amin")
        new = torch.sort(new).values
        if torch.equal(new, med):
            break
        med = new
    return med.tolist()
