"""Backtest validity: does a backtest on 200 labelled images pick the strategy that then
wins real active learning on a held-out test split? (issue 22)

Per data seed, one synthetic shapes world (the ``bench/label_efficiency.py`` world, its
validation-split setup) is generated: a pool whose validation split of ``labeled`` images
plays the pool's existing labels, and a separate held-out test set (its own generator
seed). Then:

1. **Backtest** (the engine of ``POST /pools/{id}/backtests``): the labelled images are
   split into a replay pool and a test part (``replay_split``, seed 0 like the job), every
   strategy is replayed over ``--bt-seeds``, and ``stats.recommend`` (every strategy is a
   reference) names a strategy or says "no difference detected at this size".
2. **Real active learning** on the rest of the pool (unlabelled, larger) with the same
   strategies and schedule over ``--sim-seeds``, evaluated on the held-out test set: the
   winner is the best mean mAP@0.5 after the first cycle; ``winner_decisive`` says whether
   it beats every other strategy beyond noise (the same paired test).

Verdict per data seed: ``agree`` (recommendation = test winner), ``wrong`` (it named
another) or ``abstained`` (no recommendation); ``point_estimate_agrees`` also compares the
backtest's best mean when it abstained. Prints JSON (``--out`` writes it too).

    nice -n 10 env OMP_NUM_THREADS=1 python bench/backtest_validity.py --data-seeds 0 --out v0.json
    python bench/backtest_validity.py --profile smoke        # plumbing only, seconds
    python bench/backtest_validity.py --merge a.json b.json  # one process per data seed
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

from bench.label_efficiency import CPU_DETECTOR  # noqa: E402

# --- the simulation engine: every import from it is here (its package may move) ---------
from simulation.backend import TorchBackend  # noqa: E402
from simulation.backtest import check_size, replay_split, run_backtest  # noqa: E402
from simulation.data import SimulationData, synthetic_data  # noqa: E402
from simulation.loop import Oracle, Simulation, check_runs  # noqa: E402
from simulation.report import summarize  # noqa: E402
from simulation.spec import LoopOptions, parse_seeds, parse_strategies  # noqa: E402
from simulation.stats import recommend  # noqa: E402

PROFILES: dict[str, dict[str, Any]] = {
    # the measured CPU run (docs/backtests.md), sized for a shared 2-core machine: the
    # detectors barely learn in 60 steps. 2 seeds x 3 rounds = 6 paired differences per
    # comparison, the fewest with which the sign test can be decisive at 95 %
    "tiny": {
        "labeled": 200,
        "bt_test": 60,
        "pool": 300,
        "test": 80,
        "size": 64,
        "initial": 20,
        "budget": 20,
        "rounds": 3,
        "iterations": 60,
        "batch_size": 4,
        "lr": 0.04,
        "score_subset": 80,
        "object_scale": (0.25, 0.5),
        "bt_seeds": "0,1",
        "sim_seeds": "0,1",
        "train_overrides": {"detector": CPU_DETECTOR},
        "device": "cpu",
    },
    # seconds; checks the plumbing only (one seed x two rounds never decides)
    "smoke": {
        "labeled": 30,
        "bt_test": 8,
        "pool": 24,
        "test": 8,
        "size": 32,
        "initial": 4,
        "budget": 4,
        "rounds": 2,
        "iterations": 2,
        "batch_size": 2,
        "lr": None,
        "score_subset": None,
        "object_scale": None,
        "bt_seeds": "0",
        "sim_seeds": "0",
        "train_overrides": {},
        "device": "cpu",
    },
}
VERDICTS = ("agree", "abstained", "wrong")


def verdict(recommendation: str | None, winner: str) -> str:
    """``abstained`` without a recommendation, else ``agree`` / ``wrong`` against the test
    split's winner."""
    if recommendation is None:
        return "abstained"
    return "agree" if recommendation == winner else "wrong"


def tally(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts over data seeds: each verdict (they sum to the seeds), how often the
    backtest's best mean matched the test winner, how often that winner was decisive."""
    out: dict[str, Any] = {"data_seeds": len(per_seed)}
    for v in VERDICTS:
        out[v] = sum(1 for s in per_seed if s["verdict"] == v)
    out["point_estimate_agrees"] = sum(1 for s in per_seed if s["point_estimate_agrees"])
    out["test_winner_decisive"] = sum(1 for s in per_seed if s["test"]["winner_decisive"])
    return out


def _options(prof: dict[str, Any], seeds: str) -> LoopOptions:
    return LoopOptions(
        initial=prof["initial"], budget=prof["budget"], cycles=prof["rounds"] + 1,
        seeds=parse_seeds(seeds), iterations=prof["iterations"],
        batch_size=prof["batch_size"], image_size=prof["size"], lr=prof["lr"],
        device=prof["device"], score_subset=prof["score_subset"],
    )  # fmt: skip


def _decision(rows: list[dict[str, Any]], labels: list[str], budget: int) -> dict[str, Any]:
    """``recommend`` with every run as a reference, plus the ranking by mean after first."""
    d = recommend(rows, labels, labels, budget)
    ranking = sorted(d["means"].items(), key=lambda kv: (-kv[1], kv[0]))  # ties: as `best`
    return {
        "recommendation": d["recommendation"], "best": d["best"], "reason": d["reason"],
        "ranking": [[run, round(m, 3)] for run, m in ranking],
        "extra_labels_needed": d.get("extra_labels_needed"),
        "comparisons": [
            {"a": c["a"], "b": c["b"], "pairs": c["pairs"],
             "mean_difference": round(c["mean_difference"], 3),
             "interval": [round(x, 3) for x in c["interval"]],
             "wins": c["wins"], "losses": c["losses"], "p_value": round(c["p_value"], 4),
             "decisive": c["decisive"]}
            for c in d["comparisons"]
        ],
    }  # fmt: skip


def world(prof: dict[str, Any], data_seed: int) -> tuple[SimulationData, SimulationData]:
    """``(labelled images as the backtest's data, unlabelled pool + held-out test)``."""
    total = prof["pool"] + prof["labeled"]
    over = {"scale": tuple(prof["object_scale"])} if prof["object_scale"] else {}
    data = synthetic_data(total, prof["test"], prof["size"], prof["labeled"] / total,
                          seed=data_seed, **over)  # fmt: skip
    replay, held = replay_split(data.val, prof["bt_test"], seed=0)
    labeled = SimulationData(data.class_names, replay, [], held, source="labelled split")
    real = SimulationData(data.class_names, data.pool, [], data.test, source=data.source)
    return labeled, real


def one_seed(prof: dict[str, Any], specs: list[Any], data_seed: int) -> dict[str, Any]:
    """Backtest, then real active learning, on data seed ``data_seed``."""
    labels = [s.label for s in specs]
    labeled, real = world(prof, data_seed)
    over = prof["train_overrides"]
    start = time.perf_counter()
    bt_opts = _options(prof, prof["bt_seeds"])
    bt = run_backtest(labeled, specs, bt_opts, lambda d: TorchBackend(d, bt_opts, over),
                      references=labels)  # fmt: skip
    bt_s = time.perf_counter() - start
    start = time.perf_counter()
    sim_opts = _options(prof, prof["sim_seeds"])
    oracle = Oracle([e.get("labels", []) for e in real.pool], len(real.class_names))
    sim = Simulation(specs, sim_opts, TorchBackend(real, sim_opts, over), oracle)
    rows = [r.to_dict() for r in sim.run()]
    sim_s = time.perf_counter() - start
    backtest = _decision(bt["rows"], labels, prof["budget"])
    test = _decision(rows, labels, prof["budget"])
    curves = summarize(rows, "map50")
    return {
        "data_seed": data_seed,
        "data": {"replay": len(labeled.pool), "backtest_test": len(labeled.test),
                 "unlabeled_pool": len(real.pool), "test": len(real.test)},
        "backtest": backtest,
        "test": {**test, "winner": test["best"],
                 "winner_decisive": test["recommendation"] is not None,
                 "curves": {run: {"labeled": s["labeled"],
                                  "mean": [round(x, 2) for x in s["mean"]]}
                            for run, s in curves.items()}},
        "verdict": verdict(backtest["recommendation"], test["best"]),
        "point_estimate_agrees": backtest["best"] == test["best"],
        "seconds": {"backtest": round(bt_s, 1), "simulation": round(sim_s, 1)},
    }  # fmt: skip


def report(prof: dict[str, Any], strategies: str, per_seed: list[dict[str, Any]],
           seconds: float) -> dict[str, Any]:  # fmt: skip
    return {
        "benchmark": "backtest validity (synthetic shapes, tiny Faster R-CNN)",
        "settings": {**prof, "strategies": strategies},
        "metric": "mAP@0.5 (VOC all-point, %), mean over cycles after the first",
        "per_seed": per_seed,
        "overall": tally(per_seed),
        "seconds": round(seconds, 1),
    }


def merge(paths: list[Path]) -> dict[str, Any]:
    """One report from several outputs (e.g. one process per data seed)."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    per_seed = sorted((s for p in parts for s in p["per_seed"]), key=lambda s: s["data_seed"])
    seeds = [s["data_seed"] for s in per_seed]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"the merged files repeat a data seed: {seeds}")
    settings = {k: v for k, v in parts[0]["settings"].items() if k != "strategies"}
    out = report(settings, parts[0]["settings"]["strategies"], per_seed,
                 sum(p["seconds"] for p in parts))  # fmt: skip
    out["merged_from"] = [str(p) for p in paths]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="tiny")
    ap.add_argument("--strategies", default="random,entropy")
    ap.add_argument("--data-seeds", default="0,1,2")
    for key in ("labeled", "bt_test", "pool", "test", "size", "initial", "budget", "rounds",
                "iterations", "batch_size", "score_subset"):  # fmt: skip
        ap.add_argument(f"--{key.replace('_', '-')}", type=int, default=None)
    ap.add_argument("--bt-seeds", default=None, help="backtest seeds, e.g. 0,1")
    ap.add_argument("--sim-seeds", default=None, help="real active-learning seeds")
    ap.add_argument("--device", default=None, help="torch device (default cpu), e.g. cuda")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--merge", type=Path, nargs="+", default=None)
    args = ap.parse_args(argv)
    if args.merge:
        out = merge(args.merge)
    else:
        prof = dict(PROFILES[args.profile])
        prof.update({k: v for k, v in vars(args).items() if k in prof and v is not None})
        try:
            specs = parse_strategies(args.strategies, "vanilla")
            check_runs(specs)
            seeds = parse_seeds(args.data_seeds)
            _options(prof, prof["bt_seeds"]), _options(prof, prof["sim_seeds"])
            check_size(prof["labeled"], prof["initial"], prof["budget"], prof["rounds"],
                       prof["bt_test"])  # fmt: skip
        except ValueError as exc:
            ap.error(str(exc))
        import torch

        torch.set_num_threads(args.threads)
        start = time.perf_counter()
        per_seed = [one_seed(prof, specs, d) for d in seeds]
        out = report(prof, args.strategies, per_seed, time.perf_counter() - start)
    text = json.dumps(out, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return out


if __name__ == "__main__":
    main()
