"""PISA ISR-P weights and CARL."""

from __future__ import annotations

import pytest
import torch

from models.losses.pisa import carl_loss, carl_weights, isr_p_weights


def test_isr_p_known_answer() -> None:
    # one class; GT 0 has positives with IoU 0.9 and 0.5, GT 1 one with IoU 0.7; n_max = 3
    ious = torch.tensor([0.9, 0.5, 0.7])
    labels = torch.tensor([4, 4, 4])
    gt_ids = torch.tensor([0, 0, 1])
    losses = torch.ones(3)
    # local ranks 0,1,0 -> IoU' 3.9, 2.5, 3.7 -> global ranks 0,2,1 -> u = 1, 1/3, 2/3
    # k = 2: w = 1, 1/9, 4/9; renormalised by 3 / (14/9) = 27/14
    w = isr_p_weights(ious, labels, gt_ids, losses, k=2.0, bias=0.0)
    torch.testing.assert_close(w, torch.tensor([27 / 14, 3 / 14, 12 / 14]))


def test_isr_p_keeps_total_loss_and_ranks_per_class() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 40
    ious = torch.rand(n, generator=gen)
    labels = torch.randint(1, 4, (n,), generator=gen)
    gt_ids = labels * 10 + torch.randint(0, 3, (n,), generator=gen)
    losses = torch.rand(n, generator=gen) * 2
    base = torch.rand(n, generator=gen) + 0.5
    w = isr_p_weights(ious, labels, gt_ids, losses, k=2.0, bias=0.0, base_weights=base)
    assert (w * losses).sum().item() == pytest.approx((base * losses).sum().item(), rel=1e-5)
    assert (w > 0).all() and not w.requires_grad
    # inside one GT, a higher IoU never gets a lower weight (with unit base weights)
    w1 = isr_p_weights(ious, labels, gt_ids, losses)
    for g in gt_ids.unique():
        m = gt_ids == g
        order = torch.argsort(ious[m], descending=True)
        assert (w1[m][order].diff() <= 1e-6).all()


def test_isr_p_empty_and_zero_loss() -> None:
    empty = torch.zeros(0)
    ids = torch.zeros(0, dtype=torch.int64)
    assert isr_p_weights(empty, ids, ids, empty).shape == (0,)
    w = isr_p_weights(
        torch.tensor([0.5, 0.6]), torch.tensor([1, 1]), torch.tensor([0, 1]), torch.zeros(2)
    )
    assert torch.isfinite(w).all()


def test_carl_known_answer_and_weights_sum_to_positive_count() -> None:
    logits = torch.tensor([[0.0, -1.0], [3.0, 40.0]])  # sigmoid GT scores 0.5 and 1.0
    labels = torch.tensor([0, 1])
    reg = torch.tensor([1.0, 2.0])
    c = carl_weights(logits, labels, k=1.0, bias=0.2, sigmoid=True)
    # c = 0.6, 1.0 normalised to sum 2 -> 0.75, 1.25
    torch.testing.assert_close(c, torch.tensor([0.75, 1.25]))
    loss = carl_loss(logits, labels, reg, k=1.0, bias=0.2, avg_factor=2, sigmoid=True)
    assert loss.item() == pytest.approx((0.75 * 1 + 1.25 * 2) / 2)
    soft = carl_weights(torch.randn(7, 5), torch.randint(0, 5, (7,)), k=2.0, bias=0.1)
    assert soft.sum().item() == pytest.approx(7.0, rel=1e-6)


def test_carl_gradient_reaches_class_scores() -> None:
    logits = torch.randn(6, 4, requires_grad=True)
    reg_in = torch.rand(6, requires_grad=True)
    labels = torch.tensor([1, 2, 3, 1, 2, 3])
    carl_loss(logits, labels, reg_in * 3, avg_factor=10).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert reg_in.grad is not None and (reg_in.grad > 0).all()


def test_carl_gradcheck_float64() -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(5, 4, generator=gen, dtype=torch.float64).requires_grad_()
    reg = torch.rand(5, generator=gen, dtype=torch.float64).requires_grad_()
    labels = torch.tensor([0, 1, 2, 3, 1])
    for sigmoid in (False, True):
        assert torch.autograd.gradcheck(
            lambda lg, r, s=sigmoid: carl_loss(lg, labels, r, avg_factor=7.0, sigmoid=s),
            (logits, reg),
        )


def test_carl_empty_is_exactly_zero() -> None:
    logits = torch.zeros(0, 3, requires_grad=True)
    loss = carl_loss(logits, torch.zeros(0, dtype=torch.int64), torch.zeros(0), avg_factor=0)
    assert loss.item() == 0.0
    loss.backward()
    assert carl_weights(logits, torch.zeros(0, dtype=torch.int64)).shape == (0,)
