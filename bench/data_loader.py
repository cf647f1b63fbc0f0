"""Training data loader vs model step on CPU: prints JSON.

Generates ``--images`` 12 MP JPEGs (4032x3024, smooth content with noise, quality 90) and
reads them through the loader training uses (:func:`models.engine.train.training_loader`:
decode with Pillow, EXIF-upright, float tensor, random flip, collate) with 0 and
``--workers`` worker processes. Resizing to the profile's input size happens inside the
model step (torchvision's ``GeneralizedRCNNTransform``), so it is timed there:

- ``loader_images_per_s``: decode throughput per worker count (one epoch of batches);
- ``resize_images_per_s``: the model transform alone on the decoded 12 MP tensors;
- ``step_images_per_s``: one training step (forward + backward + SGD, random weights of
  the ``--profile`` layout, no download) fed the 12 MP tensors, resize included;
- ``loader_starves_step``: per worker count, whether decoding is slower than the step.

    python bench/data_loader.py                       # short: 4 images, batch 2, 2 steps
    python bench/data_loader.py --images 32 --workers 8 --batch 4 --steps 5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from PIL import Image

from models.builders import build_detector, label_offset
from models.config import TrainConfig
from models.data.dataset import DetectionDataset
from models.engine.train import to_model_targets, training_loader
from models.profiles import merged_overrides

WIDTH, HEIGHT = 4032, 3024  # 12.2 MP, a typical phone photo


def make_jpegs(folder: Path, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` 12 MP JPEGs in ``folder`` and their manifest (one box each)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    manifest = []
    for i in range(n):
        base = 127 + 60 * np.sin(xx / (150 + 20 * i)) * np.cos(yy / (120 + 10 * i))
        rgb = np.stack([base, base[::-1], 255 - base], axis=-1)
        rgb += rng.normal(0, 12, size=(HEIGHT, WIDTH, 1)).astype(np.float32)
        path = folder / f"{i}.jpg"
        Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        manifest.append({"path": path, "boxes": [[400, 300, 1600, 1500]], "labels": [i % 3]})
    return manifest


def loader_rate(dataset: DetectionDataset, cfg: TrainConfig, workers: int) -> float:
    """Images/s of one epoch through the training loader with ``workers`` processes."""
    cfg.num_workers = workers
    batches = math.ceil(len(dataset) / cfg.batch_size)
    start = time.perf_counter()
    it = iter(training_loader(dataset, cfg))
    seen = sum(len(next(it)[0]) for _ in range(batches))
    rate = seen / (time.perf_counter() - start)
    del it  # shuts the worker processes down
    return rate


def step_rates(dataset: DetectionDataset, cfg: TrainConfig, steps: int) -> dict[str, Any]:
    """Resize-only and full training-step images/s on decoded 12 MP batches."""
    model = build_detector(cfg, 3, seed=0, load=False).train()
    offset = label_offset(model)
    batch = [dataset[i % len(dataset)] for i in range(cfg.batch_size)]
    images = [im for im, _ in batch]
    targets = to_model_targets([t for _, t in batch], offset, torch.device("cpu"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    resize, step = [], []
    for k in range(steps + 1):  # the first of each is a warm-up
        start = time.perf_counter()
        with torch.no_grad():
            model.transform(images, [dict(t) for t in targets])
        if k:
            resize.append(time.perf_counter() - start)
        start = time.perf_counter()
        loss = sum(model(images, targets).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if k:
            step.append(time.perf_counter() - start)
    n = len(images)
    return {
        "input_size": [cfg.detector.min_size, cfg.detector.max_size],
        "resize_images_per_s": round(n / statistics.median(resize), 2),
        "step_images_per_s": round(n / statistics.median(step), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--workers", type=int, default=min(8, max(2, (os.cpu_count() or 2) - 1)))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--profile", default="fast", choices=("fast", "standard", "tiny"))
    args = parser.parse_args()
    if args.images < 1 or args.batch < 1 or args.steps < 1 or args.workers < 1:
        parser.error("--images, --batch, --steps and --workers must be positive")
    ov = merged_overrides(args.profile, "vanilla", {"batch_size": args.batch})
    cfg = TrainConfig.preset("vanilla", **{**ov, "device": "cpu", "amp": False})
    result: dict[str, Any] = {
        "benchmark": "data_loader",
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "profile": args.profile,
        "images": args.images,
        "image_size": [WIDTH, HEIGHT],
        "batch_size": args.batch,
    }
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = make_jpegs(Path(tmp), args.images)
        result["generate_s"] = round(time.perf_counter() - start, 2)
        result["jpeg_mb"] = round(
            sum(m["path"].stat().st_size for m in manifest) / 2**20 / len(manifest), 2
        )
        dataset = DetectionDataset(manifest, hflip_prob=0.5)
        loader = {str(w): round(loader_rate(dataset, cfg, w), 2) for w in (0, args.workers)}
        result["loader_images_per_s"] = loader
        result.update(step_rates(dataset, cfg, args.steps))
    result["loader_starves_step"] = {w: v < result["step_images_per_s"] for w, v in loader.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
