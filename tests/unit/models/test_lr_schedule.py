"""``models.engine.train.lr_scheduler`` (torch's LinearLR + MultiStepLR, chained) gives the
learning rates of the hand-written warm-up/step formula it replaced, iteration by iteration."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import pytest
import torch

from models.config import TrainConfig
from models.engine.train import lr_scheduler

# (lr, total iterations, warm-up iterations, warm-up factor, milestones, gamma)
CONFIGS = [
    (0.02, 100, 10, 1e-3, (50, 80), 0.1),
    (0.01, 3000, 500, 1e-3, (2000, 2600), 0.1),  # a long real-size run
    (0.005, 50, 0, 1e-3, (30,), 0.5),  # no warm-up
    (0.02, 200, 30, 1 / 3, (20, 150), 0.1),  # a milestone inside the warm-up
    (0.04, 40, 39, 1e-3, (0, 0, 10), 0.5),  # milestone 0, repeated; warm-up = total - 1
    (0.1, 1, 0, 1e-3, (), 0.1),  # one iteration
]


def old_factor(
    it: int, warmup_iters: int, warmup_factor: float, milestones: Sequence[int], gamma: float
) -> float:
    """The replaced ``lr_factor`` (a LambdaLR multiplier), verbatim."""
    factor = gamma ** bisect.bisect_right(list(milestones), it)
    if it < warmup_iters:
        alpha = it / warmup_iters
        factor *= warmup_factor * (1.0 - alpha) + alpha
    return factor


def _rates(lr: float, total: int, *schedule: object) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = lr_scheduler(optimizer, *schedule)  # type: ignore[arg-type]
    out = []
    for _ in range(total):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[1]}it-warm{c[2]}-m{c[4]}")
def test_rates_match_the_old_formula_every_iteration(config: tuple) -> None:
    lr, total, warmup, factor, milestones, gamma = config
    new = _rates(lr, total, warmup, factor, milestones, gamma)
    old = [lr * old_factor(i, warmup, factor, milestones, gamma) for i in range(total)]
    # torch applies LinearLR as a running product: equal to the closed form up to rounding
    # (measured: at most 2e-15 relative over 3000 iterations), never a different schedule.
    for i, (a, b) in enumerate(zip(new, old, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0), (i, a, b)


def test_known_values() -> None:
    rates = _rates(1.0, 35, 10, 0.001, (20, 30), 0.1)
    assert rates[0] == pytest.approx(0.001)
    assert rates[5] == pytest.approx(0.001 * 0.5 + 0.5)
    assert rates[10] == rates[19] == pytest.approx(1.0)
    assert rates[20] == pytest.approx(0.1)
    assert rates[30] == pytest.approx(0.01)


def test_state_round_trip_continues_the_same_schedule() -> None:
    """A scheduler restored from ``state_dict`` mid-warm-up goes on exactly as the original."""
    full = _rates(0.02, 60, 20, 1e-3, (30, 45), 0.1)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    scheduler = lr_scheduler(optimizer, 20, 1e-3, (30, 45), 0.1)
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    sch2 = lr_scheduler(opt2, 20, 1e-3, (30, 45), 0.1)
    opt2.load_state_dict(optimizer.state_dict())
    sch2.load_state_dict(scheduler.state_dict())
    rest = []
    for _ in range(7, 60):
        rest.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sch2.step()
    assert rest == full[7:]


def test_warmup_factor_must_be_a_fraction() -> None:
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="warmup_factor"):
            TrainConfig(warmup_factor=bad)
