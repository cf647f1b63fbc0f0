"""EIoU / GIoU / IoU on aligned box pairs."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.gradcheck import GradcheckError

from models.losses.iou import eiou_loss, paired_giou, paired_iou


def _random_boxes(n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen, dtype=dtype) * 10
    wh = torch.rand(n, 2, generator=gen, dtype=dtype) * 5 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_known_answer_iou_giou_eiou() -> None:
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    tgt = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    # intersection 1, union 7, enclosing box 9
    assert paired_iou(pred, tgt).item() == pytest.approx(1 / 7, rel=1e-5)
    giou = 1 / 7 - 2 / 9
    assert paired_giou(pred, tgt).item() == pytest.approx(giou, rel=1e-5)
    expected = (1 + giou) ** 0.5 * (1 - giou)
    assert eiou_loss(pred, tgt, gamma=0.5).item() == pytest.approx(expected, rel=1e-5)
    assert eiou_loss(pred, tgt, gamma=0.0).item() == pytest.approx(1 - giou, rel=1e-5)


def test_identical_boxes_give_zero_and_disjoint_boxes_are_bounded() -> None:
    box = torch.tensor([[2.0, 3.0, 7.0, 9.0]])
    assert eiou_loss(box, box).item() == pytest.approx(0.0, abs=1e-6)
    far = torch.tensor([[100.0, 100.0, 101.0, 101.0]])
    val = eiou_loss(box, far, gamma=0.5).item()
    assert 0.0 <= val <= 2**1.5


def test_empty_input_is_exactly_zero() -> None:
    empty = torch.zeros(0, 4, requires_grad=True)
    for reduction in ("sum", "mean"):
        loss = eiou_loss(empty, torch.zeros(0, 4), reduction=reduction)
        assert loss.item() == 0.0 and not math.isnan(loss.item())
        loss.backward()
    assert eiou_loss(empty, torch.zeros(0, 4)).shape == (0,)


def test_degenerate_boxes_are_finite_with_finite_gradients() -> None:
    pred = torch.tensor(
        [[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 5.0, 9.0]], requires_grad=True
    )
    tgt = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 3.0, 3.0, 3.0], [5.0, 5.0, 5.0, 9.0]])
    loss = eiou_loss(pred, tgt, reduction="sum")
    loss.backward()
    assert torch.isfinite(loss)
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_gradcheck_float64() -> None:
    """γ = 0 is the plain GIoU loss; for γ > 0 the (detached) factor makes the analytic
    gradient differ from the numeric one on purpose (see the next test)."""
    gen = torch.Generator().manual_seed(0)
    pred = _random_boxes(5, gen, torch.float64).requires_grad_()
    tgt = _random_boxes(5, gen, torch.float64)
    assert torch.autograd.gradcheck(lambda p: eiou_loss(p, tgt, gamma=0.0), (pred,))
    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(lambda p: eiou_loss(p, tgt, gamma=0.5), (pred,))


def test_modulating_factor_is_detached() -> None:
    gen = torch.Generator().manual_seed(1)
    pred = _random_boxes(6, gen, torch.float64).requires_grad_()
    tgt = _random_boxes(6, gen, torch.float64)
    eiou_loss(pred, tgt, gamma=0.5, reduction="sum").backward()
    grad_eiou = pred.grad.clone()
    pred.grad = None
    factor = (1 + paired_giou(pred, tgt).detach()).pow(0.5)
    (factor * (1 - paired_giou(pred, tgt))).sum().backward()
    torch.testing.assert_close(grad_eiou, pred.grad)


def test_invalid_arguments_raise() -> None:
    box = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match="gamma"):
        eiou_loss(box, box, gamma=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        eiou_loss(box, box, reduction="avg")
