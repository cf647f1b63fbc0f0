"""Scoring-speed benchmark: HUALE (``hua``) two-pass scoring vs one plain inference pass.

ratio = time to produce hua's selection for a pool of N images the way the pipeline does it
(pass 1: original view over the pool + retrieval entropy; retrieval of P = 3 x budget
candidates; pass 2: original + flip views with the sigma head over the P candidates + the
four metrics; merge; ranking) divided by one plain ``model(images)`` pass over the same
images with the same model and batch size. Target: <= 1.15 on CPU (the inference alone is
bounded by 1 + 2P/N: pass 2 re-runs the original view next to the flip). ``one_pass_ratio``
is the old way (both views of every image) for comparison. Plain and hua runs are
interleaved and repeated; ratios are medians of the paired per-repeat ratios.

    python bench/score.py --pool 2000 --budget 20 [--batch-size 8] [--size 128] [--repeats 3]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from acquisition.records import ScoringContext  # noqa: E402
from acquisition.registry import get_strategy  # noqa: E402
from acquisition.types import to_image_prediction  # noqa: E402
from models.builders import build_detector  # noqa: E402
from models.config import TrainConfig  # noqa: E402
from models.data.synthetic import generate  # noqa: E402
from models.engine import train  # noqa: E402
from models.inference import detection_limits, predict  # noqa: E402


def plain_inference(
    model: torch.nn.Module, images: list[torch.Tensor], batch: int
) -> tuple[float, float]:
    """Wall seconds for ``model(images)`` in eval mode, ``batch`` per forward, with the
    post-processing limits scoring uses (score >= 0.05, at most 100 detections), and the
    process CPU seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode(), detection_limits(model, 0.05, 100):
        for i in range(0, len(images), batch):
            model(images[i : i + batch])
    return time.perf_counter() - start, time.process_time() - cpu


def _infer(model: Any, images: list[torch.Tensor], ids: list[int], req: Any, batch: int) -> list:
    views = ["orig", *sorted(v for v in req.views if v != "orig")]
    raw = predict(model, images, ids, views=views, batch_size=batch, embedding=req.embedding)
    return [to_image_prediction(r) for r in raw]


def hua_two_pass(
    model: torch.nn.Module, images: list[torch.Tensor], batch: int, budget: int, classes: int
) -> dict[str, float]:
    """Seconds per step of hua's two-pass selection over ``images``."""
    strategy, ctx = get_strategy("hua"), ScoringContext(num_classes=classes)
    first_req, second_req = strategy.pass_requirements
    cpu, t0 = time.process_time(), time.perf_counter()
    first = strategy.score_pass(0, _infer(model, images, list(range(len(images))), first_req,
                                          batch), ctx)  # fmt: skip
    t1 = time.perf_counter()
    wanted = sorted(strategy.retrieve_ids(first, budget, ctx, 0))
    t2 = time.perf_counter()
    preds = _infer(model, [images[i] for i in wanted], wanted, second_req, batch)
    second = strategy.score_pass(1, preds, ctx)
    t3 = time.perf_counter()
    strategy.select(strategy.merge_passes(first, second), budget, ctx, 0)
    t4 = time.perf_counter()
    return {"total": t4 - t0, "cpu": time.process_time() - cpu, "pass1": t1 - t0,
            "retrieval": t2 - t1, "pass2": t3 - t2, "select": t4 - t3,
            "candidates": len(wanted)}  # fmt: skip


def hua_one_pass(
    model: torch.nn.Module, images: list[torch.Tensor], batch: int, budget: int, classes: int
) -> float:
    """Seconds of the single-pass way: every view of every image, then selection."""
    strategy, ctx = get_strategy("hua"), ScoringContext(num_classes=classes)
    t0 = time.perf_counter()
    preds = _infer(model, images, list(range(len(images))), strategy.requirements, batch)
    strategy.select(strategy.score_images(preds, ctx), budget, ctx, 0)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", "--n", type=int, default=2000, help="images scored (N)")
    ap.add_argument("--budget", type=int, default=20, help="images selected (B); P = 3 B")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--size", type=int, default=128, help="image side in pixels")
    ap.add_argument("--preset", default="huale", help="training preset (huale has the σ head)")
    ap.add_argument(
        "--train-iters",
        type=int,
        default=60,
        help="short training first so detections look realistic (0 = untrained)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-one-pass", action="store_true", help="skip the single-pass reference")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    classes = ("circle", "square", "triangle", "diamond")
    cfg = TrainConfig.preset(
        args.preset,
        iterations=max(1, args.train_iters),
        batch_size=8,
        device=args.device,
        seed=0,
        detector={"min_size": args.size, "max_size": args.size},
    )
    model = build_detector(cfg, len(classes))
    if args.train_iters > 0:
        train(model, generate(64, size=args.size, classes=classes, seed=1, as_tensor=True), cfg)
    model = model.to(args.device).eval()
    images = [
        s["image"].to(args.device)
        for s in generate(args.pool, size=args.size, classes=classes, seed=2, as_tensor=True)
    ]
    warm = images[: args.batch_size]
    plain_inference(model, warm, args.batch_size)
    hua_two_pass(model, warm, args.batch_size, 1, len(classes))
    plain, two, one = [], [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        plain.append(plain_inference(model, images, args.batch_size))
        two.append(hua_two_pass(model, images, args.batch_size, args.budget, len(classes)))
        if not args.no_one_pass:
            one.append(hua_one_pass(model, images, args.batch_size, args.budget, len(classes)))
    med = statistics.median
    parts = {k: med(h[k] for h in two) for k in two[0]}
    p = int(parts["candidates"])
    result: dict[str, Any] = {
        "benchmark": "hua two-pass scoring time / one plain inference pass",
        "device": args.device, "threads": args.threads, "pool": args.pool,
        "budget": args.budget, "retrieved": p, "batch_size": args.batch_size,
        "image_size": args.size, "preset": args.preset, "repeats": args.repeats,
        "plain_inference_s": round(med(t for t, _ in plain), 3),
        "hua_two_pass_s": round(parts["total"], 3),
        "ratio": round(med(h["total"] / t for h, (t, _) in zip(two, plain, strict=True)), 4),
        # process CPU time: robust to other processes on a shared machine (1 thread)
        "cpu_time_ratio": round(med(h["cpu"] / c for h, (_, c) in zip(two, plain, strict=True)), 4),
        "target": 1.15,
        "inference_bound": round(1 + 2 * p / args.pool, 4),
        "two_pass_breakdown_s": {k: round(parts[k], 4)
                                 for k in ("pass1", "retrieval", "pass2", "select")},
        "ratio_per_repeat": [round(h["total"] / t, 4)
                             for h, (t, _) in zip(two, plain, strict=True)],
    }  # fmt: skip
    if one:
        result["hua_one_pass_s"] = round(med(one), 3)
        result["one_pass_ratio"] = round(
            med(o / t for o, (t, _) in zip(one, plain, strict=True)), 4
        )
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
