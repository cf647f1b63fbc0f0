"""``auto``: a low-budget strategy (``typiclust``) while the pool is small, then ``hua``.

The pool counts as small while any enabled rule says so: some class has fewer than
``min_images_per_class`` labelled train images (``context.labeled_images_per_class``), or
the current model's validation mAP@0.5 is below ``min_validation_map``
(``context.validation_map``). A rule whose input is unknown (None in the context) is
skipped; when no enabled rule can be evaluated the high-budget strategy is used.
:meth:`AutoStrategy.decision` names the strategy used and why (recorded on each cycle).

Phase 1 scores every image with both strategies (their records travel together, so the
choice is made once, in phase 2, from the pool-level context).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from acquisition.base import Chosen, Strategy
from acquisition.param_specs import AutoParams
from acquisition.records import ImageRecord, ScoringContext
from acquisition.types import ImagePrediction, Requirements


def union(a: Requirements, b: Requirements) -> Requirements:
    """Requirements that satisfy both ``a`` and ``b``."""
    return Requirements(
        views=a.views | b.views,
        probs=a.probs or b.probs,
        log_vars=a.log_vars or b.log_vars,
        embedding=a.embedding or b.embedding,
        box_features=a.box_features or b.box_features,
        needs_model=a.needs_model or b.needs_model,
    )


class AutoStrategy(Strategy):
    """Budget-aware choice between two strategies (see the module docstring)."""

    name = "auto"
    description = "typiclust while the pool is small (labels per class / val mAP), then hua"
    score_label = "high-budget strategy's score"
    uses_pool_stats = True
    params_model = AutoParams

    def _post_init(self) -> None:
        from acquisition.registry import get_strategy

        p = self.params
        for key in ("low_budget", "high_budget"):
            if p[key] == self.name:
                raise ValueError(f"strategy 'auto': {key} must not be auto itself")
        self.low = get_strategy(p["low_budget"], **p["low_budget_params"])
        self.high = get_strategy(p["high_budget"], **p["high_budget_params"])
        if p["min_images_per_class"] is None and p["min_validation_map"] is None:
            raise ValueError("strategy 'auto': enable min_images_per_class or min_validation_map")
        self._last: Strategy = self.high

    @property
    def requirements(self) -> Requirements:
        return union(self.low.requirements, self.high.requirements)

    def decision(self, context: ScoringContext) -> dict[str, str]:
        key, reason = self._choose(context)
        return {"strategy": self.params[f"{key}_budget"], "reason": reason}

    def _choose(self, context: ScoringContext) -> tuple[str, str]:
        """``("low" | "high", reason)`` for ``context``."""
        p = self.params
        small: list[str] = []
        known: list[str] = []
        counts = context.labeled_images_per_class
        need = p["min_images_per_class"]
        if need is not None and counts is not None:
            fewest = min(counts) if len(counts) else 0
            if fewest < need:
                small.append(f"a class has {fewest} labelled images (< {need})")
            else:
                known.append(f"every class has >= {need} labelled images (fewest {fewest})")
        vmap, floor = context.validation_map, p["min_validation_map"]
        if floor is not None and vmap is not None:
            if vmap < floor:
                small.append(f"validation mAP@0.5 {vmap:.3f} < {floor:g}")
            else:
                known.append(f"validation mAP@0.5 {vmap:.3f} >= {floor:g}")
        if small:
            return "low", "; ".join(small)
        if known:
            return "high", "; ".join(known)
        return "high", "no labelled-image counts or validation mAP known for the budget rule"

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        return self.score_images([pred], context)[0]

    def score_images(
        self, preds: Sequence[ImagePrediction], context: ScoringContext
    ) -> list[ImageRecord]:
        lows = self.low.score_images(preds, context)
        highs = self.high.score_images(preds, context)
        return [
            ImageRecord(
                h.image_id, h.score, dict(h.components), {"low": lo.to_dict(), "high": h.to_dict()}
            )
            for lo, h in zip(lows, highs, strict=True)
        ]

    def scores_are_flat(self, records: Sequence[ImageRecord]) -> bool:
        """Flat when the strategy used by the last :meth:`select` has flat scores."""
        key = "low" if self._last is self.low else "high"
        return self._last.scores_are_flat([ImageRecord.from_dict(r.data[key]) for r in records])

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        key, _ = self._choose(context)
        inner = self.low if key == "low" else self.high
        self._last = inner
        inner_records = [ImageRecord.from_dict(r.data[key]) for r in records]
        by_id = {r.image_id: r for r in records}
        chosen = inner._select(inner_records, budget, context, gen)
        return [(by_id[r.image_id], s, c) for r, s, c in chosen]
