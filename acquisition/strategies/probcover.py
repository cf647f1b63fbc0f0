"""``probcover``: low-budget selection by greedy coverage of δ-balls in embedding space
(Yehuda et al., NeurIPS 2022, "Active Learning Through a Covering Lens").

Points within δ of a labelled image (``context.labeled_embeddings``) are covered. Each step
takes the unlabelled image whose δ-ball holds the most uncovered pool images and marks them
covered; once nothing uncovered is left the rest of the budget follows the seeded random
order (score 0). δ is ``delta`` or, when null, the largest value on a grid of pairwise
distance quantiles whose balls are ``purity`` pure with respect to a seeded k-means into
``num_classes`` clusters (the paper's rule). The ball graph costs O(N²) distances, so pools
above ``max_points`` images are cut to a seeded random subset of that size first.
"""

from __future__ import annotations

import torch

from acquisition.base import Chosen
from acquisition.clustering import kmeans
from acquisition.param_specs import ProbcoverParams
from acquisition.records import ImageRecord, ScoringContext
from acquisition.strategies.embedding_base import (
    EmbeddingStrategy,
    points_with_labeled,
    stack_embeddings,
)

BLOCK = 1024
GRID = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
PURITY_SAMPLE = 2000


def auto_delta(x: torch.Tensor, k: int, purity: float, gen: torch.Generator) -> float:
    """The largest grid δ (quantiles of distances from a seeded sample) whose balls around
    the sample hold only points of their own k-means cluster for >= ``purity`` of it."""
    labels, _ = kmeans(x, k, gen)
    sample = torch.randperm(x.shape[0], generator=gen)[:PURITY_SAMPLE]
    d = torch.cdist(x[sample], x)
    deltas = torch.quantile(d.flatten()[:10_000_000].double(), torch.tensor(GRID).double())
    deltas = [float(v) for v in deltas if float(v) > 0.0] or [1e-6]
    other = labels[sample][:, None] != labels[None, :]
    nearest_other = torch.where(other, d, torch.full_like(d, float("inf"))).min(dim=1).values
    best = deltas[0]
    for delta in deltas:
        if float((nearest_other >= delta).double().mean()) >= purity:
            best = delta
    return best


def ball_lists(x: torch.Tensor, delta: float) -> list[torch.Tensor]:
    """For each row of ``x``, the indices of the rows within ``delta`` (itself included)."""
    out: list[torch.Tensor] = []
    for s in range(0, x.shape[0], BLOCK):
        near = torch.cdist(x[s : s + BLOCK], x) < delta
        out += [torch.nonzero(row).flatten() for row in near]
    return out


class ProbcoverStrategy(EmbeddingStrategy):
    """ProbCover over pooled backbone embeddings (see the module docstring)."""

    name = "probcover"
    description = "low budget: greedy max coverage of delta-balls in embedding space"
    score_label = None
    params_model = ProbcoverParams

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        p = self.params
        records = records[: p["max_points"]]  # records are in the seeded random order
        budget = min(budget, len(records))
        x, n_lab = points_with_labeled(stack_embeddings(records), context, p["normalize"])
        delta = p["delta"]
        if delta is None:
            delta = auto_delta(x, min(context.num_classes, x.shape[0]), p["purity"], gen)
        pool = x[n_lab:]
        covered = torch.zeros(pool.shape[0], dtype=torch.bool)
        for s in range(0, n_lab, BLOCK):
            covered |= (torch.cdist(x[s : min(s + BLOCK, n_lab)], pool) < delta).any(dim=0)
        balls = ball_lists(pool, delta)
        degree = torch.tensor([int((~covered[b]).sum()) for b in balls], dtype=torch.long)
        taken = torch.zeros(pool.shape[0], dtype=torch.bool)
        out: Chosen = []
        while len(out) < budget:
            cand = torch.where(taken, torch.full_like(degree, -1), degree)
            i = int(torch.argmax(cand))  # ties: first position = seeded random order
            gain = int(degree[i])
            taken[i] = True
            out.append((records[i], float(gain), {"covered": float(gain), "delta": delta}))
            new = balls[i][~covered[balls[i]]]
            covered[new] = True
            for v in new.tolist():
                degree[balls[v]] -= 1
        return out
