"""AP-Loss with the error-driven update (Chen et al.; ALGORITHMS.md §6).

Classification is treated as ranking over all (anchor, class) pairs of the minibatch, using raw
logits ``s``. With ``h(x) = clamp(x/(2δ) + 0.5, 0, 1)`` and, for a positive ``i``,

* ``a_i = 0.5 + Σ_{k∈P} h(s_k − s_i)`` (1 + positives ranked above, the self term gives 0.5),
* ``b_i = Σ_{j∈N} h(s_j − s_i)``, ``prec_i = a_i/(a_i + b_i)``,
* ``interp_i`` = cumulative max of ``prec`` over the positives in ascending-logit order,

the loss is ``1 − mean(interp)`` and the "gradient" is the perceptron-style error
``∂/∂s_i = −(1 − interp_i)/|P|`` and ``∂/∂s_j = Σ_i c_i·h(s_j − s_i)/(a_i + b_i)/|P|`` with
``c_i = (1 − interp_i)/(1 − prec_i)`` (1 when not interpolated). The two sum to zero.

Two exact evaluations: ``"sorted"`` (prefix sums over sorted logits in float64,
O((P + N) log(P + N))) and ``"chunked"`` (the textbook O(P·N) form, vectorised over chunks of
positives; used as the reference). Negatives with ``s_j ≤ min_P s − δ`` are pruned first.
Computation runs in fp32 or wider even when the logits are fp16/bf16 (AMP).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["APLossFn", "ap_loss", "ap_loss_and_grad"]

_METHODS = ("sorted", "chunked")


def _window_sums(x_sorted: Tensor, cum: Tensor, q: Tensor, delta: float) -> Tensor:
    """``Σ_x h(x − q)`` for every query q, with x sorted ascending and ``cum`` its prefix sum."""
    n = x_sorted.numel()
    lo = torch.searchsorted(x_sorted, q - delta, right=True)
    hi = torch.searchsorted(x_sorted, q + delta, right=False)
    cnt = (hi - lo).to(q.dtype)
    inside = cum[hi] - cum[lo]
    return (n - hi).to(q.dtype) + (inside - cnt * q) / (2 * delta) + 0.5 * cnt


def _prefix(x: Tensor) -> Tensor:
    return torch.cat([x.new_zeros(1), torch.cumsum(x, 0)])


def _ab_sorted(s_pos: Tensor, s_neg: Tensor, delta: float) -> tuple[Tensor, Tensor]:
    pos_sorted = torch.sort(s_pos).values
    neg_sorted = torch.sort(s_neg).values
    a = 0.5 + _window_sums(pos_sorted, _prefix(pos_sorted), s_pos, delta)
    b = _window_sums(neg_sorted, _prefix(neg_sorted), s_pos, delta)
    return a, b


def _neg_grad_sorted(s_pos: Tensor, w: Tensor, s_neg: Tensor, delta: float) -> Tensor:
    """``Σ_i w_i·h(s_j − s_i)`` for every negative j via prefix sums over sorted positives."""
    order = torch.argsort(s_pos)
    sp, wp = s_pos[order], w[order]
    cum_w, cum_ws = _prefix(wp), _prefix(wp * sp)
    lo = torch.searchsorted(sp, s_neg - delta, right=True)
    hi = torch.searchsorted(sp, s_neg + delta, right=False)
    full = cum_w[lo]
    w_in = cum_w[hi] - cum_w[lo]
    ws_in = cum_ws[hi] - cum_ws[lo]
    return full + ((s_neg + delta) * w_in - ws_in) / (2 * delta)


def _h(x: Tensor, delta: float) -> Tensor:
    return (x / (2 * delta) + 0.5).clamp_(0.0, 1.0)


def _chunk_rows(n_cols: int, chunk_elems: int) -> int:
    return max(1, chunk_elems // max(n_cols, 1))


def _ab_chunked(
    s_pos: Tensor, s_neg: Tensor, delta: float, chunk_elems: int
) -> tuple[Tensor, Tensor]:
    a = torch.empty_like(s_pos)
    b = torch.empty_like(s_pos)
    step = _chunk_rows(max(s_neg.numel(), s_pos.numel()), chunk_elems)
    for start in range(0, s_pos.numel(), step):
        q = s_pos[start : start + step, None]
        a[start : start + step] = 0.5 + _h(s_pos[None, :] - q, delta).sum(1)
        b[start : start + step] = _h(s_neg[None, :] - q, delta).sum(1)
    return a, b


def _neg_grad_chunked(
    s_pos: Tensor, w: Tensor, s_neg: Tensor, delta: float, chunk_elems: int
) -> Tensor:
    out = torch.zeros_like(s_neg)
    step = _chunk_rows(s_neg.numel(), chunk_elems)
    for start in range(0, s_pos.numel(), step):
        q = s_pos[start : start + step, None]
        out += w[start : start + step] @ _h(s_neg[None, :] - q, delta)
    return out


@torch.no_grad()
def ap_loss_and_grad(
    logits: Tensor,
    targets: Tensor,
    delta: float = 1.0,
    method: str = "sorted",
    chunk_elems: int = 1 << 24,
) -> tuple[Tensor, Tensor]:
    """AP-loss value and its error-driven gradient, without autograd.

    Args:
        logits: any shape, raw scores of every (anchor, class) pair of the minibatch.
        targets: same shape, 1 = positive pair, 0 = negative pair, −1 (or any other value) =
            ignored (gets zero gradient).
        delta: half-width δ > 0 of the linear ramp of ``h``.
        method: ``"sorted"`` (default, O(n log n)) or ``"chunked"`` (O(P·N) reference).
        chunk_elems: max elements of one (positives × negatives) block for ``"chunked"``.

    Returns:
        ``(loss, grad)``: 0-d loss ``1 − mean interpolated precision`` in [0, 1) and ``grad``
        shaped like ``logits`` (dtype of ``logits``); ``grad.sum() == 0`` up to rounding.
        No positives → loss 0 and an all-zero gradient.
    """
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if targets.shape != logits.shape:
        raise ValueError(f"targets shape {tuple(targets.shape)} != logits {tuple(logits.shape)}")
    out_dtype = torch.promote_types(logits.dtype, torch.float32)
    work = torch.float64 if method == "sorted" else out_dtype
    s = logits.detach().reshape(-1).to(work)
    t = targets.reshape(-1)
    grad = torch.zeros_like(s)
    pos_idx = torch.nonzero(t == 1).squeeze(1)
    n_pos = pos_idx.numel()
    if n_pos == 0:
        return logits.new_zeros((), dtype=out_dtype), grad.to(logits.dtype).view_as(logits)
    s_pos = s[pos_idx]
    neg_idx = torch.nonzero(t == 0).squeeze(1)
    keep = s[neg_idx] > s_pos.min() - delta  # pruning: h = 0 for every positive otherwise
    neg_idx = neg_idx[keep]
    s_neg = s[neg_idx]

    if method == "sorted":
        a, b = _ab_sorted(s_pos, s_neg, delta)
    else:
        a, b = _ab_chunked(s_pos, s_neg, delta, chunk_elems)
    prec = a / (a + b)
    order = torch.argsort(s_pos)
    interp = torch.empty_like(prec)
    interp[order] = torch.cummax(prec[order], dim=0).values
    rescaled = prec < interp
    c = torch.where(rescaled, (1 - interp) / torch.where(rescaled, 1 - prec, 1.0), 1.0)
    w = c / (a + b) / n_pos
    if method == "sorted":
        g_neg = _neg_grad_sorted(s_pos, w, s_neg, delta)
    else:
        g_neg = _neg_grad_chunked(s_pos, w, s_neg, delta, chunk_elems)
    grad[pos_idx] = -(1 - interp) / n_pos
    grad[neg_idx] = g_neg
    loss = (1 - interp.mean()).to(out_dtype)
    return loss, grad.to(logits.dtype).view_as(logits)


class APLossFn(torch.autograd.Function):
    """``APLossFn.apply(logits, targets, delta, method, chunk_elems) -> 0-d loss``.

    The backward pass returns the error-driven update of :func:`ap_loss_and_grad` scaled by the
    incoming gradient, not the derivative of the step function. Do not combine other autograd
    terms on the same logits inside this function; add them outside.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        logits: Tensor,
        targets: Tensor,
        delta: float = 1.0,
        method: str = "sorted",
        chunk_elems: int = 1 << 24,
    ) -> Tensor:
        loss, grad = ap_loss_and_grad(logits, targets, delta, method, chunk_elems)
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * grad_output.to(grad.dtype), None, None, None, None


def ap_loss(
    logits: Tensor,
    targets: Tensor,
    delta: float = 1.0,
    method: str = "sorted",
    chunk_elems: int = 1 << 24,
) -> Tensor:
    """Differentiable AP-loss (see :class:`APLossFn`); 0-d, exactly 0 without positives."""
    return APLossFn.apply(logits, targets, delta, method, chunk_elems)
