"""Training-loss study on a validation split: one preset / head variant, several seeds.

Trains a fresh detector on ``--labelled`` random pool images per seed (a different random
set per seed) with the ``bench/label_efficiency.py`` profile's detector and schedule, and
prints JSON with the validation mAP@0.5 / COCO AP per seed and their means. The synthetic
data come from ``--data-seed`` with ``--val-split`` held out; there is no test set, so
nothing here can be tuned on it. This produced the HUALE loss table in docs/simulate.md:

    python bench/loss_study.py --preset vanilla
    python bench/loss_study.py --preset huale --heads '{"emphasis_negatives": "mean"}'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.label_efficiency import PROFILES, loop_options, settings, synthetic_world  # noqa: E402
from models.config import merge_overrides  # noqa: E402
from simulation.spec import parse_seeds  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    ap.add_argument("--preset", default="huale")
    ap.add_argument(
        "--heads",
        type=json.loads,
        default=None,
        help="JSON HeadConfig overrides merged onto the preset's heads",
    )
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--labelled", type=int, default=60, help="random pool images per seed")
    ap.add_argument("--pool", type=int, default=400, help="images generated (pool + val)")
    ap.add_argument("--val-split", type=float, default=0.4)
    ap.add_argument("--data-seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    prof = settings(args.profile)

    import numpy as np
    import torch

    from simulation.backend import TorchBackend
    from simulation.data import synthetic_data

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data = synthetic_data(
        args.pool,
        0,
        prof["size"],
        val_split=args.val_split,
        seed=args.data_seed,
        **synthetic_world(prof),
    )
    if not data.val or args.labelled > len(data.pool):
        ap.error(f"need a validation split and --labelled <= {len(data.pool)} pool images")
    loop = loop_options(prof)
    overrides = merge_overrides(prof["train_overrides"], {"heads": args.heads or {}})
    backend = TorchBackend(data, loop, overrides)
    runs = []
    for seed in parse_seeds(args.seeds):
        ids = np.random.default_rng(1000 + seed).permutation(len(data.pool))[: args.labelled]
        start = time.perf_counter()
        model = backend.train(args.preset, ids.tolist(), seed, lambda _it, _total: None)
        metrics = backend.evaluate(model)
        runs.append(
            {
                "seed": seed,
                "val_map50": round(float(metrics["val_map50"]), 2),
                "val_coco_ap": round(float(metrics["val_coco_ap"]), 2),
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    out = {
        "benchmark": "training-loss study (validation split)",
        "profile": args.profile,
        "preset": args.preset,
        "heads": args.heads or {},
        "labelled": args.labelled,
        "data": data.describe(),
        "runs": runs,
        "mean_val_map50": round(float(np.mean([r["val_map50"] for r in runs])), 2),
        "mean_val_coco_ap": round(float(np.mean([r["val_coco_ap"] for r in runs])), 2),
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
