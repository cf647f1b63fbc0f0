"""``mix``: weighted mix of several strategies' normalised scores."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from acquisition.base import Chosen, Strategy, rank_indices
from acquisition.normalize import minmax_normalize, rank_normalize
from acquisition.param_specs import MixParams
from acquisition.records import ImageRecord, ScoringContext
from acquisition.types import ImagePrediction, Requirements


class MixStrategy(Strategy):
    """Each part ranks the whole pool (its ``select`` with budget = pool size); its scores
    are normalised to [0, 1] (``minmax`` or ``rank``; images it leaves out get 0) and
    combined as sum_i w_i d_i / sum_i w_i. Ties: the cycle's seeded random order."""

    name = "mix"
    description = "weighted mix of normalised strategy scores"
    params_model = MixParams
    score_label = "every weighted part's score"

    def _post_init(self) -> None:
        from acquisition.registry import get_strategy

        self.parts: list[tuple[str, float, Strategy]] = []
        names = [p["strategy"] for p in self.params["parts"]]
        for i, part in enumerate(self.params["parts"]):
            label = part["strategy"] if names.count(part["strategy"]) == 1 else f"{names[i]}#{i}"
            strat = get_strategy(part["strategy"], **part.get("params", {}))
            self.parts.append((label, float(part.get("weight", 1.0)), strat))

    @property
    def requirements(self) -> Requirements:
        reqs = [s.requirements for _, _, s in self.parts]
        return Requirements(
            views=frozenset().union(*(r.views for r in reqs)),
            probs=any(r.probs for r in reqs),
            log_vars=any(r.log_vars for r in reqs),
            embedding=any(r.embedding for r in reqs),
            box_features=any(r.box_features for r in reqs),
            needs_model=any(r.needs_model for r in reqs),
        )

    def scores_are_flat(self, records: Sequence[ImageRecord]) -> bool:
        """Flat when every part with a positive weight has flat scores."""
        parts = [(j, s) for j, (_, w, s) in enumerate(self.parts) if w > 0]
        return len(records) > 1 and all(
            s.scores_are_flat([ImageRecord.from_dict(r.data["parts"][j]) for r in records])
            for j, s in parts
        )

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        subs = [s.score_image(pred, context) for _, _, s in self.parts]
        comps = {
            f"{label}.{k}": v
            for (label, _, _), r in zip(self.parts, subs, strict=True)
            for k, v in r.components.items()
        }
        data = {"parts": [r.to_dict() for r in subs]}
        return ImageRecord(pred.image_id, 0.0, comps, data)

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        n = len(records)
        pos = {r.image_id: i for i, r in enumerate(records)}
        total = torch.zeros(n, dtype=torch.float64)
        norm_parts: dict[str, torch.Tensor] = {}
        wsum = sum(w for _, w, _ in self.parts)
        for j, (label, w, strat) in enumerate(self.parts):
            sub = [ImageRecord.from_dict(r.data["parts"][j]) for r in records]
            ranked = strat.select(sub, n, context, gen)
            s = torch.tensor([x.score for x in ranked], dtype=torch.float64)
            norm = minmax_normalize if self.params["normalize"] == "minmax" else rank_normalize
            d = norm(s)
            full = torch.zeros(n, dtype=torch.float64)
            full[torch.tensor([pos[x.image_id] for x in ranked], dtype=torch.long)] = d
            norm_parts[label] = full
            total += w * full / wsum
        order = rank_indices(total)[:budget].tolist()
        out: Chosen = []
        for i in order:
            comps = dict(records[i].components)
            comps.update({f"{label}.norm": float(v[i]) for label, v in norm_parts.items()})
            out.append((records[i], float(total[i]), comps))
        return out
