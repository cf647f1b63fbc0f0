"""GPU readiness of the pretrained profiles: prints JSON.

Per profile (``standard``, ``fast``) and preset (``vanilla``, ``huale``) on CUDA with AMP:
training images/s at the profile's input size (800 px for ``standard``), scoring images/s
(original + flipped view, as the acquisition strategies score), and peak GPU memory. The
data loader is measured separately: images/s of decoding 12 MP JPEGs with 0 and
N loader workers against the model's training images/s (``loader_starves_gpu`` says
whether the loader is the bottleneck).

Weights: the pretrained *layout* is built without reading torchvision's files (random
weights time the same as COCO ones), so no download is needed.

    python bench/gpu.py                          # needs CUDA; exits 2 without it
    python bench/gpu.py --iters 10 --batch 4 --workers 8 --profiles fast
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from PIL import Image

from models.builders import build_detector, label_offset
from models.config import TrainConfig
from models.data.dataset import DetectionDataset, collate
from models.data.synthetic import generate
from models.inference import predict
from models.profiles import merged_overrides

PRESETS = ("vanilla", "huale")


def _config(profile: str, preset: str, batch: int) -> TrainConfig:
    ov = merged_overrides(profile, preset, {"batch_size": batch})
    return TrainConfig.preset(preset, **ov)


def _batch(size: int, batch: int, dev: torch.device) -> tuple[list, list]:
    samples = generate(batch, size=size, seed=0, max_objects=6, as_tensor=True)
    images = [s["image"].to(dev) for s in samples]
    targets = [{"boxes": torch.tensor(s["boxes"], dtype=torch.float32).reshape(-1, 4).to(dev),
                "labels": torch.tensor(s["labels"], dtype=torch.int64).to(dev)}
               for s in samples]  # fmt: skip
    return images, targets


def _sync() -> None:
    torch.cuda.synchronize()


def bench_model(profile: str, preset: str, batch: int, iters: int, dev: torch.device
                ) -> dict[str, Any]:  # fmt: skip
    cfg = _config(profile, preset, batch)
    model = build_detector(cfg, 3, seed=0, load=False).to(dev).train()
    size = cfg.detector.min_size
    images, targets = _batch(size, batch, dev)
    offset = label_offset(model)
    targets = [{**t, "labels": t["labels"] + offset} for t in targets]
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                          momentum=0.9)  # fmt: skip
    scaler = torch.amp.GradScaler("cuda")
    torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for it in range(iters + 2):
        _sync()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16):
            losses = model(images, targets)
        loss = sum(v.float() for v in losses.values())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        _sync()
        if it >= 2:
            times.append(time.perf_counter() - start)
    train_peak = torch.cuda.max_memory_allocated(dev)
    model.eval()
    score_times = []
    for it in range(iters + 1):
        _sync()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16):
            predict(model, [im for im in images], views=("orig", "flip"), batch_size=batch,
                    device=dev)  # fmt: skip
        _sync()
        if it >= 1:
            score_times.append(time.perf_counter() - start)
    step = statistics.median(times)
    return {
        "image_size": size,
        "train_images_per_s": round(batch / step, 2),
        "score_images_per_s": round(batch / statistics.median(score_times), 2),
        "train_peak_memory_gib": round(train_peak / 2**30, 2),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(dev) / 2**30, 2),
    }


def bench_loader(n_images: int, workers: int, batch: int) -> float:
    """Images/s of decoding 12 MP JPEGs through the training DataLoader (pinned memory; the
    detector's transform resizes on the GPU, inside the model step)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(n_images):
            arr = torch.randint(0, 255, (3024, 4032, 3), dtype=torch.uint8).numpy()
            path = Path(tmp) / f"{i}.jpg"
            Image.fromarray(arr).save(path, quality=90)
            paths.append(path)
        manifest = [{"path": p, "boxes": [[10, 10, 400, 400]], "labels": [0]} for p in paths]
        dataset = DetectionDataset(manifest, hflip_prob=0.5)  # the model resizes on the GPU
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers,
                                             collate_fn=collate, pin_memory=True)  # fmt: skip
        start = time.perf_counter()
        seen = sum(len(images) for images, _ in loader)
        return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="standard,fast")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--workers", type=int, default=min(8, (os.cpu_count() or 2) - 1))
    parser.add_argument("--loader-images", type=int, default=32)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu", "error": "no CUDA device"}))
        raise SystemExit(2)
    dev = torch.device("cuda")
    result: dict[str, Any] = {"benchmark": "gpu", "device": torch.cuda.get_device_name(dev),
                              "batch_size": args.batch, "amp": True, "models": {}}  # fmt: skip
    for profile in args.profiles.split(","):
        for preset in PRESETS:
            result["models"][f"{profile}/{preset}"] = bench_model(profile, preset, args.batch,
                                                                  args.iters, dev)  # fmt: skip
    loader = {w: round(bench_loader(args.loader_images, w, args.batch), 2)
              for w in (0, args.workers)}  # fmt: skip
    result["loader_images_per_s"] = loader
    fastest = max(m["train_images_per_s"] for m in result["models"].values())
    result["loader_starves_gpu"] = loader[args.workers] < fastest
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
