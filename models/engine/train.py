"""Training loop: SGD, linear warm-up, step schedule, gradient clipping, AMP on CUDA.

Seeded: the run happens inside a forked RNG state seeded with ``config.seed`` (the caller's
global RNG state is restored afterwards) and the data order comes from a seeded
``torch.Generator``.
"""

from __future__ import annotations

import bisect
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from models.builders import label_offset
from models.config import TrainConfig
from models.data.dataset import DetectionDataset, collate

ProgressFn = Callable[[int, int, dict[str, float]], None]


class NonFiniteLossError(RuntimeError):
    """Raised when a training loss is NaN or infinite; carries the iteration and losses."""

    def __init__(self, iteration: int, losses: dict[str, float]) -> None:
        self.iteration = iteration
        self.losses = losses
        parts = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
        super().__init__(f"non-finite training loss at iteration {iteration}: {parts}")


@dataclass
class TrainResult:
    """Outcome of :func:`train`. ``loss_history`` holds the total loss per iteration."""

    iterations: int
    total_iterations: int
    stopped: bool
    seconds: float
    final_losses: dict[str, float] = field(default_factory=dict)
    loss_history: list[float] = field(default_factory=list)


def lr_factor(
    iteration: int, warmup_iters: int, warmup_factor: float, milestones: Sequence[int],
    gamma: float,
) -> float:
    """LR multiplier at ``iteration`` (0-based): linear warm-up from ``warmup_factor`` to 1
    over ``warmup_iters`` iterations, times ``gamma`` per milestone passed (``it >= m``)."""
    factor = gamma ** bisect.bisect_right(list(milestones), iteration)
    if iteration < warmup_iters:
        alpha = iteration / warmup_iters
        factor *= warmup_factor * (1.0 - alpha) + alpha
    return factor


def to_model_targets(
    targets: Sequence[dict[str, Any]], offset: int, device: torch.device
) -> list[dict[str, torch.Tensor]]:
    """alp targets (0-based labels) -> torchvision targets on ``device``."""
    return [{"boxes": t["boxes"].to(device, torch.float32).reshape(-1, 4),
             "labels": (t["labels"].to(torch.int64) + offset).to(device)} for t in targets]


def _batches(loader: DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


def train(
    model: nn.Module,
    dataset: Dataset | Sequence[dict[str, Any]],
    config: TrainConfig,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str | torch.device | None = None,
) -> TrainResult:
    """Train ``model`` in place for ``config.total_iterations(len(dataset))`` iterations.

    ``dataset``: a dataset yielding ``(image (3, H, W) float in [0, 1], target)`` with
    0-based labels, or a manifest list (wrapped in ``DetectionDataset`` with
    ``config.hflip_prob``). ``progress(iteration, total, losses)`` is called after every
    iteration (1-based) with float losses including ``"loss"`` (the total).
    ``should_stop()`` is polled before every iteration; when it returns true training
    stops early (``result.stopped``). Raises ``NonFiniteLossError`` on a NaN/inf loss and
    ``ValueError`` on an empty dataset. Uses AMP (fp16 autocast + GradScaler) when
    ``config.amp`` and the device is CUDA. Leaves the model in train mode on ``device``.
    """
    if not isinstance(dataset, Dataset):
        dataset = DetectionDataset(list(dataset), hflip_prob=config.hflip_prob)
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("cannot train on an empty dataset")
    dev = torch.device(device if device is not None else config.device)
    use_amp = bool(config.amp) and dev.type == "cuda"
    total = config.total_iterations(n)
    warmup = min(config.warmup_iters, total - 1)
    milestones = config.milestone_iterations(n)
    offset = label_offset(model)
    model.to(dev).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda it: lr_factor(it, warmup, config.warmup_factor, milestones, config.gamma),
    )
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, collate_fn=collate,
                        generator=generator, num_workers=config.num_workers,
                        pin_memory=dev.type == "cuda")
    result = TrainResult(iterations=0, total_iterations=total, stopped=False, seconds=0.0)
    start = time.perf_counter()
    fork_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] \
        if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.seed)
        batches = _batches(loader)
        for it in range(total):
            if should_stop is not None and should_stop():
                result.stopped = True
                break
            images, targets = next(batches)
            images = [im.to(dev, non_blocking=True) for im in images]
            model_targets = to_model_targets(targets, offset, dev)
            autocast = (torch.autocast("cuda", dtype=torch.float16) if use_amp
                        else contextlib.nullcontext())
            with autocast:
                loss_dict = model(images, model_targets)
            loss = sum(v.float() for v in loss_dict.values())
            losses = {k: float(v.detach()) for k, v in loss_dict.items()}
            losses["loss"] = float(loss.detach())
            if not torch.isfinite(torch.tensor(list(losses.values()))).all():
                raise NonFiniteLossError(it + 1, losses)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            result.iterations = it + 1
            result.final_losses = losses
            result.loss_history.append(losses["loss"])
            if progress is not None:
                progress(it + 1, total, losses)
    result.seconds = time.perf_counter() - start
    return result
