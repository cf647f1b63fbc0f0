"""Scoring-speed benchmark: HUALE (``hua``) scores vs 2 x plain inference.

ratio = time to produce hua selection scores for N images (flip-view inference with probs
and log-variances, conversion, the four metrics, retrieval + ranking) divided by the time
of 2 x plain ``model(images)`` inference on the same images with the same model and batch
size. Target: <= 1.10 on CPU. Plain and hua passes are interleaved and repeated; the
reported ratio is the median of the paired per-repeat ratios (robust to other processes on
a shared machine); ``cpu_time_ratio`` uses process CPU time instead of wall time.

    python bench/score.py [--n 64] [--batch-size 8] [--size 128] [--repeats 5]

Prints one JSON object: timings in seconds, the ratio, and where hua's time goes.
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
from models.builders import build_detector  # noqa: E402
from models.config import TrainConfig  # noqa: E402
from models.data.synthetic import generate  # noqa: E402
from models.engine import train  # noqa: E402
from models.inference import predict  # noqa: E402
from worker.pipeline.modelling import to_image_prediction  # noqa: E402


def plain_inference(
    model: torch.nn.Module, images: list[torch.Tensor], batch: int
) -> tuple[float, float]:
    """(wall, process CPU) seconds for ``model(images)`` in eval mode, ``batch`` per pass."""
    start, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            model(images[i:i + batch])
    return time.perf_counter() - start, time.process_time() - cpu


def hua_scores(
    model: torch.nn.Module, images: list[torch.Tensor], batch: int, budget: int,
    num_classes: int,
) -> dict[str, float]:
    """Seconds per stage of producing hua's selection for ``images`` (+ total CPU time)."""
    strategy = get_strategy("hua")
    req = strategy.requirements
    views = ["orig", *sorted(v for v in req.views if v != "orig")]
    cpu = time.process_time()
    t0 = time.perf_counter()
    raw = predict(model, images, list(range(len(images))), views=views, batch_size=batch,
                  embedding=req.embedding)
    t1 = time.perf_counter()
    preds = [to_image_prediction(r) for r in raw]
    t2 = time.perf_counter()
    context = ScoringContext(num_classes=num_classes)
    records = strategy.score_images(preds, context)
    t3 = time.perf_counter()
    strategy.select(records, budget, context, rng=0)
    t4 = time.perf_counter()
    dets = sum(len(p.original) for p in preds) / max(1, len(preds))
    return {"total": t4 - t0, "cpu": time.process_time() - cpu, "inference": t1 - t0,
            "convert": t2 - t1,
            "metrics": t3 - t2, "select": t4 - t3, "detections_per_image": dets}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64, help="images scored")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--size", type=int, default=128, help="image side in pixels")
    ap.add_argument("--preset", default="huale", help="training preset (huale has the σ head)")
    ap.add_argument("--train-iters", type=int, default=60,
                    help="short training first so detections look realistic (0 = untrained)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    classes = ("circle", "square", "triangle", "diamond")
    cfg = TrainConfig.preset(args.preset, iterations=max(1, args.train_iters), batch_size=8,
                             device=args.device, seed=0,
                             detector={"min_size": args.size, "max_size": args.size})
    model = build_detector(cfg, len(classes))
    if args.train_iters > 0:
        train(model, generate(64, size=args.size, classes=classes, seed=1, as_tensor=True),
              cfg)
    model = model.to(args.device).eval()
    images = [s["image"].to(args.device) for s in
              generate(args.n, size=args.size, classes=classes, seed=2, as_tensor=True)]
    budget = max(1, args.n // 8)
    plain_inference(model, images[: args.batch_size], args.batch_size)  # warm-up
    hua_scores(model, images[: args.batch_size], args.batch_size, 1, len(classes))
    plain, hua = [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        plain.append(plain_inference(model, images, args.batch_size))
        hua.append(hua_scores(model, images, args.batch_size, budget, len(classes)))
    plain_s = statistics.median(p[0] for p in plain)
    plain_cpu = statistics.median(p[1] for p in plain)
    parts = {k: statistics.median(h[k] for h in hua) for k in hua[0]}
    result = {
        "benchmark": "hua scoring time / (2 x plain inference)",
        "device": args.device, "threads": args.threads, "n_images": args.n,
        "batch_size": args.batch_size, "image_size": args.size, "preset": args.preset,
        "repeats": args.repeats,
        "plain_inference_s": round(plain_s, 4),
        "hua_total_s": round(parts["total"], 4),
        # median of the paired (interleaved) per-repeat ratios
        "ratio": round(statistics.median(h["total"] / (2 * p[0])
                                         for h, p in zip(hua, plain, strict=True)), 4),
        "target": 1.10,
        "hua_breakdown_s": {k: round(parts[k], 4) for k in  # medians per stage
                            ("inference", "convert", "metrics", "select")},
        "inference_ratio": round(parts["inference"] / (2 * plain_s), 4),
        "detections_per_image": round(parts["detections_per_image"], 1),
        "cpu_time_ratio": round(parts["cpu"] / (2 * plain_cpu), 4),
        "ratio_per_repeat": [round(h["total"] / (2 * p[0]), 4)
                             for h, p in zip(hua, plain, strict=True)],
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
