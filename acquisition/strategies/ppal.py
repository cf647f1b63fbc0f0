"""``ppal``: Plug-and-Play AL (ALGORITHMS §3.3; [C-code] semantics).

Phase 1: difficulty-calibrated uncertainty (DCUS) and compact per-box features. Phase 2:
top ``pool_factor x budget`` by DCUS, then category-conditioned matching similarity (CCMS)
distances, k-centre greedy initialisation and k-medoids; the medoids are the queries.
"""

from __future__ import annotations

import math

import torch

from acquisition.base import Chosen, Strategy, rank_indices
from acquisition.ops import binary_entropy
from acquisition.param_specs import PpalParams
from acquisition.records import ImageRecord, ScoringContext, pack_tensor, unpack_tensor
from acquisition.selection import k_medoids, kcenter_from_matrix
from acquisition.types import ImagePrediction, Requirements


def difficulty_weights(quality: torch.Tensor, alpha: float = 0.3, u_b: float = 0.2) -> torch.Tensor:
    """w_c = 1 + alpha u_b ln(b (1 - q_c) + 1), b = e^(1/alpha) - 1: 1 at q=1, 1+u_b at q=0."""
    b = math.exp(1.0 / alpha) - 1.0
    q = quality.to(torch.float32).clamp(0.0, 1.0)
    return 1.0 + alpha * u_b * torch.log(b * (1.0 - q) + 1.0)


def ccms_distance(
    feats: list[torch.Tensor],
    labels: list[torch.Tensor],
    scores: list[torch.Tensor],
    block: int = 2048,
) -> torch.Tensor:
    """Symmetric CCMS distance matrix (P, P) between P images' detections.

    Image i has features (n_i, D), labels (n_i,), scores (n_i,). D(A->B) = sum_i s_i
    min_{j in B, same label} (1 - cos(f_i, f_j)) / sum_i s_i, with 2 where B has no box of
    that label; D = (D(A->B) + D(B->A)) / 2; an image without boxes has D(A->B) = 0. Computed
    per class, in row blocks; cost O(sum_c T_c^2 D) for T_c boxes of class c.
    """
    p = len(feats)
    num = torch.zeros(p, p, dtype=torch.float64)
    den = torch.zeros(p, dtype=torch.float64)
    if p == 0:
        return num
    img = torch.cat([torch.full((f.shape[0],), i, dtype=torch.long) for i, f in enumerate(feats)])
    if img.numel():
        f_all = torch.nn.functional.normalize(torch.cat(feats).to(torch.float32), dim=1)
        l_all = torch.cat(labels).long()
        s_all = torch.cat(scores).to(torch.float64)
        den.index_add_(0, img, s_all)
        for c in torch.unique(l_all).tolist():
            sel = torch.nonzero(l_all == c).flatten()
            fc, ic, sc = f_all[sel], img[sel], s_all[sel]
            for s in range(0, sel.numel(), block):
                d = (1.0 - fc[s : s + block] @ fc.T).clamp(0.0, 2.0).to(torch.float64)
                mins = torch.full((d.shape[0], p), 2.0, dtype=torch.float64)
                mins = mins.scatter_reduce(1, ic.expand(d.shape[0], -1), d, reduce="amin")
                num.index_add_(0, ic[s : s + block], sc[s : s + block, None] * mins)
    directed = torch.where(den[:, None] > 0, num / den.clamp_min(1e-12)[:, None], 0.0)
    dist = 0.5 * (directed + directed.T)
    dist.fill_diagonal_(0.0)
    return dist


class PpalStrategy(Strategy):
    """DCUS candidate pool, then CCMS k-centre + k-medoids diversity."""

    name = "ppal"
    description = "PPAL: difficulty-calibrated uncertainty, then CCMS k-medoids"
    score_label = "difficulty-calibrated uncertainty"
    params_model = PpalParams

    @property
    def requirements(self) -> Requirements:
        return Requirements(probs=False, box_features=True)

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        view = pred.original
        feats = pred.extra.get("box_features")
        if feats is None or feats.shape[0] != len(view):
            raise ValueError(
                f"ppal needs extra['box_features'] with one row per detection "
                f"(image {pred.image_id!r})"
            )
        keep = view.scores >= self.params["score_threshold"]
        labels, scores, feats = view.labels[keep], view.scores[keep].float(), feats[keep]
        q = context.class_quality_tensor()
        if q is None:
            w = torch.ones(labels.shape[0])
        else:
            w = difficulty_weights(q, self.params["alpha"], self.params["u_b"])[labels]
        unc = float((w * binary_entropy(scores)).sum())
        top = torch.argsort(scores, descending=True, stable=True)[: self.params["max_boxes"]]
        data = {
            "labels": labels[top].tolist(),
            "scores": scores[top].tolist(),
            "features": pack_tensor(feats[top]),
        }
        comps = {"uncertainty": unc, "detections": float(labels.numel())}
        return ImageRecord(image_id=pred.image_id, score=unc, components=comps, data=data)

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        unc = torch.tensor([r.score for r in records], dtype=torch.float64)
        order = rank_indices(unc).tolist()
        n_cand = min(len(records), max(budget, math.ceil(self.params["pool_factor"] * budget)))
        cand = sorted(order[:n_cand])
        if n_cand > budget:
            recs = [records[i] for i in cand]
            dist = ccms_distance(
                [unpack_tensor(r.data["features"]) for r in recs],
                [torch.tensor(r.data["labels"], dtype=torch.long) for r in recs],
                [torch.tensor(r.data["scores"], dtype=torch.float64) for r in recs],
            )
            first = int(torch.randint(len(recs), (1,), generator=gen))
            init = kcenter_from_matrix(dist, budget, first)
            med = k_medoids(dist, init, self.params["kmedoids_iterations"])
            cand = [cand[i] for i in med]
        position = {i: k for k, i in enumerate(order)}
        chosen = sorted(cand, key=position.__getitem__)[:budget]
        return [(records[i], records[i].score, dict(records[i].components)) for i in chosen]
