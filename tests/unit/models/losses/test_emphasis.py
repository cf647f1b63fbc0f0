"""Emphasis-loss β sources and weights."""

from __future__ import annotations

import pytest
import torch

from models.losses.emphasis import (
    ClassDifficultyEMA,
    emphasis_weights,
    hardness_betas,
    loss_ratio_betas,
)


def test_class_ema_first_observation_then_momentum() -> None:
    ema = ClassDifficultyEMA(num_classes=3, momentum=0.9)
    ema.update(
        torch.tensor([0, 0, 2]), torch.tensor([0.2, 0.4, 0.8]), torch.tensor([0.5, 0.7, 0.9])
    )
    torch.testing.assert_close(ema.cls_quality, torch.tensor([0.3, 0.0, 0.8]))
    torch.testing.assert_close(ema.loc_quality, torch.tensor([0.6, 0.0, 0.9]))
    assert ema.seen.tolist() == [True, False, True]
    ema.update(torch.tensor([0]), torch.tensor([1.0]), torch.tensor([1.0]))
    torch.testing.assert_close(ema.cls_quality, torch.tensor([0.9 * 0.3 + 0.1, 0.0, 0.8]))
    b_cls, b_loc = ema.betas(torch.tensor([0, 1, 2]))
    torch.testing.assert_close(b_cls, torch.tensor([1 - 0.37, 1.0, 0.2]))
    torch.testing.assert_close(b_loc, torch.tensor([1 - 0.64, 1.0, 0.1]))
    # negatives: mean over seen classes of 1 - a_c
    assert ema.negative_beta().item() == pytest.approx(((1 - 0.37) + 0.2) / 2)
    assert "cls_quality" in ema.state_dict()


def test_class_ema_empty_update_and_unseen_negative_beta() -> None:
    ema = ClassDifficultyEMA(num_classes=2)
    ema.update(torch.zeros(0, dtype=torch.int64), torch.zeros(0), torch.zeros(0))
    assert not ema.seen.any()
    assert ema.negative_beta().item() == 0.0
    with pytest.raises(ValueError):
        ClassDifficultyEMA(2, momentum=1.0)


def test_emphasis_weights_renormalise_to_one_plus_mean_beta() -> None:
    betas = torch.tensor([0.0, 0.5, 1.0, 0.2], requires_grad=True)
    losses = torch.tensor([1.0, 2.0, 0.5, 3.0])
    w = emphasis_weights(betas, losses, renormalise=True)
    assert not w.requires_grad
    expected_total = (1 + betas.detach().mean()) * losses.sum()
    assert (w * losses).sum().item() == pytest.approx(expected_total.item(), rel=1e-6)
    # relative emphasis is kept: ratios follow 1 + β
    assert (w[2] / w[0]).item() == pytest.approx(2.0)
    raw = emphasis_weights(betas, losses, renormalise=False)
    torch.testing.assert_close(raw, 1 + betas.detach())


def test_emphasis_weights_edge_cases() -> None:
    assert emphasis_weights(torch.zeros(0), torch.zeros(0)).shape == (0,)
    w = emphasis_weights(torch.tensor([0.5, 0.5]), torch.zeros(2))
    torch.testing.assert_close(w, torch.tensor([1.5, 1.5]))
    scalar = emphasis_weights(torch.tensor(0.25), torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(scalar, torch.tensor([1.25, 1.25]))


def test_hardness_and_loss_ratio_betas() -> None:
    p = torch.tensor([0.9, 0.2], requires_grad=True)
    b_cls, b_loc = hardness_betas(p, torch.tensor([0.6, 1.2]))
    torch.testing.assert_close(b_cls, torch.tensor([0.1, 0.8]))
    torch.testing.assert_close(b_loc, torch.tensor([0.4, 0.0]))
    assert not b_cls.requires_grad
    lc = torch.tensor(3.0, requires_grad=True)
    bc, bl = loss_ratio_betas(lc, torch.tensor(1.0))
    assert (bc.item(), bl.item()) == pytest.approx((0.75, 0.25))
    assert not bc.requires_grad
    zc, zl = loss_ratio_betas(torch.tensor(0.0), torch.tensor(0.0))
    assert zc.item() == 0.0 and zl.item() == 0.0


def test_emphasis_weights_stay_positive_and_bounded_for_signed_losses() -> None:
    # the uncertainty loss is negative for confident, accurate boxes: a signed sum near 0
    # must not turn the weights huge or negative (that would be gradient ascent)
    betas = torch.tensor([0.2, 0.8, 0.5])
    losses = torch.tensor([-0.5, 0.5001, 0.0])
    w = emphasis_weights(betas, losses)
    assert bool((w > 0).all()) and float(w.max()) < 3.0
    expected = (1 + betas.mean()) * losses.abs().sum()
    assert float((w * losses.abs()).sum()) == pytest.approx(float(expected), rel=1e-5)
