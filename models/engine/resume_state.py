"""The resumable state of a training run (see :mod:`models.engine.train`): what a
checkpoint holds after an iteration, and loading it back into a run's objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from models.engine.train import TrainResult

STATE_VERSION = 2  # 2: the scheduler is a ChainedScheduler (1: LambdaLR)


def training_state(
    iteration: int,
    total: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    result: TrainResult,
    cuda_devices: list[int],
) -> dict[str, Any]:
    """The resumable training state after ``iteration`` iterations (live tensors)."""
    return {
        "version": STATE_VERSION,
        "iteration": iteration,
        "total": total,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": {
            "cpu": torch.get_rng_state(),
            "cuda": [torch.cuda.get_rng_state(d) for d in cuda_devices],
        },
        "loss_history": list(result.loss_history),
        "final_losses": dict(result.final_losses),
    }


def restore_state(
    state: dict[str, Any],
    total: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    result: TrainResult,
) -> int:
    """Load a :func:`training_state` into the run's objects; returns the iteration to start at."""
    if state.get("version") != STATE_VERSION or int(state.get("total", -1)) != total:
        raise ValueError(
            f"resume state is for {state.get('total')} iterations "
            f"(version {state.get('version')}), this run has {total}"
        )
    first = int(state["iteration"])
    if not 0 <= first <= total:
        raise ValueError(f"resume iteration {first} outside 0..{total}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    result.iterations = result.resumed_from = first
    result.loss_history = [float(v) for v in state.get("loss_history", [])]
    result.final_losses = dict(state.get("final_losses") or {})
    return first


def restore_rng(rng: dict[str, Any], cuda_devices: list[int]) -> None:
    """Set the CPU and the given CUDA devices' RNG states saved by :func:`training_state`."""
    if rng.get("cpu") is not None:
        torch.set_rng_state(rng["cpu"].cpu())
    for device, st in zip(cuda_devices, rng.get("cuda") or [], strict=False):
        torch.cuda.set_rng_state(st.cpu(), device)
