"""The real :class:`~simulation.loop.Backend`: ``models`` training, evaluation and
multi-view inference on the simulation's in-memory datasets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from acquisition.types import ORIGINAL, ImagePrediction, Requirements, to_image_prediction
from models.builders import build_detector
from models.config import TrainConfig, merge_overrides
from models.data.dataset import DetectionDataset
from models.engine import evaluate, train
from models.inference import predict
from simulation.data import SimulationData
from simulation.spec import LoopOptions


def train_config(
    preset: str, options: LoopOptions, seed: int, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """The preset's ``TrainConfig`` at the simulation's size and schedule.

    A fresh model per cycle: ``options.iterations`` SGD steps of ``options.batch_size``
    images, LR x0.1 after 80 % of the steps, square ``options.image_size`` inputs,
    ``options.backbone``; ``overrides`` are applied last (``TrainConfig.preset`` keys).
    """
    over: dict[str, Any] = {
        "iterations": options.iterations,
        "batch_size": options.batch_size,
        "milestones": (max(1, int(0.8 * options.iterations)),),
        "warmup_iters": min(50, max(1, options.iterations // 5)),
        "seed": int(seed),
        "device": options.device,
        "detector": {
            "backbone": options.backbone,
            "min_size": options.image_size,
            "max_size": options.image_size,
        },
    }
    if options.lr is not None:
        over["lr"] = options.lr
    return TrainConfig.preset(preset, **merge_overrides(over, overrides))


class TorchBackend:
    """Trains fresh detectors on labelled pool subsets and evaluates / scores them."""

    def __init__(
        self,
        data: SimulationData,
        options: LoopOptions,
        train_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.data, self.options = data, options
        self.num_classes = len(data.class_names)
        self.train_overrides = dict(train_overrides or {})
        self._pool = DetectionDataset(data.pool, num_classes=self.num_classes)
        self._val = DetectionDataset(data.val, num_classes=self.num_classes) if data.val else None
        self._test = (
            DetectionDataset(data.test, num_classes=self.num_classes) if data.test else None
        )

    def train(
        self,
        preset: str,
        labeled: Sequence[int],
        seed: int,
        progress: Callable[[int, int], None],
    ) -> nn.Module:
        config = train_config(preset, self.options, seed, self.train_overrides)
        model = build_detector(config, self.num_classes)
        subset = [self.data.pool[i] for i in labeled]
        dataset = DetectionDataset(
            subset, hflip_prob=config.hflip_prob, num_classes=self.num_classes
        )
        train(model, dataset, config, progress=lambda it, total, _losses: progress(it, total))
        return model.eval()

    def _metrics(self, model: nn.Module, dataset: DetectionDataset) -> tuple[float, float]:
        result = evaluate(
            model,
            dataset,
            self.data.class_names,
            device=self.options.device,
            batch_size=self.options.eval_batch_size,
        )
        return 100.0 * float(result["map50"]), 100.0 * float(result["coco_ap"])

    def evaluate(self, model: nn.Module) -> dict[str, float | None]:
        out: dict[str, float | None] = {"val_map50": None, "val_coco_ap": None}
        if self._val is not None:
            out["val_map50"], out["val_coco_ap"] = self._metrics(model, self._val)
        if self._test is not None:
            out["map50"], out["coco_ap"] = self._metrics(model, self._test)
        else:
            out["map50"], out["coco_ap"] = out["val_map50"], out["val_coco_ap"]
        return out

    def predict(
        self, model: nn.Module, ids: Sequence[int], requirements: Requirements, seed: int
    ) -> list[ImagePrediction]:
        views = [ORIGINAL, *sorted(v for v in requirements.views if v != ORIGINAL)]
        images = [self._pool.load(i) for i in ids]
        raw = predict(
            model,
            images,
            list(ids),
            views=views,
            embedding=requirements.embedding,
            box_features=requirements.box_features,
            batch_size=self.options.eval_batch_size,
            device=self.options.device,
            generator=torch.Generator().manual_seed(int(seed)),
        )
        return [to_image_prediction(r) for r in raw]
