"""``cald``: Consistency-based AL for Detection (ALGORITHMS §2; [C-code] semantics).

Stage 1 (per image): consistency M(x) between the reference detections and each augmented
view; lower |m - beta| = more informative. Stage 2 (global): among the ``mr x budget`` most
inconsistent images, prefer class vectors far (JS) from the labelled distribution.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from acquisition.base import Chosen, Strategy, rank_indices
from acquisition.ops import (
    LN2,
    class_histogram,
    filter_view,
    js_divergence,
    match_boxes,
    to_distribution,
)
from acquisition.params import Param
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


def _check_augs(value: str) -> str | None:
    if not value:
        return "needs at least one augmentation letter"
    bad = sorted(set(value) - set(AUGMENTATION_LETTERS))
    if bad:
        return f"unknown augmentation letter {bad[0]!r}; use {''.join(AUGMENTATION_LETTERS)}"
    if len(set(value)) != len(value):
        return "repeats an augmentation letter"
    return None


def _max_fg(probs: torch.Tensor, has_background: bool) -> torch.Tensor:
    fg = probs[:, 1:] if has_background else probs
    if fg.shape[0] == 0 or fg.shape[1] == 0:
        return probs.new_zeros(probs.shape[0])
    return fg.max(dim=1).values.to(torch.float32)


def view_consistency(
    ref: ViewPrediction, aug: ViewPrediction, has_background: bool, base_point: float
) -> float:
    """M_A = min_k |m_k - beta| with m_k = IoU_k + (P_k + P'_k)/2 * (1 - JS_k) (natural-log
    JS, m in [0, 2]); 0 if either view has no detections."""
    if len(ref) == 0 or len(aug) == 0:
        return 0.0
    iou, idx = match_boxes(ref.boxes, aug.boxes)
    js = js_divergence(
        to_distribution(ref.probs, has_background), to_distribution(aug.probs, has_background)[idx]
    )
    conf = 0.5 * (_max_fg(ref.probs, has_background) + _max_fg(aug.probs, has_background)[idx])
    m = iou + conf * (1.0 - js)
    return float((m - base_point).abs().min())


class CaldStrategy(Strategy):
    """CALD with a configurable augmentation set (``"F"`` flip-only ... ``"FCDR"``)."""

    name = "cald"
    description = "CALD: augmentation consistency, then class-distribution JS"
    param_spec: ClassVar = {
        "augmentations": Param(
            "FCDR",
            str,
            "letters: F flip, C cutout, D downscale, R rotate, G noise, S salt-pepper, "
            "A colour adjust, W colour swap",
            check=_check_augs,
        ),
        "base_point": Param(1.3, float, "beta, inside [0, 2]", low=0.0, high=2.0),
        "candidate_ratio": Param(1.2, float, "mr: stage-1 keeps mr x budget", low=1.0, high=1e6),
        "score_threshold": Param(0.05, float, "keep detections with score >= this", low=0, high=1),
        "stage2": Param(
            "js", str, "js (CALD), uniform (--uniform) or none", choices=("js", "uniform", "none")
        ),
    }

    def _post_init(self) -> None:
        self.aug_views = [AUGMENTATION_LETTERS[c] for c in self.params["augmentations"]]

    @property
    def requirements(self) -> Requirements:
        return Requirements(views=frozenset([ORIGINAL, *self.aug_views]), probs=True)

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        thr = self.params["score_threshold"]
        ref = filter_view(pred.original, thr)
        views = [ref]
        per_aug: dict[str, float] = {}
        for name in self.aug_views:
            if name not in pred.views:
                raise ValueError(f"cald needs the {name!r} view for image {pred.image_id!r}")
            aug = filter_view(pred.views[name], thr)
            views.append(aug)
            per_aug[name] = (
                view_consistency(ref, aug, pred.has_background, self.params["base_point"])
                if len(ref)
                else 0.0
            )
        m = sum(per_aug.values()) / len(per_aug)
        c = context.num_classes
        q = torch.stack([class_histogram(v.labels, v.scores, c, "max") for v in views]).mean(0)
        comps = {"consistency": m, **{f"consistency_{k}": v for k, v in per_aug.items()}}
        return ImageRecord(
            image_id=pred.image_id, score=-m, components=comps, data={"class_vector": q.tolist()}
        )

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
