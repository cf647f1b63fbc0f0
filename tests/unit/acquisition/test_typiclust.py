"""``typiclust`` and its k-means / typicality helpers on toy clusters with known answers."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from acquisition.clustering import assign, kmeans, typicality
from acquisition.records import ScoringContext
from acquisition.registry import get_strategy
from acquisition.types import ImagePrediction

CENTRES = {"A": (0.0, 0.0), "B": (10.0, 0.0), "C": (0.0, 10.0)}
SIZES = {"A": 30, "B": 20, "C": 10}


def blob(name: str) -> torch.Tensor:
    """A centre point followed by points on a unit circle around it: the centre is the
    unique most typical point (mean distance 1 to its neighbours, the others more)."""
    n = SIZES[name]
    cx, cy = CENTRES[name]
    ang = torch.arange(n - 1, dtype=torch.float64) * (2 * math.pi / (n - 1))
    ring = torch.stack([cx + torch.cos(ang), cy + torch.sin(ang)], dim=1)
    return torch.cat([torch.tensor([[cx, cy]], dtype=torch.float64), ring])


def toy_pool() -> tuple[list[ImagePrediction], dict[str, str]]:
    """Images named ``<blob><index>`` (index 0 = the blob's centre)."""
    preds, blob_of = [], {}
    for name in CENTRES:
        for i, row in enumerate(blob(name)):
            image_id = f"{name}{i:02d}"
            preds.append(ImagePrediction(image_id, 10, 10, {}, embedding=row.float()))
            blob_of[image_id] = name
    return preds, blob_of


def pick(budget: int, labeled: torch.Tensor | None = None, seed: int = 0, **params) -> list:
    strat = get_strategy("typiclust", normalize=False, **params)
    ctx = ScoringContext(num_classes=1, labeled_embeddings=labeled)
    preds, _ = toy_pool()
    return strat.select(strat.score_images(preds, ctx), budget, ctx, seed)


def test_picks_the_centre_of_each_cluster_largest_first() -> None:
    for seed in range(3):
        assert [s.image_id for s in pick(3, seed=seed)] == ["A00", "B00", "C00"]


def test_clusters_holding_a_labeled_image_come_last() -> None:
    labeled = torch.tensor([[0.2, 0.1]])  # inside blob A, the largest
    sel = pick(2, labeled)
    assert [s.image_id for s in sel] == ["B00", "C00"]
    assert [s.components["cluster_labeled"] for s in sel] == [0.0, 0.0]
    assert sel[0].components["cluster_size"] == 20.0
    assert sel[0].score > sel[1].score


def test_budget_beyond_the_clusters_goes_round_robin_by_coverage() -> None:
    _, blob_of = toy_pool()
    labeled = torch.tensor([[0.2, 0.1]])
    sel = pick(6, labeled, max_clusters=3)
    assert [blob_of[s.image_id] for s in sel] == ["B", "C", "A", "B", "C", "A"]
    assert [s.image_id for s in sel[:2]] == ["B00", "C00"]
    assert sel[2].image_id == "A00"  # the labeled point is not A's centre
    assert all(a.score >= b.score for a, b in itertools.pairwise(sel))


def test_budget_larger_than_the_pool_returns_it_all_once() -> None:
    sel = pick(100, torch.tensor([[0.2, 0.1]]))
    assert len(sel) == 60 and len({s.image_id for s in sel}) == 60


def test_seeded_reproducible_and_seed_dependent() -> None:
    g = torch.Generator().manual_seed(1)
    preds = [ImagePrediction(i, 1, 1, {}, embedding=torch.randn(8, generator=g)) for i in range(80)]
    strat = get_strategy("typiclust")
    ctx = ScoringContext(num_classes=1, labeled_embeddings=torch.randn(10, 8, generator=g))
    recs = strat.score_images(preds, ctx)
    runs = {seed: [s.image_id for s in strat.select(recs, 10, ctx, seed)] for seed in range(4)}
    assert runs[0] == [s.image_id for s in strat.select(list(reversed(recs)), 10, ctx, 0)]
    assert len({tuple(v) for v in runs.values()}) > 1


def test_empty_inputs_and_bad_embeddings() -> None:
    strat = get_strategy("typiclust")
    ctx = ScoringContext(num_classes=1, labeled_embeddings=torch.zeros((0, 0)))
    assert strat.select([], 5, ctx, 0) == []
    one = strat.score_images([ImagePrediction(1, 1, 1, {}, embedding=torch.ones(4))], ctx)
    assert [s.image_id for s in strat.select(one, 5, ctx, 0)] == [1]
    with pytest.raises(ValueError, match="needs an image embedding"):
        strat.score_image(ImagePrediction(1, 1, 1, {}), ctx)
    with pytest.raises(ValueError, match="not finite"):
        strat.score_image(ImagePrediction(1, 1, 1, {}, embedding=torch.tensor([math.nan])), ctx)
    wrong = ScoringContext(num_classes=1, labeled_embeddings=torch.ones(2, 3))
    with pytest.raises(ValueError, match="labelled embeddings have shape"):
        strat.select(one, 1, wrong, 0)


def test_kmeans_full_and_mini_batch_recover_separated_blobs() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    truth = torch.arange(4).repeat_interleave(250)
    x = centres[truth] + torch.randn(1000, 2, generator=g)
    for full_max in (10_000, 100):  # Lloyd, then the mini-batch path
        labels, found = kmeans(x, 4, torch.Generator().manual_seed(3), full_max=full_max)
        # each true blob maps onto exactly one cluster and vice versa
        pairs = {(int(t), int(c)) for t, c in zip(truth, labels, strict=True)}
        assert len(pairs) == 4 and len({c for _, c in pairs}) == 4
        assert torch.equal(assign(x, found), labels)
    with pytest.raises(ValueError):
        kmeans(torch.zeros((0, 2)), 3, g)
    assert kmeans(torch.ones(2, 2), 5, g)[1].shape[0] == 2  # k capped at the points


def test_typicality_exact_and_approximate_prefer_the_dense_core() -> None:
    g = torch.Generator().manual_seed(2)
    core = 0.1 * torch.rand(50, 2, generator=g)
    ang = 2 * math.pi * torch.rand(250, generator=g)
    rad = 3 + 2 * torch.rand(250, generator=g)
    shell = torch.stack([rad * torch.cos(ang), rad * torch.sin(ang)], dim=1)
    x = torch.cat([core, shell])
    for exact_max in (4096, 64):  # exact, then neighbours searched in a 64-point sample
        typ = typicality(x, 20, torch.Generator().manual_seed(0), exact_max=exact_max)
        assert typ[:50].min() > typ[50:].max() and bool(torch.isfinite(typ).all())
    assert typicality(torch.ones(1, 3), 20, torch.Generator()).tolist() == [0.0]
    assert typicality(torch.zeros((0, 3)), 20, torch.Generator()).shape == (0,)
    dup = typicality(torch.ones(3, 2), 20, torch.Generator())
    assert bool(torch.isfinite(dup).all()) and dup[0] == dup[1]


def probcover_pick(budget: int, labeled: torch.Tensor | None = None, **params) -> list:
    strat = get_strategy("probcover", normalize=False, **params)
    ctx = ScoringContext(num_classes=3, labeled_embeddings=labeled)
    preds, _ = toy_pool()
    return strat.select(strat.score_images(preds, ctx), budget, ctx, 0)


def test_probcover_covers_the_biggest_uncovered_ball_first() -> None:
    sel = probcover_pick(4, delta=1.5)
    assert [s.image_id for s in sel[:3]] == ["A00", "B00", "C00"]
    assert [s.score for s in sel] == [30.0, 20.0, 10.0, 0.0]  # then everything is covered
    covered = probcover_pick(2, torch.tensor([[0.0, 0.0]]), delta=1.5)
    assert [s.image_id for s in covered] == ["B00", "C00"]  # A is covered by the label


def test_probcover_chooses_delta_below_the_gap_between_clusters() -> None:
    sel = probcover_pick(3)
    delta = sel[0].components["delta"]
    assert 0.0 < delta < 8.0  # balls stay inside one blob (blobs are ~10 apart)
    assert {s.image_id[0] for s in sel} == {"A", "B", "C"}
