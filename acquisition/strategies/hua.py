"""``hua``: HUALE hierarchical uncertainty aggregation (ALGORITHMS §1.3, §1.4, §1.7; [R]).

Phase 1 (per image): retrieval entropy and the four ranking metrics. Phase 2: keep the top
P by entropy (empty images capped), min-max normalise the metrics over those P, rank by the
Euclidean norm (ties: higher entropy, then the cycle's seeded random order).

Two passes when the ranking needs more than the original view's class probabilities (the
flip view or the sigma head; the default): pass 1 (original view only, whole pool) gives the
retrieval entropy; pass 2 (every required view, the retrieved P images only) gives the
ranking metrics. Merged, they equal the single-pass records (see ``Strategy.pass_requirements``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from acquisition.base import BatchedStrategy, Chosen, rank_indices
from acquisition.hua_metrics import (
    category_diversity_batch,
    flip_iou_uncertainty_batch,
    overlap_ratio_batch,
    semantic_affinity_batch,
    sigma_uncertainty_batch,
)
from acquisition.hua_selection import diversity_guard, normalize_metrics, top_by_entropy
from acquisition.normalize import euclidean_score
from acquisition.ops import normalized_entropy
from acquisition.padding import (
    PaddedView,
    class_histograms,
    map_in_size_batches,
    pad_views,
    padded_match,
)
from acquisition.param_specs import HuaParams
from acquisition.records import ImageRecord, ScoringContext
from acquisition.types import FLIP, ORIGINAL, ImagePrediction, Requirements


def _aggregate(values: torch.Tensor, valid: torch.Tensor, how: str, empty: float) -> torch.Tensor:
    """Masked max/mean/sum over slots (B, N) -> (B,); ``empty`` where no slot is valid."""
    n = valid.sum(1)
    if how == "max":
        agg = torch.where(valid, values, 0.0).amax(dim=1)
    elif how == "sum":
        agg = (values * valid).sum(1)
    else:
        agg = (values * valid).sum(1) / n.clamp_min(1)
    return torch.where(n > 0, agg, float(empty))


SA, CD, OR, LU = (
    "semantic_affinity",
    "category_diversity",
    "overlap_ratio",
    "localization_uncertainty",
)
METRICS = (SA, CD, OR, LU)
ENTROPY = "entropy"  # the retrieval entropy, optionally also a ranking metric (not HUALE's)
RETRIEVAL_ONLY = "retrieval_only"  # record data flag: a pass-1 record without ranking metrics


class HualeStrategy(BatchedStrategy):
    """Entropy retrieval (top P) then SA/CD/OR/LU ranking by Euclidean norm."""

    name = "hua"
    description = "HUALE: entropy retrieval, then 4-metric min-max + L2 ranking"
    score_label = "retrieval entropy"
    params_model = HuaParams

    def _metric_on(self, m: str) -> bool:
        return m in self.params["metrics"]

    def _post_init(self) -> None:
        self._requirements = self._compute_requirements()
        self._weighted = self.params["box_weights"] == "score"

    @property
    def requirements(self) -> Requirements:
        return self._requirements

    @property
    def pass_requirements(self) -> tuple[Requirements, ...]:
        """Retrieval (original view, class probabilities) then ranking (everything), unless
        the ranking needs nothing more than retrieval: then one pass."""
        first = Requirements(views=frozenset({ORIGINAL}), probs=True)
        return (self._requirements,) if self._requirements == first else (first, self._requirements)

    def score_pass(
        self, index: int, preds: Sequence[ImagePrediction], context: ScoringContext
    ) -> list[ImageRecord]:
        """Pass 0 of two: retrieval entropy only (components ``{"entropy"}``, data marked
        ``retrieval_only``); pass 1: the full single-pass records."""
        if index == self.passes - 1:
            return self.score_images(preds, context)
        if index != 0:
            raise ValueError(f"strategy 'hua' has no scoring pass {index}")
        return map_in_size_batches(preds, self._retrieval_group)

    def _retrieval_group(self, preds: list[ImagePrediction], bg: bool) -> list[ImageRecord]:
        entropy, empty = self._entropy(preds, bg)
        values = entropy.to(torch.float32).tolist()
        flags = empty.tolist()
        return [
            ImageRecord(x.image_id, values[i], {ENTROPY: values[i]},
                        {"empty": bool(flags[i]), RETRIEVAL_ONLY: True})
            for i, x in enumerate(preds)
        ]  # fmt: skip

    def _merge_record(self, first: ImageRecord, second: ImageRecord) -> ImageRecord:
        """Ranking metrics from pass 2; the retrieval entropy and the empty flag from pass 1
        (what retrieval decided on)."""
        data = {**second.data, "empty": first.data.get("empty", False)}
        data.pop(RETRIEVAL_ONLY, None)
        comps = {**second.components, ENTROPY: first.components.get(ENTROPY, first.score)}
        return ImageRecord(first.image_id, first.score, comps, data)

    def _entropy(
        self, preds: list[ImagePrediction], bg: bool, o: PaddedView | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Retrieval entropy (B,) and "no detection above tau_ret" flags (B,)."""
        p = self.params
        if o is not None and p["retrieval_threshold"] >= p["rank_threshold"]:
            ret_valid = o.valid & (o.scores >= p["retrieval_threshold"])
            h = normalized_entropy(o.dist)
        else:
            r = pad_views([x.original for x in preds], bg, p["retrieval_threshold"])
            ret_valid, h = r.valid, normalized_entropy(r.dist)
        entropy = _aggregate(h, ret_valid, p["entropy_aggregate"], p["empty_entropy"])
        return entropy, ~ret_valid.any(dim=1)

    def _compute_requirements(self) -> Requirements:
        p = self.params
        needs_flip = (
            self._metric_on(SA)
            or (self._metric_on(CD) and p["cd_variant"] == "views")
            or (self._metric_on(OR) and p["overlap_views"] == "max")
            or (self._metric_on(LU) and p["localization"] != "sigma")
        )
        views = {ORIGINAL, FLIP} if needs_flip else {ORIGINAL}
        log_vars = self._metric_on(LU) and p["localization"] in ("auto", "sigma")
        return Requirements(views=frozenset(views), probs=True, log_vars=log_vars)

    # ------------------------------------------------------------------ phase 1
    def _score_group(
        self, preds: list[ImagePrediction], bg: bool, context: ScoringContext
    ) -> list[ImageRecord]:
        p = self.params
        o = pad_views([x.original for x in preds], bg, p["rank_threshold"])
        entropy, empty = self._entropy(preds, bg, o)

        f = None
        if FLIP in self._requirements.views or p["overlap_views"] == "max":
            missing = [x.image_id for x in preds if FLIP not in x.views]
            if missing:
                raise ValueError(f"hua needs the {FLIP!r} view for image {missing[0]!r}")
            f = pad_views([x.views[FLIP] for x in preds], bg, p["rank_threshold"])
        match = padded_match(o, f) if f is not None else None

        cols: dict[str, torch.Tensor] = {"entropy": entropy}
        w = self._weighted
        if self._metric_on(SA):
            cols[SA] = semantic_affinity_batch(o, f, match, p["sa_variant"], w)
        if self._metric_on(CD):
            cols[CD] = category_diversity_batch(
                o,
                f,
                context.num_classes,
                p["cd_variant"],
                p["cd_histogram"],
                self._pool_dist(context),
            )
        if self._metric_on(OR):
            value = overlap_ratio_batch(o, p["overlap_threshold"], weighted=w)
            if p["overlap_views"] == "max":
                other = overlap_ratio_batch(f, p["overlap_threshold"], weighted=w)
                value = torch.maximum(value, other)
            cols[OR] = value
        if self._metric_on(LU):
            cols[LU] = self._localization(o, f, match)
        hist = None
        if p["diversity_guard"] is not None:
            hist = class_histograms(o, context.num_classes, p["cd_histogram"]).tolist()
        # float32 rounding makes results independent of the batch composition (see PaddedView)
        table = {k: v.to(torch.float32).tolist() for k, v in cols.items()}
        flags = empty.tolist()
        records = []
        for i, x in enumerate(preds):
            comps = {k: float(v[i]) for k, v in table.items()}
            data: dict[str, Any] = {"empty": bool(flags[i])}
            if hist is not None:
                data["class_hist"] = hist[i]
            records.append(ImageRecord(x.image_id, comps["entropy"], comps, data))
        return records

    @staticmethod
    def _pool_dist(context: ScoringContext) -> torch.Tensor | None:
        return context.class_freq_tensor()

    def _localization(
        self,
        o: PaddedView,
        f: PaddedView | None,
        match: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        mode, w = self.params["localization"], self._weighted
        if mode == "sigma" and not bool(o.has_log_vars.all()):
            raise ValueError("localization='sigma' needs log_vars (an uncertainty head)")
        sigma = sigma_uncertainty_batch([o] + ([f] if f is not None else []), w)
        if mode == "sigma":
            return sigma
        if f is None or match is None:
            raise ValueError("localization='flip_iou' needs the flip view")
        flip_iou = flip_iou_uncertainty_batch(o, f, match, w)
        if mode == "flip_iou":
            return flip_iou
        return torch.where(o.has_log_vars, sigma, flip_iou)

    # ------------------------------------------------------------------ phase 2
    def retrieval_size(self, budget: int, pool: int) -> int:
        """P = ceil(retrieval_factor x budget), clamped to [budget, pool]."""
        p = math.ceil(self.params["retrieval_factor"] * budget - 1e-9)
        return max(min(p, pool), min(budget, pool))

    def retrieve(self, records: list[ImageRecord], budget: int) -> list[int]:
        return self._retrieve(records, budget)

    def _retrieve(self, records: list[ImageRecord], budget: int) -> list[int]:
        """Indices (into ``records``) of the top-P by entropy (:func:`top_by_entropy`)."""
        size = self.retrieval_size(budget, len(records))
        return top_by_entropy(records, size, self.params["empty_cap"])

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        metrics = list(self.params["metrics"])
        idx = sorted(self._retrieve(records, budget))  # back to the seeded order
        # retrieved now but not a pass-2 candidate: the pool changed between the passes
        sub = [records[i] for i in idx if not records[i].data.get(RETRIEVAL_ONLY, False)]
        if not sub:
            return []
        budget = min(budget, len(sub))
        for r in sub:
            missing = [m for m in metrics if m not in r.components]
            if missing:
                raise ValueError(f"record {r.image_id!r} lacks metric(s) {missing}")
        raw = torch.tensor([[r.components[m] for m in metrics] for r in sub], dtype=torch.float64)
        norm = normalize_metrics(raw, self.params["normalization"])
        score = euclidean_score(norm)
        ent = torch.tensor([r.score for r in sub], dtype=torch.float64)
        order = rank_indices(score, ent).tolist()
        if self.params["diversity_guard"] is not None:
            hists = [r.data["class_hist"] for r in sub]
            order = diversity_guard(hists, order, budget, self.params["diversity_guard"])
        order = order[:budget]
        out: Chosen = []
        for i in order:
            comps = dict(sub[i].components)
            comps.update({f"{m}_norm": float(norm[i, j]) for j, m in enumerate(metrics)})
            out.append((sub[i], float(score[i]), comps))
        return out
