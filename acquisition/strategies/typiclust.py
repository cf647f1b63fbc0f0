"""``typiclust``: low-budget selection of typical, diverse images (Hacohen et al., ICML 2022,
"Active Learning on a Budget: Opposite Strategies Suit High and Low Budgets").

Phase 1 keeps each image's pooled backbone embedding (packed float32). Phase 2 clusters the
labelled images' embeddings (``context.labeled_embeddings``) together with the pool's into
``|labelled| + budget`` clusters (capped by ``max_clusters``) with seeded k-means
(mini-batch for large pools), then repeatedly takes the cluster with the fewest labelled or
already chosen images (ties: the larger cluster) and from it the unlabelled image of highest
typicality = 1 / mean distance to its K = min(``neighbours``, size - 1) nearest cluster
members. Clusters smaller than ``min_cluster_size`` are used only after every larger
cluster has run out of unlabelled images.
"""

from __future__ import annotations

import heapq

import torch

from acquisition.base import Chosen, rank_indices
from acquisition.clustering import kmeans, typicality
from acquisition.param_specs import TypiclustParams
from acquisition.records import (
    ImageRecord,
    ScoringContext,
)
from acquisition.strategies.embedding_base import (
    EmbeddingStrategy,
    points_with_labeled,
    stack_embeddings,
)


class TypiclustStrategy(EmbeddingStrategy):
    """TypiClust over pooled backbone embeddings (see the module docstring)."""

    name = "typiclust"
    description = "low budget: most typical image of the largest uncovered k-means clusters"
    score_label = None
    params_model = TypiclustParams

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        p = self.params
        x, n_lab = points_with_labeled(stack_embeddings(records), context, p["normalize"])
        total = x.shape[0]
        k = max(1, min(n_lab + budget, p["max_clusters"], total))
        labels, _ = kmeans(x, k, gen, iterations=p["iterations"])
        sizes = torch.bincount(labels, minlength=k).tolist()
        covered = torch.bincount(labels[:n_lab], minlength=k).tolist()
        pool_labels = labels[n_lab:]
        heap = [
            (int(sizes[c] < p["min_cluster_size"]), covered[c], -sizes[c], c)
            for c in set(pool_labels.tolist())
        ]
        heapq.heapify(heap)
        queues: dict[int, list[tuple[int, float]]] = {}
        out: Chosen = []
        while len(out) < budget and heap:
            small, count, neg_size, c = heapq.heappop(heap)
            if c not in queues:
                queues[c] = self._ranked_members(x, labels, n_lab, c, gen)
            i, typ = queues[c].pop(0)
            score = float(neg_size) / -(total + 1) - count - small * (total + 1)
            comps = {"typicality": typ, "cluster": float(c), "cluster_size": float(-neg_size),
                     "cluster_labeled": float(count)}  # fmt: skip
            out.append((records[i], score, comps))
            if queues[c]:
                heapq.heappush(heap, (small, count + 1, neg_size, c))
        return out

    def _ranked_members(
        self, x: torch.Tensor, labels: torch.Tensor, n_lab: int, c: int, gen: torch.Generator
    ) -> list[tuple[int, float]]:
        """Cluster ``c``'s unlabelled members as (record index, typicality), most typical
        first (ties: position, i.e. the seeded random order). Typicality is measured among
        all the cluster's members, labelled ones included."""
        members = torch.nonzero(labels == c).flatten()
        typ = typicality(x[members], self.params["neighbours"], gen)
        unl = members >= n_lab
        idx, typ = members[unl] - n_lab, typ[unl]
        order = rank_indices(typ, -idx.to(torch.float64))
        return [(int(idx[j]), float(typ[j])) for j in order.tolist()]
