import pytest
import torch

from acquisition.normalize import euclidean_score, minmax_normalize, rank_normalize


def test_minmax_known_values_and_constant_column_is_zero() -> None:
    v = torch.tensor([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0]])
    n = minmax_normalize(v)
    assert n[:, 0].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert n[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_minmax_single_row_and_1d() -> None:
    assert minmax_normalize(torch.tensor([[3.0, 4.0]])).tolist() == [[0.0, 0.0]]
    assert minmax_normalize(torch.tensor([1.0, 3.0])).tolist() == pytest.approx([0.0, 1.0])
    assert minmax_normalize(torch.zeros(0, 2)).shape == (0, 2)


def test_euclidean_score() -> None:
    assert euclidean_score(torch.tensor([[3.0, 4.0], [0.0, 0.0]])).tolist() == [5.0, 0.0]


def test_rank_normalize_ties_share_value() -> None:
    assert rank_normalize(torch.tensor([3.0, 1.0, 3.0, 2.0])).tolist() == pytest.approx(
        [2 / 3, 0.0, 2 / 3, 1 / 3]
    )
    assert rank_normalize(torch.tensor([7.0])).tolist() == [1.0]
