"""Baselines: ``random``, ``entropy`` and ``least_confidence``."""

from __future__ import annotations

import torch

from acquisition.base import Chosen, Strategy, TopScoreStrategy
from acquisition.ops import aggregate, filter_view, normalized_entropy, to_distribution
from acquisition.param_specs import DetectionScoreParams, NoParams
from acquisition.records import ImageRecord, ScoringContext
from acquisition.types import ImagePrediction, Requirements


class RandomStrategy(Strategy):
    """Uniformly random selection; needs no inference. Scores are U(0, 1) draws from the
    generator over the seeded order of the pool, so the choice is shard-independent."""

    name = "random"
    description = "uniform random selection (no model needed)"
    params_model = NoParams
    score_label = None

    @property
    def requirements(self) -> Requirements:
        return Requirements(views=frozenset(), probs=False, needs_model=False)

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        return ImageRecord(image_id=pred.image_id, score=0.0)

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        u = torch.rand(len(records), generator=gen, dtype=torch.float64)
        order = torch.sort(u, descending=True, stable=True).indices[:budget]
        return [(records[i], float(u[i]), {"random": float(u[i])}) for i in order.tolist()]


class EntropyStrategy(TopScoreStrategy):
    """Image score = max/mean/sum over detections (score >= threshold) of the normalised
    class entropy H_k in [0, 1] (ALGORITHMS §1.3); ``empty_score`` without detections."""

    name = "entropy"
    description = "class-probability entropy aggregated over detections"
    params_model = DetectionScoreParams
    score_label = "entropy"

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        view = filter_view(pred.original, self.params["score_threshold"])
        h = normalized_entropy(to_distribution(view.probs, pred.has_background))
        score = aggregate(h, self.params["aggregate"], self.params["empty_score"])
        return ImageRecord(
            image_id=pred.image_id,
            score=score,
            components={"entropy": score, "detections": float(len(view))},
        )


class LeastConfidenceStrategy(TopScoreStrategy):
    """Image score = max/mean/sum over detections of ``1 - score`` (detection confidence);
    ``empty_score`` without detections. Needs no class-probability vectors."""

    name = "least_confidence"
    description = "1 - detection confidence aggregated over detections"
    params_model = DetectionScoreParams
    score_label = "least confidence"

    @property
    def requirements(self) -> Requirements:
        return Requirements(probs=False)

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        view = pred.original
        scores = view.scores[view.scores >= self.params["score_threshold"]].to(torch.float32)
        score = aggregate(1.0 - scores, self.params["aggregate"], self.params["empty_score"])
        return ImageRecord(
            image_id=pred.image_id,
            score=score,
            components={"least_confidence": score, "detections": float(scores.numel())},
        )
