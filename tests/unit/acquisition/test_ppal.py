import math

import pytest
import torch

from acquisition.records import ImageRecord, ScoringContext, pack_tensor
from acquisition.registry import get_strategy
from acquisition.strategies.ppal import ccms_distance, difficulty_weights
from acquisition.types import ORIGINAL
from tests.unit.acquisition.helpers import context, image, view


def test_difficulty_weights_endpoints() -> None:
    w = difficulty_weights(torch.tensor([1.0, 0.0, 0.5]))
    assert w[0].item() == pytest.approx(1.0)
    assert w[1].item() == pytest.approx(1.2)
    assert 1.0 < w[2].item() < 1.2


def test_dcus_is_weighted_sum_of_binary_entropies() -> None:
    v = view([[0, 0, 10, 10], [20, 20, 30, 30]], labels=[0, 2], scores=[0.5, 0.9])
    feats = torch.eye(2, 4)
    pred = image(7, {ORIGINAL: v}, extra={"box_features": feats})
    ppal = get_strategy("ppal")
    ctx = context(class_quality=[1.0, 0.5, 0.0])
    r = ppal.score_image(pred, ctx)
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert r.score == pytest.approx(1.0 * h(0.5) + 1.2 * h(0.9), rel=1e-5)
    r_plain = ppal.score_image(pred, ScoringContext(num_classes=3))
    assert r_plain.score == pytest.approx(h(0.5) + h(0.9), rel=1e-5)


def test_missing_box_features_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="box_features"):
        get_strategy("ppal").score_image(image(1, {ORIGINAL: view([[0, 0, 1, 1]])}), context())


def test_ccms_distance_known_values() -> None:
    e0, e1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    feats = [e0, e0.clone(), e1, e0, torch.zeros(0, 2)]
    labels = [
        torch.tensor([0]),
        torch.tensor([0]),
        torch.tensor([0]),
        torch.tensor([1]),
        torch.zeros(0, dtype=torch.long),
    ]
    scores = [torch.tensor([1.0])] * 4 + [torch.zeros(0)]
    d = ccms_distance(feats, labels, scores, block=1)
    assert d[0, 1].item() == pytest.approx(0.0, abs=1e-6)  # same class, same feature
    assert d[0, 2].item() == pytest.approx(1.0, abs=1e-6)  # orthogonal features
    assert d[0, 3].item() == pytest.approx(2.0)  # no box of the same class
    assert d[0, 4].item() == pytest.approx(1.0)  # empty image: (0 + 2) / 2
    assert torch.equal(d, d.T) and torch.all(d.diagonal() == 0)


def test_selection_picks_medoids_of_feature_clusters() -> None:
    gen = torch.Generator().manual_seed(0)
    recs = []
    for i in range(12):
        f = torch.zeros(1, 3)
        f[0, i % 3] = 1.0
        f += torch.randn(1, 3, generator=gen) * 0.01
        recs.append(
            ImageRecord(
                i,
                1.0 + 0.01 * i,
                {"uncertainty": 1.0},
                {"labels": [0], "scores": [0.9], "features": pack_tensor(f)},
            )
        )
    sel = get_strategy("ppal", pool_factor=4.0).select(recs, 3, context(), rng=1)
    assert sorted(s.image_id % 3 for s in sel) == [0, 1, 2]
    assert [s.score for s in sel] == sorted([s.score for s in sel], reverse=True)
