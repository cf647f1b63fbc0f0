"""Diversity strategies: ``coreset`` (k-centre greedy on embeddings) and ``two_stage``
(any strategy's top ``factor x budget``, then k-centre greedy among them)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from acquisition.base import Chosen, Strategy
from acquisition.param_specs import NoParams, TwoStageParams
from acquisition.records import ImageRecord, ScoringContext, checked_embedding
from acquisition.selection import kcenter_greedy
from acquisition.strategies.embedding_base import EmbeddingStrategy
from acquisition.types import ImagePrediction, Requirements


def _embedding_of(pred: ImagePrediction, strategy: str) -> list[float]:
    return checked_embedding(pred, strategy).tolist()


def _embeddings(records: list[ImageRecord]) -> torch.Tensor:
    rows = [r.data["embedding"] for r in records]
    if len({len(r) for r in rows}) > 1:
        raise ValueError("image embeddings have different dimensions")
    return torch.tensor(rows, dtype=torch.float64)


class CoresetStrategy(EmbeddingStrategy):
    """k-centre greedy over pooled backbone embeddings; the labelled pool's embeddings
    (``context.labeled_embeddings``) are the initial centres, else a seeded random start."""

    name = "coreset"
    description = "core-set: k-centre greedy on image embeddings"
    params_model = NoParams

    def embedding_data(self, pred: ImagePrediction) -> list[float]:
        """A plain list of floats (stacked as float64 by :func:`_embeddings`)."""
        return _embedding_of(pred, self.name)

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        x = _embeddings(records)
        first = int(torch.randint(len(records), (1,), generator=gen))
        idx, dist = kcenter_greedy(x, budget, context.labeled_embeddings, first)
        return [(records[i], d, {"distance": d}) for i, d in zip(idx, dist, strict=True)]


class TwoStageStrategy(Strategy):
    """Uncertainty then diversity: ``uncertainty`` strategy's top ``factor x budget`` images,
    then k-centre greedy on their embeddings (labelled embeddings as centres if given, else
    starting from the most uncertain candidate)."""

    name = "two_stage"
    description = "any strategy's top factor x budget, then k-centre on embeddings"
    score_label = "first-stage uncertainty"
    params_model = TwoStageParams

    def _post_init(self) -> None:
        from acquisition.registry import get_strategy

        if self.params["uncertainty"] == self.name:
            raise ValueError("strategy 'two_stage': uncertainty must not be two_stage itself")
        self.inner = get_strategy(self.params["uncertainty"], **self.params["uncertainty_params"])

    @property
    def requirements(self) -> Requirements:
        r = self.inner.requirements
        return Requirements(
            views=r.views,
            probs=r.probs,
            log_vars=r.log_vars,
            embedding=True,
            box_features=r.box_features,
            needs_model=True,
        )

    def scores_are_flat(self, records: Sequence[ImageRecord]) -> bool:
        """The first stage decides the candidates: flat when its scores are."""
        return self.inner.scores_are_flat([ImageRecord.from_dict(r.data["inner"]) for r in records])

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        inner = self.inner.score_image(pred, context)
        data: dict[str, Any] = {
            "inner": inner.to_dict(),
            "embedding": _embedding_of(pred, self.name),
        }
        return ImageRecord(pred.image_id, inner.score, dict(inner.components), data)

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        n_cand = min(len(records), max(budget, math.ceil(self.params["factor"] * budget)))
        inner = [ImageRecord.from_dict(r.data["inner"]) for r in records]
        ranked = self.inner.select(inner, n_cand, context, gen)
        by_id = {r.image_id: r for r in records}
        cand = [by_id[s.image_id] for s in ranked]
        idx, dist = kcenter_greedy(_embeddings(cand), budget, context.labeled_embeddings, 0)
        out: Chosen = []
        for i, d in zip(idx, dist, strict=True):
            comps = dict(ranked[i].components)
            comps.update(
                {"uncertainty": ranked[i].score, "uncertainty_rank": float(i), "distance": d}
            )
            out.append((cand[i], d, comps))
        return out
