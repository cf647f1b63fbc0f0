import math

import pytest
import torch

from acquisition.hua_metrics import (
    category_diversity,
    flip_iou_uncertainty,
    overlap_ratio,
    semantic_affinity,
    sigma_uncertainty,
)
from tests.unit.acquisition.helpers import empty_view, view

FIVE_BOXES = [
    [0, 0, 10, 10],
    [2, 0, 12, 10],  # overlaps box 0 (IoU 0.67)
    [40, 40, 50, 50],
    [42, 42, 52, 52],  # overlaps box 2
    [80, 0, 90, 10],  # alone
]


def test_overlap_ratio_four_of_five() -> None:
    assert overlap_ratio(torch.tensor(FIVE_BOXES, dtype=torch.float32)) == pytest.approx(0.8)


def test_overlap_ratio_two_of_six_and_small_sets() -> None:
    boxes = torch.tensor(
        [
            [0, 0, 10, 10],
            [1, 1, 11, 11],
            [30, 0, 40, 10],
            [50, 0, 60, 10],
            [70, 0, 80, 10],
            [0, 50, 10, 60],
        ],
        dtype=torch.float32,
    )
    assert overlap_ratio(boxes) == pytest.approx(1 / 3)
    assert overlap_ratio(boxes[:1]) == 0.0
    assert overlap_ratio(torch.zeros(0, 4)) == 0.0


def test_overlap_ratio_threshold_is_inclusive() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [5, 0, 15, 10]], dtype=torch.float32)  # IoU 1/3
    assert overlap_ratio(boxes, 1 / 3 - 1e-6) == 1.0
    assert overlap_ratio(boxes, 0.34) == 0.0


def test_semantic_affinity_identical_views_is_zero() -> None:
    v = view(FIVE_BOXES, labels=[0, 1, 2, 0, 1])
    assert semantic_affinity(v, v) == pytest.approx(0.0, abs=1e-6)
    assert semantic_affinity(v, v, variant="iou") == pytest.approx(0.0, abs=1e-6)


def test_semantic_affinity_one_view_empty_is_one_both_empty_zero() -> None:
    v = view([[0, 0, 10, 10]])
    assert semantic_affinity(v, empty_view()) == 1.0
    assert semantic_affinity(empty_view(), v) == 1.0
    assert semantic_affinity(empty_view(), empty_view()) == 0.0


def test_semantic_affinity_unmatched_box_counts_one() -> None:
    o = view([[0, 0, 10, 10], [50, 50, 60, 60]])
    f = view([[0, 0, 10, 10]])
    assert semantic_affinity(o, f) == pytest.approx(0.5, abs=1e-6)


def test_semantic_affinity_disjoint_classes_is_js_over_ln2() -> None:
    o = view([[0, 0, 10, 10]], probs=[[0, 1, 0, 0]])
    f = view([[0, 0, 10, 10]], probs=[[0, 0, 1, 0]])
    assert semantic_affinity(o, f) == pytest.approx(1.0, rel=1e-5)
    half = view([[0, 0, 10, 10]], probs=[[0, 0.5, 0.5, 0]])
    # JS(p||q) = (KL(p||m) + KL(q||m)) / 2, m = [0, .75, .25, 0]
    kl_p = math.log(1 / 0.75)
    kl_q = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    expected = 0.5 * (kl_p + kl_q) / math.log(2)
    assert semantic_affinity(o, half) == pytest.approx(expected, rel=1e-5)


def test_category_diversity_views_and_pool() -> None:
    v = view([[0, 0, 10, 10], [20, 20, 30, 30]], labels=[0, 1])
    assert category_diversity(v, v, 3) == pytest.approx(0.0, abs=1e-6)
    assert category_diversity(v, empty_view(), 3) == 1.0
    assert category_diversity(empty_view(), empty_view(), 3) == 0.0
    other = view([[0, 0, 10, 10]], labels=[2])
    assert category_diversity(v, other, 3) == pytest.approx(1.0, rel=1e-5)
    same = torch.tensor([1.0, 1.0, 0.0])
    assert category_diversity(v, None, 3, "pool", pool_dist=same) == pytest.approx(0.0, abs=1e-6)
    assert category_diversity(v, None, 3, "pool", pool_dist=torch.tensor([0, 0, 5.0])) > 0.99
    assert category_diversity(empty_view(), None, 3, "pool") == 0.0


def test_sigma_uncertainty_known_value() -> None:
    v = view([[0, 0, 10, 10]], log_vars=[[0.0, 0.0, 0.0, 0.0]])
    assert sigma_uncertainty([v]) == pytest.approx(1 - math.exp(-1), rel=1e-6)
    sharp = view([[0, 0, 10, 10]], log_vars=[[-10.0] * 4])
    assert sigma_uncertainty([sharp]) < sigma_uncertainty([v])
    assert sigma_uncertainty([empty_view(log_vars=True)]) == 1.0
    with pytest.raises(ValueError, match="log_vars"):
        sigma_uncertainty([view([[0, 0, 1, 1]])])


def test_flip_iou_uncertainty() -> None:
    o = view([[0, 0, 10, 10]])
    assert flip_iou_uncertainty(o, view([[0, 0, 10, 5]])) == pytest.approx(0.5)
    assert flip_iou_uncertainty(o, view([[50, 50, 60, 60]])) == 1.0
    assert flip_iou_uncertainty(empty_view(), empty_view()) == 1.0
    assert flip_iou_uncertainty(o, empty_view()) == 1.0


def test_score_weighted_means_let_confident_boxes_dominate() -> None:
    # box A: views agree (JS 0); box B: classes disjoint (JS 1, flip IoU 0.5)
    o = view(
        [[0, 0, 10, 10], [50, 50, 60, 60]], scores=[0.9, 0.1], probs=[[0, 1, 0, 0], [0, 1, 0, 0]]
    )
    f = view(
        [[0, 0, 10, 10], [50, 50, 60, 55]], scores=[0.9, 0.1], probs=[[0, 1, 0, 0], [0, 0, 1, 0]]
    )
    assert semantic_affinity(o, f) == pytest.approx(0.5, rel=1e-5)
    assert semantic_affinity(o, f, weighted=True) == pytest.approx(0.1, rel=1e-5)
    assert flip_iou_uncertainty(o, f) == pytest.approx(0.25)
    assert flip_iou_uncertainty(o, f, weighted=True) == pytest.approx(0.05)
    # four of five boxes overlap; the lone box carries half of the total score
    scores = torch.tensor([0.1, 0.1, 0.1, 0.1, 0.4])
    boxes = torch.tensor(FIVE_BOXES, dtype=torch.float32)
    assert overlap_ratio(boxes, scores=scores) == pytest.approx(0.5)
    assert overlap_ratio(boxes, scores=torch.ones(5)) == pytest.approx(0.8)


def test_score_weighted_sigma_uncertainty_and_zero_scores() -> None:
    sharp, vague = [-10.0] * 4, [0.0] * 4
    v = view([[0, 0, 10, 10], [20, 20, 30, 30]], scores=[0.75, 0.25], log_vars=[sharp, vague])
    c_sharp, c_vague = math.exp(-math.exp(-5)), math.exp(-1)
    assert sigma_uncertainty([v]) == pytest.approx(1 - (c_sharp + c_vague) / 2, rel=1e-6)
    assert sigma_uncertainty([v], weighted=True) == pytest.approx(
        1 - (0.75 * c_sharp + 0.25 * c_vague), rel=1e-6
    )
    zero = view([[0, 0, 10, 10], [20, 20, 30, 30]], scores=[0.0, 0.0], log_vars=[sharp, vague])
    assert sigma_uncertainty([zero], weighted=True) == 1.0  # no weight at all: as if no boxes
    o = view([[0, 0, 10, 10]], scores=[0.0])
    assert flip_iou_uncertainty(o, view([[0, 0, 10, 5]]), weighted=True) == pytest.approx(0.5)
