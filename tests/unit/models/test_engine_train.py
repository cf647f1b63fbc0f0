"""Training engine: every preset learns on a few synthetic images; errors, stop, seeding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from models.builders import build_detector
from models.config import TrainConfig
from models.engine import NonFiniteLossError, evaluate, train

CLASSES = ["circle", "square", "triangle"]


def _config(preset: str, tiny_detector_config: Callable, **overrides: Any) -> TrainConfig:
    arch = "retinanet" if preset in ("aploss", "retinanet") else "fasterrcnn"
    options: dict[str, Any] = {
        "iterations": 40,
        "batch_size": 4,
        "lr": 0.02 if arch == "retinanet" else 0.04,
        "warmup_iters": 5,
        "hflip_prob": 0.0,
        "seed": 0,
        "detector": tiny_detector_config(arch, rois_per_image=64),
    }
    options.update(overrides)
    return TrainConfig.preset(preset, **options)


@pytest.mark.parametrize("preset", ["vanilla", "huale", "libra", "pisa", "aploss", "retinanet"])
def test_preset_learns_the_training_images(
    preset: str, tiny_detector_config: Callable, synthetic_samples: list
) -> None:
    config = _config(preset, tiny_detector_config)
    model = build_detector(config, len(CLASSES))
    before = evaluate(model, synthetic_samples, CLASSES)
    result = train(model, synthetic_samples, config)
    after = evaluate(model, synthetic_samples, CLASSES)

    assert result.iterations == 40 and not result.stopped
    history = result.loss_history
    assert sum(history[-5:]) / 5 < 0.75 * sum(history[:3]) / 3, history
    assert after["map50"] > before["map50"] + 0.1, (before["map50"], after["map50"])
    assert after["coco_ap50"] > before["coco_ap50"]


def test_evaluate_reports_documented_fields(
    tiny_detector_config: Callable, synthetic_samples: list
) -> None:
    model = build_detector(_config("vanilla", tiny_detector_config), len(CLASSES))
    model.train()
    metrics = evaluate(model, synthetic_samples, CLASSES)
    assert model.training  # mode restored
    assert {"map50", "map50_11pt", "coco_ap", "coco_ap50", "per_class", "num_images"} <= set(
        metrics
    )
    assert metrics["num_images"] == len(synthetic_samples)
    assert set(metrics["per_class"]) == set(CLASSES)
    gt_counts = sum(len(s["labels"]) for s in synthetic_samples)
    assert sum(c["num_gt"] for c in metrics["per_class"].values()) == gt_counts


def test_progress_stop_and_seeding(tiny_detector_config: Callable, synthetic_samples: list):
    config = _config("vanilla", tiny_detector_config, iterations=3, hflip_prob=0.5)
    calls: list[tuple[int, int, dict]] = []
    rng_state = torch.get_rng_state()
    first = train(
        build_detector(config, 3),
        synthetic_samples,
        config,
        progress=lambda i, total, losses: calls.append((i, total, losses)),
    )
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert [c[:2] for c in calls] == [(1, 3), (2, 3), (3, 3)]
    assert {"loss", "loss_classifier", "loss_box_reg"} <= set(calls[0][2])
    second = train(build_detector(config, 3), synthetic_samples, config)
    assert first.loss_history == pytest.approx(second.loss_history, rel=1e-4)

    stopped = train(
        build_detector(config, 3),
        synthetic_samples,
        config,
        should_stop=lambda: len(calls) >= 5,
        progress=lambda i, total, losses: calls.append((i, total, losses)),
    )
    assert stopped.stopped and stopped.iterations == 2


def test_non_finite_loss_raises(tiny_detector_config: Callable, synthetic_samples: list) -> None:
    config = _config("vanilla", tiny_detector_config, iterations=2)
    poisoned = [
        {**s, "image": torch.full((3, 64, 64), float("nan"))} for s in synthetic_samples[:4]
    ]
    with pytest.raises(NonFiniteLossError, match="iteration 1") as info:
        train(build_detector(config, 3), poisoned, config)
    assert info.value.iteration == 1
    with pytest.raises(ValueError, match="empty"):
        train(build_detector(config, 3), [], config)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda_with_amp(tiny_detector_config: Callable, synthetic_samples: list) -> None:
    config = _config("huale", tiny_detector_config, iterations=5, device="cuda", amp=True)
    model = build_detector(config, 3)
    result = train(model, synthetic_samples, config)
    assert result.iterations == 5
    assert next(model.parameters()).device.type == "cuda"
    metrics = evaluate(model, synthetic_samples, CLASSES, device="cuda")
    assert 0.0 <= metrics["map50"] <= 1.0
