"""Warm start vs fresh init across active-learning cycles (issue 18, item 3).

The ``fast`` profile's detector (Faster R-CNN MobileNetV3-Large-FPN, the worker's own
profile overrides and iteration schedule) on the synthetic shapes world: a pool whose
labeled set grows by ``--budget`` random images per cycle (random selection, so the only
difference between the two arms is the initialisation). Cycle 0 trains from the same
initialisation in both arms; from cycle 1 on, ``fresh`` builds a new detector (as
``warm_start: false`` does) and ``warm`` loads the previous cycle's weights first (as
``warm_start: true`` does: the whole state, then the same schedule). mAP@0.5 is measured
on a validation split of the pool's generator (never trained on).

Without ``--coco`` the backbone is NOT pretrained (``detector.weights = "none"``): this
machine cannot download torchvision's COCO weights, so the numbers answer the question
for from-scratch training only.

``--profile tiny`` runs the same comparison with the CPU-sized from-scratch detector.

    python bench/warm_start.py --pool 60 --val 30 --size 128 --cycles 3 --seeds 0,1
    python bench/warm_start.py --seeds 0 --arm fresh --out f.json &   # the two chains in
    python bench/warm_start.py --seeds 0 --arm warm --out w.json      # parallel, then:
    python bench/warm_start.py --merge f.json w.json
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


def _config(args: argparse.Namespace, n_train: int, seed: int) -> Any:
    from models.config import TrainConfig
    from models.profiles import merged_overrides

    det = {"min_size": args.size, "max_size": args.size}
    if not args.coco:
        det["weights"] = "none"
    explicit: dict[str, Any] = {"detector": det}
    if args.iterations:
        explicit["iterations"] = args.iterations
    if args.batch_size:
        explicit["batch_size"] = args.batch_size  # lr scales with it (models.profiles)
    over = merged_overrides(args.profile, args.preset, explicit, n_train)
    over.update(seed=seed, device="cpu")
    return TrainConfig.preset(args.preset, **over)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from models.builders import build_detector
    from models.data.dataset import DetectionDataset
    from models.engine import evaluate, train
    from simulation.data import synthetic_data

    torch.set_num_threads(args.threads)
    total = args.pool + args.val
    data = synthetic_data(total, 0, args.size, val_split=args.val / total, seed=args.data_seed)
    nc = len(data.class_names)
    val = DetectionDataset(data.val, num_classes=nc)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        order = np.random.default_rng(seed).permutation(len(data.pool)).tolist()
        previous: dict[str, Any] = {}
        for cycle in range(args.cycles):
            n = min(len(order), args.initial + cycle * args.budget)
            subset = DetectionDataset([data.pool[i] for i in order[:n]], num_classes=nc,
                                      hflip_prob=0.5)  # fmt: skip
            arms = ["fresh"] if cycle == 0 else [a for a in ("fresh", "warm") if args.arm
                                                     in (a, "both")]  # fmt: skip
            for arm in arms:
                config = _config(args, n, seed * 1000 + cycle)
                model = build_detector(config, nc)
                if arm == "warm":
                    model.load_state_dict(previous["warm"])
                start = time.process_time()
                train(model, subset, config)
                cpu_s = time.process_time() - start
                metrics = evaluate(model.eval(), val, data.class_names, device="cpu")
                row = {"seed": seed, "cycle": cycle, "labeled": n, "arm": arm,
                       "iterations": config.iterations, "map50": 100 * metrics["map50"],
                       "coco_ap": 100 * metrics["coco_ap"],
                       "train_cpu_s": round(cpu_s, 1)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
                state = {k: v.clone() for k, v in model.state_dict().items()}
                if cycle == 0:
                    previous = {"fresh": state, "warm": state}
                else:
                    previous[arm] = state
    return {"setup": _setup(args, data.describe()), "rows": rows, "summary": _summary(rows)}


def _setup(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, Any]:
    return {"profile": args.profile, "preset": args.preset, "size": args.size,
            "pretrained": bool(args.coco), "seeds": args.seeds, "data": data,
            "initial": args.initial, "budget": args.budget, "cycles": args.cycles}  # fmt: skip


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean mAP@0.5 per (cycle, arm), and the mean warm − fresh difference after cycle 0."""
    out: dict[str, Any] = {}
    for r in rows:
        out.setdefault(f"cycle{r['cycle']}", {}).setdefault(r["arm"], []).append(r["map50"])
    means = {c: {a: round(sum(v) / len(v), 2) for a, v in arms.items()} for c, arms in out.items()}
    diffs = [
        w["map50"] - f["map50"]
        for w in rows if w["arm"] == "warm"
        for f in rows
        if f["arm"] == "fresh" and (f["seed"], f["cycle"]) == (w["seed"], w["cycle"])
    ]  # fmt: skip
    return {"map50": means, "warm_minus_fresh": round(sum(diffs) / max(1, len(diffs)), 2),
            "pairs": len(diffs)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", choices=("fast", "tiny"), default="fast")
    p.add_argument("--pool", type=int, default=60)
    p.add_argument("--val", type=int, default=30)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--initial", type=int, default=20)
    p.add_argument("--budget", type=int, default=20)
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1])
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--preset", default="huale", help="the pools' default preset")
    p.add_argument("--iterations", type=int, default=0,
                   help="fixed iterations (default: the fast profile's schedule)")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=0, help="default: the fast profile's")
    p.add_argument("--coco", action="store_true", help="COCO-pretrained (needs the weights)")
    p.add_argument(
        "--arm",
        choices=("both", "fresh", "warm"),
        default="both",
        help="one chain only (run the two in parallel; cycle 0 is the same)",
    )
    p.add_argument("--merge", type=Path, nargs="*", help="summarise --out files of runs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, help="write the JSON result here")
    args = p.parse_args(argv)
    if args.merge:
        parts = [json.loads(f.read_text()) for f in args.merge]
        seen: dict[tuple[int, int, str], dict[str, Any]] = {}
        for r in (r for part in parts for r in part["rows"]):
            seen.setdefault((r["seed"], r["cycle"], r["arm"]), r)  # cycle 0: in both runs
        merged = [seen[k] for k in sorted(seen)]
        print(json.dumps({"rows": merged, "summary": _summary(merged)}, indent=1))
        return
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text)
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
