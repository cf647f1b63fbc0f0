import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from acquisition.ops import (
    aggregate,
    binary_entropy,
    class_histogram,
    flip_boxes,
    js_divergence,
    match_boxes,
    normalized_entropy,
    to_distribution,
)

grid = st.integers(0, 256 * 640).map(lambda v: v / 256.0)


def test_flip_boxes_known_answer() -> None:
    boxes = torch.tensor([[10.0, 5.0, 30.0, 25.0]])
    assert flip_boxes(boxes, 100).tolist() == [[70.0, 5.0, 90.0, 25.0]]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(grid, grid, grid, grid), max_size=6), st.integers(641, 4096))
def test_flip_boxes_round_trip_is_exact(coords: list[tuple[float, ...]], width: int) -> None:
    boxes = torch.tensor(
        [[min(a, c), b, max(a, c), d] for a, b, c, d in coords], dtype=torch.float32
    ).reshape(-1, 4)
    flipped = flip_boxes(boxes, width)
    assert torch.equal(flip_boxes(flipped, width), boxes)
    assert bool((flipped[:, 0] <= flipped[:, 2]).all())


def test_flip_boxes_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        flip_boxes(torch.zeros(3), 10)


def test_entropy_bounds_and_empty() -> None:
    uniform = torch.full((1, 4), 0.25)
    onehot = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    assert normalized_entropy(uniform).item() == pytest.approx(1.0)
    assert normalized_entropy(onehot).item() == pytest.approx(0.0, abs=1e-6)
    assert normalized_entropy(torch.zeros(0, 4)).shape == (0,)


def test_sigmoid_probs_become_distributions() -> None:
    d = to_distribution(torch.tensor([[0.8, 0.2], [0.0, 0.0]]), has_background=False)
    assert torch.allclose(d.sum(1), torch.ones(2))
    assert d[0].tolist() == pytest.approx([0.2, 0.64, 0.16])
    assert d[1].tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_js_divergence_identity_and_disjoint() -> None:
    p = torch.tensor([[0.5, 0.5, 0.0]])
    q = torch.tensor([[0.0, 0.0, 1.0]])
    assert js_divergence(p, p).item() == pytest.approx(0.0, abs=1e-7)
    assert js_divergence(p, q).item() == pytest.approx(math.log(2), rel=1e-5)
    assert js_divergence(p, q).item() == pytest.approx(js_divergence(q, p).item())


def test_binary_entropy_finite_at_extremes() -> None:
    h = binary_entropy(torch.tensor([0.0, 0.5, 1.0]))
    assert bool(torch.isfinite(h).all())
    assert h[1].item() == pytest.approx(math.log(2), rel=1e-5)


def test_match_boxes_picks_best_iou_and_handles_empty() -> None:
    ref = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    other = torch.tensor([[50.0, 50.0, 60.0, 60.0], [0.0, 0.0, 10.0, 9.0]])
    iou, idx = match_boxes(ref, other)
    assert idx.tolist() == [1] and iou.item() == pytest.approx(0.9)
    iou, idx = match_boxes(ref, torch.zeros(0, 4))
    assert iou.tolist() == [0.0]


def test_class_histogram_modes_and_errors() -> None:
    labels = torch.tensor([0, 0, 2])
    scores = torch.tensor([0.5, 0.7, 0.2])
    assert class_histogram(labels, scores, 3, "max").tolist() == pytest.approx([0.7, 0, 0.2])
    assert class_histogram(labels, scores, 3, "count").tolist() == pytest.approx([1.2, 0, 0.2])
    with pytest.raises(ValueError, match="labels"):
        class_histogram(torch.tensor([3]), torch.tensor([0.5]), 3)


def test_aggregate() -> None:
    v = torch.tensor([0.2, 0.4])
    assert aggregate(v, "max", 9) == pytest.approx(0.4)
    assert aggregate(v, "mean", 9) == pytest.approx(0.3)
    assert aggregate(v, "sum", 9) == pytest.approx(0.6)
    assert aggregate(torch.zeros(0), "max", 9) == 9
    with pytest.raises(ValueError):
        aggregate(v, "median", 0)
