"""``cald``: Consistency-based AL for Detection (ALGORITHMS §2; [C-code] semantics).

Stage 1 (per image): consistency M(x) between the reference detections and each augmented
view; lower |m - beta| = more informative. Stage 2 (global): among the ``mr x budget`` most
inconsistent images, prefer class vectors far (JS) from the labelled distribution.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from acquisition.base import BatchedStrategy, Chosen, rank_indices
from acquisition.ops import LN2, js_divergence
from acquisition.padding import (
    PaddedView,
    class_histograms,
    pad_views,
    padded_match,
)
from acquisition.param_specs import CaldParams
from acquisition.records import ImageRecord, ScoringContext
from acquisition.types import (
    COLOR_ADJUST,
    COLOR_SWAP,
    CUTOUT,
    DOWNSCALE,
    FLIP,
    NOISE,
    ORIGINAL,
    ROTATE,
    SALT_PEPPER,
    ImagePrediction,
    Requirements,
    ViewPrediction,
)

AUGMENTATION_LETTERS = {
    "F": FLIP,
    "C": CUTOUT,
    "D": DOWNSCALE,
    "R": ROTATE,
    "G": NOISE,
    "S": SALT_PEPPER,
    "A": COLOR_ADJUST,
    "W": COLOR_SWAP,
}


def consistency_batch(ref: PaddedView, aug: PaddedView, base_point: float) -> torch.Tensor:
    """M_A = min_k |m_k - beta| with m_k = IoU_k + (P_k + P'_k)/2 * (1 - JS_k) for each
    reference box k and its best-IoU augmented box (natural-log JS, m in [0, 2]); 0 where
    either view has no detections. (B,)."""
    iou, idx = padded_match(ref, aug)
    q = aug.dist.gather(1, idx[:, :, None].expand(-1, -1, aug.dist.shape[-1]))
    js = js_divergence(ref.dist, q)
    conf = 0.5 * (ref.max_fg + aug.max_fg.gather(1, idx))
    dev = (iou + conf * (1.0 - js) - base_point).abs()
    m_a = torch.where(ref.valid, dev, float("inf")).amin(dim=1)
    return torch.where((ref.count == 0) | (aug.count == 0), 0.0, m_a)


def view_consistency(
    ref: ViewPrediction, aug: ViewPrediction, has_background: bool, base_point: float
) -> float:
    """Per-image :func:`consistency_batch` for already score-filtered views."""
    r = pad_views([ref], has_background, float("-inf"))
    a = pad_views([aug], has_background, float("-inf"))
    return float(consistency_batch(r, a, base_point)[0])


class CaldStrategy(BatchedStrategy):
    """CALD with a configurable augmentation set (``"F"`` flip-only ... ``"FCDR"``)."""

    name = "cald"
    description = "CALD: augmentation consistency, then class-distribution JS"
    score_label = "consistency"
    params_model = CaldParams

    def _post_init(self) -> None:
        self.aug_views = [AUGMENTATION_LETTERS[c] for c in self.params["augmentations"]]

    @property
    def requirements(self) -> Requirements:
        return Requirements(views=frozenset([ORIGINAL, *self.aug_views]), probs=True)

    def _score_group(
        self, preds: list[ImagePrediction], bg: bool, context: ScoringContext
    ) -> list[ImageRecord]:
        thr, beta = self.params["score_threshold"], self.params["base_point"]
        for name in self.aug_views:
            missing = [x.image_id for x in preds if name not in x.views]
            if missing:
                raise ValueError(f"cald needs the {name!r} view for image {missing[0]!r}")
        ref = pad_views([x.original for x in preds], bg, thr)
        hists = [class_histograms(ref, context.num_classes, "max")]
        per_aug: dict[str, torch.Tensor] = {}
        for name in self.aug_views:
            aug = pad_views([x.views[name] for x in preds], bg, thr)
            per_aug[name] = consistency_batch(ref, aug, beta)
            hists.append(class_histograms(aug, context.num_classes, "max"))
        m = torch.stack(list(per_aug.values())).mean(0)
        # float32 rounding: independent of batch composition (see PaddedView)
        m_l = m.to(torch.float32).tolist()
        aug_l = {k: v.to(torch.float32).tolist() for k, v in per_aug.items()}
        q_l = torch.stack(hists).mean(0).to(torch.float32).tolist()
        records = []
        for i, x in enumerate(preds):
            comps = {"consistency": m_l[i], **{f"consistency_{k}": v[i] for k, v in aug_l.items()}}
            records.append(ImageRecord(x.image_id, -m_l[i], comps, {"class_vector": q_l[i]}))
        return records

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        stage1 = torch.tensor([r.score for r in records], dtype=torch.float64)
        order = rank_indices(stage1).tolist()
        if self.params["stage2"] == "none":
            return [
                (records[i], records[i].score, dict(records[i].components)) for i in order[:budget]
            ]
        n_cand = min(len(records), max(budget, math.ceil(self.params["candidate_ratio"] * budget)))
        cand = [records[i] for i in order[:n_cand]]
        q_raw = torch.tensor([r.data["class_vector"] for r in cand], dtype=torch.float64)
        zero = (q_raw.abs().sum(dim=1) == 0).to(torch.float64)
        r = context.class_freq_tensor()
        r = torch.zeros(q_raw.shape[1], dtype=torch.float64) if r is None else r
        if self.params["stage2"] == "js":
            div = js_divergence(torch.softmax(r, 0)[None, :], torch.softmax(q_raw, 1)) / LN2
        else:  # most balanced after adding the image: smallest JS to uniform
            uni = torch.full_like(q_raw, 1.0 / q_raw.shape[1])
            div = 1.0 - js_divergence(torch.softmax(r[None, :] + q_raw, 1), uni) / LN2
        div = div.clamp(0.0, 1.0)
        score = torch.where(zero > 0, torch.ones_like(div), div)
        pos = torch.arange(len(cand), dtype=torch.float64)
        final = rank_indices(zero, div, -pos)[:budget].tolist()
        out: Chosen = []
        for i in final:
            comps: dict[str, Any] = dict(cand[i].components)
            comps["class_divergence"] = float(div[i])
            out.append((cand[i], float(score[i]), comps))
        return out
