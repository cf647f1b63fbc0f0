"""Resumable training: periodic checkpoints carry everything needed to continue a run, and
a run resumed from one ends bit-identical (CPU, no loader workers) to an uninterrupted run."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import torch

from models.builders import build_detector
from models.config import TrainConfig
from models.engine import train
from models.engine.train import EpochBatches


def _config(tiny_detector_config: Callable, **overrides: Any) -> TrainConfig:
    options: dict[str, Any] = {
        "iterations": 7,
        "batch_size": 5,
        "lr": 0.04,
        "warmup_iters": 3,
        "hflip_prob": 0.5,
        "seed": 3,
        "detector": tiny_detector_config("fasterrcnn", rois_per_image=64),
    }
    options.update(overrides)
    return TrainConfig.preset("vanilla", **options)


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_resumed_run_matches_uninterrupted_run(
    tiny_detector_config: Callable, synthetic_samples: list
) -> None:
    config = _config(tiny_detector_config)
    full_model = build_detector(config, 3)
    full = train(full_model, synthetic_samples, config)

    saved: list[dict[str, Any]] = []
    first = train(
        build_detector(config, 3),
        synthetic_samples,
        config,
        checkpoint=lambda st: saved.append(_copy(st)),
        checkpoint_every=2,
        should_stop=lambda: len(saved) >= 2,
    )
    assert first.stopped and first.iterations == 4
    assert [s["iteration"] for s in saved] == [2, 4]
    state = saved[-1]
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "loss_history"} <= set(state)

    resumed_model = build_detector(config, 3)  # fresh init: everything comes from the state
    resumed = train(resumed_model, synthetic_samples, config, resume=state)
    assert resumed.resumed_from == 4 and resumed.iterations == 7 and not resumed.stopped
    assert resumed.loss_history == full.loss_history
    a, b = full_model.state_dict(), resumed_model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "weights differ after resume"


def test_checkpoint_timing_and_state_validation(
    tiny_detector_config: Callable, synthetic_samples: list
) -> None:
    config = _config(tiny_detector_config, iterations=4)
    calls: list[int] = []
    train(
        build_detector(config, 3),
        synthetic_samples,
        config,
        checkpoint=lambda st: calls.append(st["iteration"]),
        checkpoint_every_s=1e-9,
    )
    assert calls == [1, 2, 3]  # every iteration by time, never after the last one
    calls.clear()
    train(
        build_detector(config, 3),
        synthetic_samples,
        config,
        checkpoint=lambda st: calls.append(st["iteration"]),
    )
    assert calls == []  # both intervals 0: never

    other = _config(tiny_detector_config, iterations=9)
    saved: list[dict[str, Any]] = []
    train(
        build_detector(other, 3),
        synthetic_samples,
        other,
        checkpoint=lambda st: saved.append(_copy(st)),
        checkpoint_every=2,
        should_stop=lambda: bool(saved),
    )
    with pytest.raises(ValueError, match="9 iterations"):
        train(build_detector(config, 3), synthetic_samples, config, resume=saved[0])


def test_epoch_batches_depend_only_on_seed_and_position() -> None:
    def take(start: int, k: int, seed: int = 7) -> list[list[int]]:
        it = iter(EpochBatches(10, 4, seed=seed, start=start))
        return [next(it) for _ in range(k)]

    stream = take(0, 9)  # 3 batches per epoch: 4 + 4 + 2
    assert [len(b) for b in stream[:3]] == [4, 4, 2]
    assert sorted(i for b in stream[:3] for i in b) == list(range(10))
    assert stream[3:6] != stream[:3]  # a new permutation per epoch
    assert take(4, 5) == stream[4:]
    assert take(0, 3, seed=8) != stream[:3]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_cuda_with_amp(tiny_detector_config: Callable, synthetic_samples: list) -> None:
    """On CUDA the state (incl. the CUDA RNG and grad scaler) round-trips; kernels are not
    bit-deterministic, so only the run's shape is compared."""
    config = _config(tiny_detector_config, device="cuda", amp=True)
    saved: list[dict[str, Any]] = []
    first = train(
        build_detector(config, 3), synthetic_samples, config,
        checkpoint=lambda st: saved.append(_copy(st)), checkpoint_every=3,
        should_stop=lambda: bool(saved),
    )  # fmt: skip
    assert first.iterations == 3 and saved[0]["rng"]["cuda"]
    resumed = train(build_detector(config, 3), synthetic_samples, config, resume=saved[0])
    assert resumed.resumed_from == 3 and resumed.iterations == 7
    assert resumed.loss_history[:3] == first.loss_history


def test_training_loader_batches_are_the_same_with_worker_processes() -> None:
    from models.data.dataset import DetectionDataset
    from models.engine.train import training_loader

    manifest = [{"image": torch.full((3, 4, 6), i / 10), "boxes": [[0, 0, 2, 2]], "labels": [0],
                 "image_id": i} for i in range(5)]  # fmt: skip
    dataset = DetectionDataset(manifest, hflip_prob=0.0)
    cfg = TrainConfig.preset("vanilla", batch_size=2, seed=3)
    order = []
    for workers in (0, 1):
        cfg.num_workers = workers
        it = iter(training_loader(dataset, cfg, start=1))
        order.append([[t["image_id"] for t in next(it)[1]] for _ in range(4)])
        del it
    expected = iter(EpochBatches(5, 2, seed=3, start=1))
    assert order[0] == order[1] == [next(expected) for _ in range(4)]
