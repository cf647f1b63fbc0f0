"""Seeded k-means (full or mini-batch) and k-nearest-neighbour typicality, in torch.

Pure functions over CPU tensors; every random choice draws from the ``torch.Generator``
passed in (never the global RNG), so a seed gives the same result on the same machine.
Sized for pools of 100k+ images: distances are computed in blocks, k-means++ seeding runs
on a seeded sample, large inputs use mini-batch k-means (Sculley, 2010) followed by one
full assignment pass, and the neighbours of a large cluster are searched in a seeded
reference sample of it (approximate neighbours).
"""

from __future__ import annotations

import torch

BLOCK = 4096
FULL_KMEANS_MAX = 20_000
"""Inputs up to this many points run full (Lloyd) k-means; larger ones mini-batch."""
INIT_SAMPLE = 20_000
"""k-means++ seeding looks at a seeded sample of at most this many points."""
EXACT_KNN_MAX = 4096
"""Clusters up to this size get exact neighbours; larger ones search a reference sample."""


def assign(x: torch.Tensor, centres: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Index of the nearest centre (Euclidean; ties: lowest index) of each row of ``x``."""
    out = torch.empty(x.shape[0], dtype=torch.long)
    for s in range(0, x.shape[0], block):
        out[s : s + block] = torch.cdist(x[s : s + block], centres).argmin(dim=1)
    return out


def kmeans_pp(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: ``k`` distinct rows of ``x`` (k <= len(x)) as initial centres.

    The first centre is uniform; each next one is drawn with probability proportional to
    the squared distance to the nearest chosen centre (uniform over the rest once every
    point coincides with a centre)."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=gen))
    chosen = [first]
    d2 = torch.cdist(x, x[first : first + 1])[:, 0].pow(2)
    taken = torch.zeros(n, dtype=torch.bool)
    taken[first] = True
    while len(chosen) < k:
        w = torch.where(taken, torch.zeros_like(d2), d2).to(torch.float64)
        if float(w.sum()) <= 0.0:
            w = (~taken).to(torch.float64)
        i = int(torch.multinomial(w, 1, generator=gen))
        chosen.append(i)
        taken[i] = True
        d2 = torch.minimum(d2, torch.cdist(x, x[i : i + 1])[:, 0].pow(2))
    return x[chosen].clone()


def kmeans(
    x: torch.Tensor,
    k: int,
    gen: torch.Generator,
    iterations: int = 50,
    batch_size: int = 2048,
    full_max: int = FULL_KMEANS_MAX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster the rows of ``x`` (N, D) into ``min(k, N)`` clusters.

    Returns ``(labels (N,), centres (k, D))``. N <= ``full_max``: Lloyd iterations until
    the assignment is stable (at most ``iterations``). Larger N: ``iterations`` mini-batch
    steps of ``batch_size`` seeded samples (per-centre learning rate 1 / points seen), then
    one full assignment. Seeding: k-means++ on a seeded sample of at most
    :data:`INIT_SAMPLE` points. A centre that loses all its points keeps its position.
    ``N == 0`` or ``k < 1`` -> ValueError.
    """
    n = x.shape[0]
    if n == 0 or k < 1:
        raise ValueError(f"k-means needs points and k >= 1 (got {n} points, k={k})")
    x = x.to(torch.float32)
    k = min(k, n)
    sample = x if n <= INIT_SAMPLE else x[torch.randperm(n, generator=gen)[:INIT_SAMPLE]]
    centres = kmeans_pp(sample, k, gen)
    if n <= full_max:
        labels = assign(x, centres)
        for _ in range(iterations):
            centres = _means(x, labels, centres)
            new = assign(x, centres)
            if torch.equal(new, labels):
                break
            labels = new
        return labels, centres
    seen = torch.zeros(k, dtype=torch.float32)
    for _ in range(iterations):
        batch = x[torch.randint(n, (min(batch_size, n),), generator=gen)]
        lab = torch.cdist(batch, centres).argmin(dim=1)
        counts = torch.bincount(lab, minlength=k).to(torch.float32)
        sums = torch.zeros_like(centres).index_add_(0, lab, batch)
        seen += counts
        hit = counts > 0
        # incremental mean: c += (sum - count * c) / seen, i.e. lr = 1/seen per point
        step = (sums[hit] - counts[hit, None] * centres[hit]) / seen[hit, None]
        centres[hit] = centres[hit] + step
    return assign(x, centres), centres


def _means(x: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    k = centres.shape[0]
    counts = torch.bincount(labels, minlength=k).to(x.dtype)
    sums = torch.zeros_like(centres).index_add_(0, labels, x)
    out = centres.clone()
    hit = counts > 0
    out[hit] = sums[hit] / counts[hit, None]
    return out


def typicality(
    x: torch.Tensor,
    neighbours: int,
    gen: torch.Generator,
    exact_max: int = EXACT_KNN_MAX,
    block: int = BLOCK,
) -> torch.Tensor:
    """Typicality of each row of ``x`` (M, D) within the set: 1 / mean Euclidean distance
    to its ``K = min(neighbours, M - 1)`` nearest other rows (TypiClust, Hacohen et al. 2022).

    M <= ``exact_max``: exact neighbours. Larger M: approximate neighbours, the
    ``max(1, round(K * s / M))`` nearest among a seeded sample of s = ``exact_max`` rows (the
    same density scale; only the ranking inside the set matters).
    K = 0 (a single row) gives 0. Coincident points give a large finite value (the mean
    distance is floored at 1e-12). Returns float64 (M,).
    """
    m = x.shape[0]
    k = min(int(neighbours), m - 1)
    if m == 0 or k <= 0:
        return torch.zeros(m, dtype=torch.float64)
    x = x.to(torch.float32)
    if m <= exact_max:
        ref_idx = torch.arange(m)
    else:  # the K nearest of M points ~ the K * s / M nearest of a sample of s
        ref_idx = torch.randperm(m, generator=gen)[:exact_max]
        k = max(1, min(exact_max - 1, round(k * exact_max / m)))
    ref = x[ref_idx]
    out = torch.empty(m, dtype=torch.float64)
    for s in range(0, m, block):
        d = torch.cdist(x[s : s + block], ref).to(torch.float64)
        rows = torch.arange(s, min(s + block, m))
        d[rows[:, None] == ref_idx[None, :]] = float("inf")  # a point is not its own neighbour
        mean = d.topk(k, dim=1, largest=False).values.mean(dim=1)
        out[s : s + block] = 1.0 / mean.clamp_min(1e-12)
    return out
