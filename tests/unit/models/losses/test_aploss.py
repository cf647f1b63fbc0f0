"""AP-Loss: value vs brute-force AP, error-driven gradient, pruning, methods, AMP dtypes."""

from __future__ import annotations

import pytest
import torch

from models.losses.aploss import APLossFn, ap_loss, ap_loss_and_grad


def brute_force_ap(scores: list[float], positive: list[bool]) -> float:
    """All-point interpolated AP: mean over positives of max precision at lower scores."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    tp, precisions = 0, []
    for rank, i in enumerate(order, start=1):
        if positive[i]:
            tp += 1
            precisions.append(tp / rank)
    interp = [max(precisions[k:]) for k in range(len(precisions))]
    return sum(interp) / len(interp)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["sorted", "chunked"])
def test_equals_one_minus_brute_force_ap(seed: int, method: str) -> None:
    gen = torch.Generator().manual_seed(seed)
    n = 60
    scores = torch.randperm(n, generator=gen).double() * 0.1  # distinct, gaps >> 2δ
    positive = torch.rand(n, generator=gen) < 0.3
    positive[0] = True
    targets = positive.long()
    loss, _ = ap_loss_and_grad(scores, targets, delta=1e-4, method=method)
    expected = 1 - brute_force_ap(scores.tolist(), positive.tolist())
    assert loss.item() == pytest.approx(expected, abs=1e-9)


def test_hand_computed_value_and_gradient() -> None:
    logits = torch.tensor([1.0, 0.5, -3.0], requires_grad=True)
    targets = torch.tensor([1, 0, 0])
    loss = ap_loss(logits, targets, delta=1.0)
    # h(0.5 - 1) = 0.25, h(-4) = 0 -> a = 1, b = 0.25, prec = 0.8
    assert loss.item() == pytest.approx(0.2)
    loss.backward()
    torch.testing.assert_close(logits.grad, torch.tensor([-0.2, 0.2, 0.0]))


@pytest.mark.parametrize("method", ["sorted", "chunked"])
def test_gradient_sums_to_zero_and_has_the_right_signs(method: str) -> None:
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(4, 50, 3, generator=gen) * 2
    targets = (torch.rand(4, 50, 3, generator=gen) < 0.05).long()
    targets[torch.rand(4, 50, 3, generator=gen) < 0.1] = -1
    targets[0, 0, 0] = 1
    loss, grad = ap_loss_and_grad(logits, targets, delta=1.0, method=method, chunk_elems=512)
    assert grad.shape == logits.shape and 0 <= loss.item() < 1
    assert abs(grad.sum().item()) < 1e-5
    assert (grad[targets == 1] <= 0).all() and (grad[targets == 0] >= 0).all()
    assert (grad[targets == -1] == 0).all()
    # pruned negatives (h = 0 for every positive) get no gradient
    far = (targets == 0) & (logits <= logits[targets == 1].min() - 1.0)
    assert (grad[far] == 0).all()


def test_sorted_and_chunked_agree_with_ties() -> None:
    gen = torch.Generator().manual_seed(7)
    logits = torch.round(torch.randn(3000, generator=gen) * 4) / 4  # many exact ties
    targets = (torch.rand(3000, generator=gen) < 0.03).long()
    targets[torch.rand(3000, generator=gen) < 0.1] = -1
    targets[3] = 1
    ls, gs = ap_loss_and_grad(logits, targets, delta=0.5, method="sorted")
    lc, gc = ap_loss_and_grad(logits, targets, delta=0.5, method="chunked", chunk_elems=4096)
    assert ls.item() == pytest.approx(lc.item(), abs=1e-6)
    torch.testing.assert_close(gs, gc, atol=1e-6, rtol=1e-4)


def test_no_positives_gives_zero_loss_and_zero_gradient() -> None:
    logits = torch.randn(10, requires_grad=True)
    loss = ap_loss(logits, torch.zeros(10, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros(10))


def test_half_precision_input_is_computed_in_fp32() -> None:
    logits = torch.randn(200).half().requires_grad_()
    targets = (torch.arange(200) % 17 == 0).long()
    loss = APLossFn.apply(logits, targets, 1.0, "chunked", 1 << 20)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None and logits.grad.dtype == torch.float16


def test_toy_optimisation_decreases_loss() -> None:
    gen = torch.Generator().manual_seed(11)
    logits = torch.randn(300, generator=gen).requires_grad_()
    targets = (torch.rand(300, generator=gen) < 0.1).long()
    opt = torch.optim.SGD([logits], lr=50.0)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = ap_loss(logits, targets)
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    assert ap_loss(logits, targets).item() < 0.5 * first


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="delta"):
        ap_loss_and_grad(torch.zeros(3), torch.zeros(3), delta=0.0)
    with pytest.raises(ValueError, match="method"):
        ap_loss_and_grad(torch.zeros(3), torch.zeros(3), method="loop")
    with pytest.raises(ValueError, match="shape"):
        ap_loss_and_grad(torch.zeros(3), torch.zeros(4))
