"""The ``Strategy`` base class: phase 1 per image, phase 2 global selection."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from acquisition.padding import map_in_size_batches
from acquisition.param_specs import NoParams
from acquisition.params import StrategyParams, validate_params
from acquisition.records import ImageId, ImageRecord, ScoringContext, Selected, id_sort_key
from acquisition.types import ImagePrediction, Requirements

Rng = int | torch.Generator | None
Chosen = list[tuple[ImageRecord, float, dict[str, float]]]
TIE_TOLERANCE = 1e-6
"""Scores that differ by at most this much carry no ranking information (see
:meth:`Strategy.tie_note`)."""


def make_generator(rng: Rng) -> torch.Generator:
    """A CPU generator from a seed (None means seed 0) or the given generator itself."""
    if isinstance(rng, torch.Generator):
        return rng
    if rng is not None and (not isinstance(rng, int) or isinstance(rng, bool)):
        raise ValueError(f"seed must be an int or a torch.Generator, got {type(rng).__name__}")
    g = torch.Generator()
    g.manual_seed(0 if rng is None else int(rng))
    return g


def rank_indices(*keys: torch.Tensor) -> torch.Tensor:
    """Indices sorting by ``keys[0]`` descending, ties by ``keys[1]`` descending, ...,
    then by position. Inside :meth:`Strategy._select` the records are in the cycle's seeded
    random order, so the last tie-break is that random order, never the image id."""
    n = keys[0].shape[0]
    order = torch.arange(n)
    for key in reversed(keys):
        sub = key[order]
        perm = torch.sort(sub, descending=True, stable=True).indices
        order = order[perm]
    return order


class Strategy(ABC):
    """An acquisition strategy, configured by validated parameters.

    Subclasses set ``name`` and ``params_model`` (their parameters, declared in
    :mod:`acquisition.param_specs`) and implement :meth:`score_image` (phase 1,
    pure, per image) and :meth:`_select` (phase 2, global over all records).
    """

    name: ClassVar[str]
    params_model: ClassVar[type[StrategyParams]] = NoParams
    description: ClassVar[str] = ""
    uses_pool_stats: ClassVar[bool] = False
    """True when phase 2 reads ``context.labeled_images_per_class`` / ``validation_map``
    (``auto``), so callers compute them only then."""
    score_label: ClassVar[str | None] = "score"
    """What ``ImageRecord.score`` measures when the global step ranks the pool by it (named
    in :meth:`tie_note`); None when it does not (``random``, ``coreset``, ``mix``)."""

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = validate_params(self.name, self.params_model, params)
        self._post_init()

    def _post_init(self) -> None:  # noqa: B027  (optional hook)
        """Hook for cross-parameter checks (raise ``ValueError``)."""

    @classmethod
    def default_params_of(cls) -> dict[str, Any]:
        return cls.params_model().model_dump()

    @property
    def default_params(self) -> dict[str, Any]:
        return self.default_params_of()

    @property
    def requirements(self) -> Requirements:
        """What inference must produce for this strategy (may depend on the parameters)."""
        return Requirements()

    def decision(self, context: ScoringContext) -> dict[str, str] | None:
        """For strategies that delegate (``auto``): ``{"strategy": used, "reason": why}``
        for this context, recorded on the cycle; None for the others."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    # ---------------------------------------------------------------- phase 1
    @abstractmethod
    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        """Score one image (pure, shard-local). Must never return NaN/inf."""

    def score_images(
        self, preds: Sequence[ImagePrediction], context: ScoringContext
    ) -> list[ImageRecord]:
        return [self.score_image(p, context) for p in preds]

    # ---------------------------------------------------------------- phase 2
    def select(
        self,
        records: Sequence[ImageRecord],
        budget: int,
        context: ScoringContext,
        rng: Rng = None,
    ) -> list[Selected]:
        """Choose up to ``budget`` images, best first (rank 0 = label first).

        The result depends only on the set of records (not their order or sharding) and on
        the seed/generator (None = seed 0). ``budget`` larger than the pool returns the whole
        pool ranked; an empty pool or budget 0 returns ``[]``. Duplicate ids -> ValueError.

        Ties are broken by the seeded random order, never by image id: the id-sorted records
        are permuted with the generator's first draw before :meth:`_select` sees them, so
        equal scores give an order that is reproducible for a seed, differs between seeds
        and does not depend on how the records were sharded.
        """
        recs, gen = self._seeded_order(records, budget, rng)
        if not recs:
            return []
        chosen = self._select(recs, min(budget, len(recs)), context, gen)
        return [
            Selected(image_id=r.image_id, rank=i, score=float(s), components=c)
            for i, (r, s, c) in enumerate(chosen)
        ]

    def _seeded_order(
        self, records: Sequence[ImageRecord], budget: int, rng: Rng
    ) -> tuple[list[ImageRecord], torch.Generator]:
        """Checks ``budget`` and the ids; the records in the seeded random order (the
        generator's first draw permutes the id order), empty for an empty pool or budget 0."""
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise ValueError(f"budget must be a non-negative int, got {budget!r}")
        recs = sorted(records, key=lambda r: id_sort_key(r.image_id))
        for a, b in itertools.pairwise(recs):
            if a.image_id == b.image_id:
                raise ValueError(f"duplicate image id {a.image_id!r} in records")
        gen = make_generator(rng)
        if not recs or budget == 0:
            return [], gen
        return [recs[i] for i in torch.randperm(len(recs), generator=gen).tolist()], gen

    # ---------------------------------------------------------------- two passes
    @property
    def pass_requirements(self) -> tuple[Requirements, ...]:
        """What inference must produce in each scoring pass.

        One entry (the default): a single pass scores every image with
        :meth:`score_images`, then :meth:`select`. Two entries ("retrieval before
        ranking"): pass 1 scores the whole pool with ``score_pass(0, ...)``;
        :meth:`retrieve_ids` picks the candidates from those records; pass 2 scores only the
        candidates with ``score_pass(1, ...)``; :meth:`merge_passes` joins both and
        :meth:`select` over the merged records equals :meth:`select` over single-pass
        records (same selection, same components) for the same seed.
        """
        return (self.requirements,)

    @property
    def passes(self) -> int:
        return len(self.pass_requirements)

    def score_pass(
        self, index: int, preds: Sequence[ImagePrediction], context: ScoringContext
    ) -> list[ImageRecord]:
        """Records of scoring pass ``index`` (0-based); pass 0 of a single-pass strategy is
        :meth:`score_images`."""
        if index == 0 and self.passes == 1:
            return self.score_images(preds, context)
        raise ValueError(f"strategy {self.name!r} has no scoring pass {index}")

    def retrieve_ids(
        self,
        records: Sequence[ImageRecord],
        budget: int,
        context: ScoringContext,
        rng: Rng = None,
    ) -> list[ImageId]:
        """Two-pass strategies: the ids pass 2 must score, from the pass-1 ``records``, in
        the same seeded order :meth:`select` uses (so the final selection retrieves exactly
        these when the set of records is unchanged). Empty pool or budget 0 -> ``[]``."""
        recs, _ = self._seeded_order(records, budget, rng)
        if not recs:
            return []
        return [recs[i].image_id for i in self._retrieve(recs, min(budget, len(recs)))]

    def _retrieve(self, records: list[ImageRecord], budget: int) -> list[int]:
        """Indices of the candidates among ``records`` (seeded order); two-pass only."""
        raise ValueError(f"strategy {self.name!r} scores in one pass")

    def merge_passes(
        self, first: Sequence[ImageRecord], second: Sequence[ImageRecord]
    ) -> list[ImageRecord]:
        """One record per pass-1 record: joined with its pass-2 record when there is one,
        else the pass-1 record itself (not a candidate). Pass-2 records without a pass-1
        record are dropped."""
        by_id = {r.image_id: r for r in second}
        return [
            self._merge_record(r, by_id[r.image_id]) if r.image_id in by_id else r for r in first
        ]

    def _merge_record(self, first: ImageRecord, second: ImageRecord) -> ImageRecord:
        raise ValueError(f"strategy {self.name!r} scores in one pass")

    def scores_are_flat(self, records: Sequence[ImageRecord]) -> bool:
        """True when the per-image scores this strategy ranks the pool by (``record.score``
        unless :attr:`score_label` is None) are all equal within :data:`TIE_TOLERANCE`, so
        only the seeded random tie-break decides which images are chosen."""
        if self.score_label is None or len(records) < 2:
            return False
        scores = [r.score for r in records]
        return max(scores) - min(scores) <= TIE_TOLERANCE

    def tie_note(self, records: Sequence[ImageRecord], budget: int) -> str | None:
        """A sentence for the cycle's issues when the selection is effectively random (the
        scores carry no information and the budget leaves some images out); else None."""
        if budget >= len(records) or not self.scores_are_flat(records):
            return None
        return (
            f"selection is effectively random: all {len(records)} scores ({self.score_label}) "
            f"are equal within {TIE_TOLERANCE:g}; the cycle's seeded random order chose the "
            f"{budget} images"
        )

    @abstractmethod
    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        """Records are non-empty and in the seeded random order (a permutation of the id
        order drawn from ``gen``), so a tie broken by position is a seeded random tie-break;
        1 <= budget <= len(records).

        Return ``(record, score, components)`` best first, scores non-increasing, exactly
        ``budget`` entries.
        """


def top_by_score(records: list[ImageRecord], budget: int, *tiebreak: torch.Tensor) -> Chosen:
    """Plain top-``budget`` by ``record.score`` (ties: ``tiebreak`` keys, then position)."""
    scores = torch.tensor([r.score for r in records], dtype=torch.float64)
    order = rank_indices(scores, *tiebreak)[:budget]
    return [(records[i], records[i].score, dict(records[i].components)) for i in order.tolist()]


class BatchedStrategy(Strategy):
    """A strategy whose phase 1 runs on padded batches of images of one probability layout.

    Subclasses implement ``_score_group(preds, has_background, context)``; scoring one image
    and scoring many give identical records.
    """

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        return self.score_images([pred], context)[0]

    def score_images(
        self, preds: Sequence[ImagePrediction], context: ScoringContext
    ) -> list[ImageRecord]:
        return map_in_size_batches(preds, lambda batch, bg: self._score_group(batch, bg, context))

    @abstractmethod
    def _score_group(
        self, preds: list[ImagePrediction], bg: bool, context: ScoringContext
    ) -> list[ImageRecord]:
        """Records for ``preds`` (all with ``has_background == bg``), in order."""


class TopScoreStrategy(Strategy):
    """A strategy whose global step is plain top-``budget`` by the per-image score."""

    def _select(
        self,
        records: list[ImageRecord],
        budget: int,
        context: ScoringContext,
        gen: torch.Generator,
    ) -> Chosen:
        return top_by_score(records, budget)
