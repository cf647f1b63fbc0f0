import pytest
import torch

from acquisition.selection import k_medoids, kcenter_from_matrix, kcenter_greedy, pairwise_min_dist


def line(*xs: float) -> torch.Tensor:
    return torch.tensor([[x] for x in xs])


def test_kcenter_greedy_farthest_point_order_and_scores() -> None:
    idx, scores = kcenter_greedy(line(0, 1, 2, 10), 3, first=0)
    assert idx == [0, 3, 2]
    assert scores == pytest.approx([10.0, 10.0, 2.0])


def test_kcenter_greedy_with_labelled_centres_and_duplicates() -> None:
    idx, scores = kcenter_greedy(line(0, 0, 5), 3, initial_centres=line(0))
    assert idx == [2, 0, 1]
    assert scores == pytest.approx([5.0, 0.0, 0.0])
    assert len(set(kcenter_greedy(line(1, 1, 1), 5)[0])) == 3  # k clamped, no repeats


def test_kcenter_dimension_mismatch_is_clear() -> None:
    with pytest.raises(ValueError, match="dim"):
        kcenter_greedy(torch.zeros(3, 2), 1, initial_centres=torch.zeros(1, 3))


def test_pairwise_min_dist_blocks() -> None:
    d = pairwise_min_dist(line(0, 4), line(1, 3, 10), block=1)
    assert d.tolist() == pytest.approx([1.0, 1.0])


def test_kcenter_matrix_and_k_medoids_find_one_point_per_cluster() -> None:
    pts = torch.cat(
        [
            torch.randn(10, 2, generator=torch.Generator().manual_seed(0)) * 0.1 + c
            for c in (torch.tensor([0.0, 0.0]), torch.tensor([5.0, 5.0]), torch.tensor([0.0, 9.0]))
        ]
    )
    dist = torch.cdist(pts, pts)
    init = kcenter_from_matrix(dist, 3, first=0)
    assert len(set(init)) == 3
    med = k_medoids(dist, init, iterations=50)
    assert sorted(m // 10 for m in med) == [0, 1, 2]
    # the medoid of each cluster minimises the within-cluster distance sum
    for m in med:
        members = torch.arange(30)[(torch.arange(30) // 10) == m // 10]
        sums = dist[members][:, members].sum(1)
        assert int(members[torch.argmin(sums)]) == m
