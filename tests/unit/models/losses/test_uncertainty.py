"""Uncertainty-aware regression, λ schedule and the synchronic loss."""

from __future__ import annotations

import math

import pytest
import torch

from models.losses.iou import eiou_loss
from models.losses.uncertainty import (
    lambda_schedule,
    synchronic_loss,
    uncertainty_regression_loss,
)

BETA = 1.0 / 9.0


def test_known_answer() -> None:
    deltas = torch.tensor([[0.5, 0.0, 0.0, 0.05]])
    target = torch.zeros(1, 4)
    log_vars = torch.tensor([[math.log(2.0), 0.0, 0.0, 0.0]])
    sl1_a = 0.5 - 0.5 * BETA  # |x| >= beta
    sl1_d = 0.5 * 0.05**2 / BETA  # |x| < beta
    expected = 0.5 * 0.5 * sl1_a + 0.5 * math.log(2.0) + 0.5 * sl1_d
    got = uncertainty_regression_loss(deltas, target, log_vars, beta=BETA)
    assert got.shape == (1,)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_optimal_log_variance_is_log_error() -> None:
    """d/ds [e^-s·err/2 + s/2] = 0 at s = log(err): the σ head learns the error size."""
    deltas = torch.tensor([[2.0, 2.0, 2.0, 2.0]])
    err = 2.0 - 0.5 * BETA
    s = torch.full((1, 4), math.log(err), requires_grad=True)
    uncertainty_regression_loss(deltas, torch.zeros(1, 4), s, beta=BETA).sum().backward()
    assert s.grad is not None
    torch.testing.assert_close(s.grad, torch.zeros(1, 4), atol=1e-6, rtol=0)


def test_log_variance_is_clamped() -> None:
    s = torch.full((1, 4), 100.0, requires_grad=True)
    loss = uncertainty_regression_loss(
        torch.ones(1, 4), torch.zeros(1, 4), s, beta=BETA, log_var_clamp=10.0
    )
    assert loss.item() == pytest.approx(4 * (0.5 * math.exp(-10) * (1 - 0.5 * BETA) + 5.0))
    loss.sum().backward()
    assert torch.equal(s.grad, torch.zeros(1, 4))


def test_empty_is_exactly_zero() -> None:
    z = torch.zeros(0, 4, requires_grad=True)
    for reduction in ("sum", "mean"):
        assert uncertainty_regression_loss(z, z, z, reduction=reduction).item() == 0.0
        loss = synchronic_loss(z, z, z, z, z, reduction=reduction)
        assert loss.item() == 0.0
        loss.backward()


def test_gradcheck_float64() -> None:
    gen = torch.Generator().manual_seed(0)
    deltas = torch.randn(5, 4, generator=gen, dtype=torch.float64).requires_grad_()
    target = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    lv = torch.randn(5, 4, generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda d, s: uncertainty_regression_loss(d, target, s, beta=BETA), (deltas, lv)
    )


def test_synchronic_is_the_lambda_mixture() -> None:
    gen = torch.Generator().manual_seed(2)
    xy = torch.rand(4, 2, generator=gen) * 10
    pred = torch.cat([xy, xy + 3], 1)
    tgt = torch.cat([xy + 1, xy + 5], 1)
    d, t, s = (torch.randn(4, 4, generator=gen) for _ in range(3))
    e = eiou_loss(pred, tgt, gamma=0.5)
    u = uncertainty_regression_loss(d, t, s, beta=BETA)
    got = synchronic_loss(pred, tgt, d, t, s, lam=0.3, gamma=0.5, beta=BETA)
    torch.testing.assert_close(got, 0.3 * e + 0.7 * u)
    torch.testing.assert_close(synchronic_loss(pred, tgt, d, t, s, lam=1.0), e)
    with pytest.raises(ValueError, match="lambda"):
        synchronic_loss(pred, tgt, d, t, s, lam=1.5)


def test_lambda_schedule_ramps_from_one() -> None:
    assert lambda_schedule(0, 0.5, 100) == 1.0
    assert lambda_schedule(50, 0.5, 100) == pytest.approx(0.75)
    assert lambda_schedule(100, 0.5, 100) == 0.5
    assert lambda_schedule(7, 0.5, 0) == 0.5
