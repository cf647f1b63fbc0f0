"""Training-step time of each head preset on the same batch: prints JSON.

Builds the tiny-backbone detectors (no pretrained weights) for the Faster R-CNN presets
``vanilla``, ``huale``, ``libra``, ``pisa`` and the RetinaNet variants ``focal`` (stock),
``aploss`` and ``pisa`` (plus ``pisa_all_negatives``: Score-HLR scoring every negative,
as mmdetection does), then times full SGD steps (forward, backward, optimiser) on one fixed
synthetic batch. Presets are interleaved round-robin and the median step is reported, so
load from other processes on a shared machine hits every preset alike. Ratios compare with
stock torchvision (``vanilla`` / ``focal``); targets: huale ≤ 1.10, pisa ≤ 1.25 (× vanilla),
aploss ≤ 1.5 (× focal).

    python bench/train_step.py                       # CPU, 192 px, batch 4
    python bench/train_step.py --size 320 --iters 20 --device cuda
    python bench/train_step.py --profile fast --size 256 --batch 2   # MobileNetV3-FPN
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn

from models.builders import build_detector
from models.config import DetectorConfig
from models.data.synthetic import generate
from models.heads import HeadConfig, head_preset

RCNN_PRESETS = ("vanilla", "huale", "libra", "pisa", "pisa_all_negatives")
RETINA_PRESETS = {"focal": "vanilla", "aploss": "aploss", "retina_pisa": "pisa"}
TARGETS = {"huale/vanilla": 1.10, "pisa/vanilla": 1.25, "aploss/focal": 1.5}


def _batch(size: int, batch: int, device: torch.device) -> tuple[list, list]:
    samples = generate(batch, size=size, seed=0, max_objects=4, as_tensor=True)
    images = [s["image"].to(device) for s in samples]
    targets = [
        {
            "boxes": torch.tensor(s["boxes"], dtype=torch.float32).reshape(-1, 4).to(device),
            "labels": torch.tensor(s["labels"], dtype=torch.int64).to(device),
        }
        for s in samples
    ]
    return images, targets


def _heads(name: str) -> HeadConfig:
    if name == "pisa_all_negatives":
        return HeadConfig.from_dict(
            {**head_preset("pisa").to_dict(), "score_hlr_candidate_factor": None}
        )
    return head_preset(name)


def _detector(arch: str, size: int, profile: str) -> DetectorConfig:
    """The profile's detector (``tiny``, or ``fast``'s COCO layout, no weight file read)."""
    if profile == "tiny":
        return DetectorConfig(arch=arch, backbone="tiny", min_size=size, max_size=size)
    backbone = "mobilenet_v3_large_fpn" if arch == "fasterrcnn" else "resnet50_fpn"
    return DetectorConfig(arch=arch, backbone=backbone, weights="coco", min_size=size,
                          max_size=size)  # fmt: skip


def _models(size: int, num_classes: int, device: torch.device, profile: str = "tiny"
            ) -> dict[str, tuple[nn.Module, int]]:  # fmt: skip
    """name -> (model, label offset)."""
    out: dict[str, tuple[nn.Module, int]] = {}
    for arch, presets in (
        ("fasterrcnn", {p: p for p in RCNN_PRESETS}),
        ("retinanet", RETINA_PRESETS),
    ):
        det = _detector(arch, size, profile)
        for name, preset in presets.items():
            model = build_detector(det, num_classes, heads=_heads(preset), seed=0, load=False)
            out[name] = (model.to(device).train(), 1 if arch == "fasterrcnn" else 0)
    return out


def _step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    images: list,
    targets: list,
    seed: int,
    device: torch.device,
) -> tuple[float, float]:
    """One SGD step; returns (wall seconds, process CPU seconds)."""
    torch.manual_seed(seed)  # same RPN/sampler randomness for every preset
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    losses = model(images, targets)
    opt.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu_start


def _ratios(sec: dict[str, float]) -> dict[str, float]:
    out = {f"{k}/vanilla": sec[k] / sec["vanilla"] for k in RCNN_PRESETS if k != "vanilla"}
    out.update({f"{k}/focal": sec[k] / sec["focal"] for k in RETINA_PRESETS if k != "focal"})
    return out


def run(size: int, batch: int, iters: int, warmup: int, device: torch.device,
        profile: str = "tiny") -> dict[str, Any]:  # fmt: skip
    images, targets = _batch(size, batch, device)
    models = _models(size, 3, device, profile)
    opts = {
        k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, (m, _) in models.items()
    }
    shifted = {off: [{**t, "labels": t["labels"] + off} for t in targets] for off in (0, 1)}
    wall: dict[str, list[float]] = {k: [] for k in models}
    cpu: dict[str, list[float]] = {k: [] for k in models}
    for it in range(warmup + iters):
        for name, (model, off) in models.items():
            dt, dc = _step(model, opts[name], images, shifted[off], it, device)
            if it >= warmup:
                wall[name].append(dt)
                cpu[name].append(dc)
    sec = {k: statistics.median(v) for k, v in wall.items()}
    cpu_sec = {k: statistics.median(v) for k, v in cpu.items()}
    ratios, cpu_ratios = _ratios(sec), _ratios(cpu_sec)
    return {
        "benchmark": "train_step",
        "device": str(device),
        "profile": profile,
        "torch_threads": torch.get_num_threads(),
        "image_size": size,
        "batch_size": batch,
        "timed_iterations": iters,
        "seconds_per_iter": {k: round(v, 4) for k, v in sec.items()},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "cpu_seconds_per_iter": {k: round(v, 4) for k, v in cpu_sec.items()},
        "cpu_time_ratios": {k: round(v, 3) for k, v in cpu_ratios.items()},
        "targets": TARGETS,
        "meets_targets": {k: ratios[k] <= v for k, v in TARGETS.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=10, help="timed steps per preset")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument(
        "--profile",
        choices=("tiny", "fast"),
        default="tiny",
        help="fast: MobileNetV3-FPN (RetinaNet: ResNet-50-FPN), COCO layout",
    )
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.size < 32 or args.batch < 1 or args.iters < 1 or args.warmup < 0:
        parser.error("need --size >= 32, --batch >= 1, --iters >= 1, --warmup >= 0")
    result = run(
        args.size, args.batch, args.iters, args.warmup, torch.device(args.device), args.profile
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
