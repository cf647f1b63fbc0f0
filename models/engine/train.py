"""Training loop: SGD, linear warm-up, step schedule, gradient clipping, AMP on CUDA.

Seeded: the run happens inside a forked RNG state seeded with ``config.seed`` (the caller's
global RNG state is restored afterwards); the data order is a function of ``(seed,
iteration)`` only (epoch ``e`` is a permutation drawn from a generator seeded with ``(seed,
e)``), so a run can resume at any iteration with the same batches.

Resumable: ``checkpoint(state)`` is called every ``checkpoint_every`` iterations and/or
``checkpoint_every_s`` seconds with the full training state (model, optimizer, LR scheduler,
grad scaler, iteration, CPU/CUDA RNG states, loss history; :mod:`models.engine.resume_state`);
``train(..., resume=state)`` continues from it. This module never touches files: the caller
stores the state.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from models.builders import label_offset
from models.config import TrainConfig
from models.data.dataset import DetectionDataset, collate
from models.engine.resume_state import restore_rng, restore_state, training_state

ProgressFn = Callable[[int, int, dict[str, float]], None]
CheckpointFn = Callable[[dict[str, Any]], None]


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
    resumed_from: int = 0  # iteration the run resumed at (0: started fresh)


def lr_scheduler(
    optimizer: torch.optim.Optimizer,
    warmup_iters: int,
    warmup_factor: float,
    milestones: Sequence[int],
    gamma: float,
) -> torch.optim.lr_scheduler.ChainedScheduler:
    """The LR schedule, stepped once per iteration: linear warm-up from ``warmup_factor``
    to 1 over ``warmup_iters`` iterations (``LinearLR``; none for 0), times ``gamma`` per
    milestone passed, ``iteration >= m`` (``MultiStepLR``). The LR at iteration ``i``
    (0-based) is ``lr * gamma**#{m <= i} * (warmup_factor + (1 - warmup_factor) * i /
    warmup_iters)`` for ``i < warmup_iters`` (torch applies it as a running product, so
    it equals that closed form to within a few ulps)."""
    steps = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), gamma)
    if warmup_iters <= 0:
        return torch.optim.lr_scheduler.ChainedScheduler([steps], optimizer)
    warm = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=warmup_factor, end_factor=1.0, total_iters=warmup_iters
    )
    return torch.optim.lr_scheduler.ChainedScheduler([warm, steps], optimizer)


def to_model_targets(
    targets: Sequence[dict[str, Any]], offset: int, device: torch.device
) -> list[dict[str, torch.Tensor]]:
    """alp targets (0-based labels) -> torchvision targets on ``device``."""
    return [
        {
            "boxes": t["boxes"].to(device, torch.float32).reshape(-1, 4),
            "labels": (t["labels"].to(torch.int64) + offset).to(device),
        }
        for t in targets
    ]


def _epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``(seed, epoch)`` (torch's CPU generator keeps 32 bits only)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{epoch}".encode(), digest_size=4).digest())


class EpochBatches(Sampler[list[int]]):
    """Endless batches of indices: epoch ``e`` is ``randperm(n)`` from a generator seeded
    with ``(seed, e)`` cut into ``ceil(n / batch_size)`` batches (the last may be short).
    Starts at global batch ``start``, so batch ``k`` is the same whatever ``start`` is."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0) -> None:
        self.n, self.batch_size, self.seed, self.start = n, batch_size, seed, start
        self.per_epoch = math.ceil(n / batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, first = divmod(self.start, self.per_epoch)
        while True:
            g = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
            perm = torch.randperm(self.n, generator=g).tolist()
            for b in range(first, self.per_epoch):
                yield perm[b * self.batch_size : (b + 1) * self.batch_size]
            epoch, first = epoch + 1, 0


def training_loader(
    dataset: Dataset, config: TrainConfig, start: int = 0, pin_memory: bool = False
) -> DataLoader:
    """The endless DataLoader :func:`train` reads: :class:`EpochBatches` of
    ``config.batch_size`` from global batch ``start``, ``config.num_workers`` worker
    processes (0: decode in the training process), :func:`collate`."""
    return DataLoader(
        dataset,
        batch_sampler=EpochBatches(len(dataset), config.batch_size, config.seed, start),  # type: ignore[arg-type]
        collate_fn=collate,
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(config.seed),
        pin_memory=pin_memory,
    )


def train(
    model: nn.Module,
    dataset: Dataset | Sequence[dict[str, Any]],
    config: TrainConfig,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str | torch.device | None = None,
    resume: dict[str, Any] | None = None,
    checkpoint: CheckpointFn | None = None,
    checkpoint_every: int = 0,
    checkpoint_every_s: float = 0.0,
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

    ``checkpoint(state)``, when given, is called after an iteration once
    ``checkpoint_every`` iterations (0: never) or ``checkpoint_every_s`` seconds (0: never)
    have passed since the start or the last checkpoint, but not after the last iteration.
    ``state`` holds live tensors: the callback must serialise (or copy) them before it
    returns. ``resume`` (such a state, for the same model, data and config) continues the
    run at ``state["iteration"]``; ``ValueError`` if its total iterations differ. On CPU
    with ``num_workers == 0`` a resumed run is bit-identical to an uninterrupted one.
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
    optimizer = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scheduler = lr_scheduler(optimizer, warmup, config.warmup_factor, milestones, config.gamma)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    result = TrainResult(iterations=0, total_iterations=total, stopped=False, seconds=0.0)
    first = 0
    if resume is not None:
        first = restore_state(resume, total, model, optimizer, scheduler, scaler, result)
    loader = training_loader(dataset, config, first, pin_memory=dev.type == "cuda")
    start = time.perf_counter()
    fork_devices = (
        [dev.index if dev.index is not None else torch.cuda.current_device()]
        if dev.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.seed)
        if resume is not None:
            restore_rng(resume.get("rng") or {}, fork_devices)
        batches = iter(loader)
        last_ckpt_it, last_ckpt_t = first, time.perf_counter()
        for it in range(first, total):
            if should_stop is not None and should_stop():
                result.stopped = True
                break
            images, targets = next(batches)
            images = [im.to(dev, non_blocking=True) for im in images]
            model_targets = to_model_targets(targets, offset, dev)
            autocast = (
                torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext()
            )
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
            due = (checkpoint_every > 0 and it + 1 - last_ckpt_it >= checkpoint_every) or (
                checkpoint_every_s > 0 and time.perf_counter() - last_ckpt_t >= checkpoint_every_s
            )
            if checkpoint is not None and due and it + 1 < total:
                checkpoint(
                    training_state(
                        it + 1, total, model, optimizer, scheduler, scaler, result, fork_devices
                    )
                )
                last_ckpt_it, last_ckpt_t = it + 1, time.perf_counter()
    result.seconds = time.perf_counter() - start
    return result
