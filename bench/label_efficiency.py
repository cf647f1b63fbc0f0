"""Label-efficiency benchmark: HUALE vs baselines on the synthetic shapes world.

Runs ``alp simulate`` in-process with these curves (3 seeds by default):

* ``random:vanilla``, ``entropy:vanilla``, ``cald:vanilla``  (baselines, stock losses)
* ``hua:huale``        (HUALE selection + HUALE training losses)
* ``random:huale``     (ablation: HUALE losses only)
* ``hua:vanilla``      (ablation: HUALE selection only)

``--budget-strategies`` adds ``typiclust:vanilla`` (low-budget TypiClust) and
``auto:vanilla`` (typiclust while a class has fewer than 20 labelled images, then hua;
each row's ``strategy_used`` says which selected); any other mix goes through ``--runs``,
e.g. ``--runs "random:vanilla,hua:vanilla,typiclust:vanilla,auto{min_images_per_class=6}:vanilla"``.

and prints JSON: mAP@0.5 per cycle (mean, std over seeds), the mean over cycles, the mean
over cycles after the first, the area under the learning curve, and the target checks
(hua:huale >= random:vanilla + 3 mAP after the first cycle; hua:vanilla above random and
entropy). mAP is measured on a separate held-out synthetic test set (its own generator
seed); nothing is tuned on it. ``--val-split`` adds a validation split for investigations.

    python bench/label_efficiency.py --seeds 0       # CPU size, one seed (~28 min, 1 thread)
    python bench/label_efficiency.py --profile gpu   # bigger, for a GPU machine
    python bench/label_efficiency.py --hua-metric-ablation   # + one hua run per metric
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.config import merge_overrides  # noqa: E402
from simulation.spec import LoopOptions, RunSpec, parse_seeds  # noqa: E402

RUNS = (
    ("random", "vanilla"),
    ("entropy", "vanilla"),
    ("cald", "vanilla"),
    ("hua", "huale"),
    ("random", "huale"),
    ("hua", "vanilla"),
)
BUDGET_RUNS = (("typiclust", "vanilla"), ("auto", "vanilla"))
HUA_METRICS = (
    "semantic_affinity",
    "category_diversity",
    "overlap_ratio",
    "localization_uncertainty",
)
# The tiny detector's RPN / RoI sizes cut to what 96 px images with 1-5 objects need: half
# the cost per step of the defaults, so the CPU profile affords 800 steps (see README).
CPU_DETECTOR = {
    "rois_per_image": 64,
    "rpn_pre_nms_top_n_train": 400,
    "rpn_post_nms_top_n_train": 150,
    "rpn_pre_nms_top_n_test": 300,
    "rpn_post_nms_top_n_test": 100,
}
PROFILES: dict[str, dict[str, Any]] = {
    # one seed ~28 min single-threaded (3 in parallel on the 2-core CPU); merge with --merge
    "cpu": {
        "pool": 240,
        "test": 150,
        "size": 96,
        "initial": 30,
        "budget": 30,
        "cycles": 3,
        "iterations": 800,
        "batch_size": 4,
        "device": "cpu",
        "lr": 0.04,
        "score_subset": 120,
        "object_scale": (0.25, 0.5),
        "train_overrides": {"detector": CPU_DETECTOR},
    },
    "gpu": {
        "pool": 2000,
        "test": 500,
        "size": 128,
        "initial": 100,
        "budget": 100,
        "cycles": 6,
        "iterations": 600,
        "batch_size": 16,
        "device": "cuda",
        "lr": None,
        "score_subset": None,
        "object_scale": None,
        "train_overrides": {},
    },
    # seconds; checks the plumbing only
    "smoke": {
        "pool": 24,
        "test": 8,
        "size": 48,
        "initial": 4,
        "budget": 4,
        "cycles": 2,
        "iterations": 2,
        "batch_size": 2,
        "device": "cpu",
        "lr": None,
        "score_subset": None,
        "object_scale": None,
        "train_overrides": {},
    },
}


def settings(profile: str, **given: Any) -> dict[str, Any]:
    """The profile's settings with the options ``given`` (``None`` = not given) applied;
    ``train_overrides`` are merged onto the profile's (``detector`` / ``heads`` key by key)."""
    prof = dict(PROFILES[profile])
    for key, value in given.items():
        if value is None or key not in prof:
            continue
        if key == "train_overrides":
            prof[key] = merge_overrides(prof[key], value)
        elif key == "object_scale" and isinstance(value, str):
            lo, hi = (float(v) for v in value.split(","))
            prof[key] = (lo, hi)
        else:
            prof[key] = value
    return prof


def loop_options(prof: dict[str, Any], **extra: Any) -> LoopOptions:
    """The profile's training schedule (detector size, steps, lr, device) as ``LoopOptions``;
    ``extra`` sets the loop's other fields (initial, budget, cycles, seeds, ...)."""
    return LoopOptions(
        iterations=prof["iterations"],
        batch_size=prof["batch_size"],
        image_size=prof["size"],
        lr=prof["lr"],
        device=prof["device"],
        **extra,
    )


def synthetic_world(prof: dict[str, Any]) -> dict[str, Any]:
    """The profile's overrides of the synthetic generator (``object_scale`` -> ``scale``)."""
    return {"scale": tuple(prof["object_scale"])} if prof["object_scale"] else {}


LABEL = re.compile(
    r"^(?P<name>\w+)(?:\[(?P<metrics>[^\]]*)\])?(?:\{(?P<params>[^}]*)\})?:(?P<preset>\w+)$"
)


def _label_params(text: str, label: str) -> dict[str, Any]:
    """``key=value;key=value`` -> dict; values are JSON scalars, else plain strings."""
    out: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in text.split(";"))):
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"run {label!r}: {item!r} is not key=value")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw.strip()
    return out


def spec_for_label(label: str, hua_params: dict[str, Any] | None = None) -> RunSpec:
    """A run from its label: ``strategy:preset``; ``hua[metric+metric]:preset`` ranks hua by
    those metrics only; ``strategy{key=value;...}:preset`` sets that run's parameters (values
    parsed as JSON, e.g. ``hua{retrieval_factor=1.5;normalization=rank}:vanilla``). Every hua
    run gets ``hua_params`` first; ``ValueError`` for a label without a preset, brackets on
    another strategy, a malformed parameter or an unknown preset."""
    m = LABEL.match(label)
    if m is None:
        raise ValueError(
            f"run {label!r} is not strategy:preset "
            "(or strategy[metric+metric]{key=value;...}:preset)"
        )
    name, metrics = m["name"], m["metrics"]
    params = dict(hua_params or {}) if name == "hua" else {}
    if metrics is not None:
        if name != "hua" or not metrics:
            raise ValueError(f"run {label!r}: only hua takes [metric+metric]")
        params["metrics"] = metrics.split("+")
    if m["params"] is not None:
        params.update(_label_params(m["params"], label))
    return RunSpec(strategy=name, preset=m["preset"], params=params, label=label)


def run_specs(
    metric_ablation: bool, hua_params: dict[str, Any] | None = None, budget_strategies: bool = False
) -> list[RunSpec]:
    labels = [f"{s}:{p}" for s, p in RUNS]
    if budget_strategies:
        labels += [f"{s}:{p}" for s, p in BUDGET_RUNS]
    if metric_ablation:
        labels += [f"hua[{m}]:vanilla" for m in HUA_METRICS]
    return [spec_for_label(label, hua_params) for label in labels]


def _after_first(summary: dict[str, Any], run: str) -> float | None:
    return summary[run]["mean_after_first"] if run in summary else None


def targets(summary: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's target checks on the mAP@0.5 summary (``None`` if a run is absent)."""
    base = _after_first(summary, "random:vanilla")
    hua = _after_first(summary, "hua:huale")
    sel = _after_first(summary, "hua:vanilla")
    ent = _after_first(summary, "entropy:vanilla")
    loss = _after_first(summary, "random:huale")

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a - b, 3)

    typi = _after_first(summary, "typiclust:vanilla")
    auto = _after_first(summary, "auto:vanilla")
    out = {
        "typiclust_minus_random": diff(typi, base),
        "typiclust_minus_hua_selection": diff(typi, sel),
        "auto_minus_hua_selection": diff(auto, sel),
        "hua_huale_minus_random": diff(hua, base),
        "hua_selection_minus_random": diff(sel, base),
        "hua_selection_minus_entropy": diff(sel, ent),
        "huale_losses_minus_random": diff(loss, base),
    }
    out["hua_huale_ge_random_plus_3"] = (
        None if out["hua_huale_minus_random"] is None else out["hua_huale_minus_random"] >= 3.0
    )
    out["hua_selection_above_random_and_entropy"] = (
        None
        if None in (out["hua_selection_minus_random"], out["hua_selection_minus_entropy"])
        else out["hua_selection_minus_random"] > 0 and out["hua_selection_minus_entropy"] > 0
    )
    return out


def strategies_used(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per run: how many selections each strategy made (``auto`` switches over cycles)."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.get("strategy_used"):
            per = out.setdefault(r["run"], {})
            per[r["strategy_used"]] = per.get(r["strategy_used"], 0) + 1
    return out


def merge(paths: list[Path], out_dir: Path, docs: bool) -> dict[str, Any]:
    """Summary + targets over the rows of several ``label_efficiency.json`` files; writes
    the merged CSV/JSON/PNG into ``out_dir`` (and the PNG into docs/ with ``docs``)."""
    from simulation.report import summarize, write_outputs

    rows: list[dict[str, Any]] = []
    configs = []
    for path in paths:
        payload = json.loads(Path(path).read_text())
        rows.extend(payload["rows"])
        configs.append(payload["config"])
    keys = {(r["run"], r["seed"], r["cycle"]) for r in rows}
    if len(keys) != len(rows):
        raise SystemExit("the merged files repeat a (run, seed, cycle)")
    maps = summarize(rows, "map50")
    out = {
        "benchmark": "label efficiency (merged)",
        "files": [str(p) for p in paths],
        "loop": {**configs[0]["loop"], "seeds": sorted({r["seed"] for r in rows})},
        "data": configs[0]["data"],
        "seeds": sorted({r["seed"] for r in rows}),
        "metric": "mAP@0.5 (VOC all-point, %) on the held-out test set",
        "map50": maps,
        "coco_ap": {
            run: {k: s[k] for k in ("mean", "mean_after_first", "aulc")}
            for run, s in summarize(rows, "coco_ap").items()
        },
        "targets": targets(maps),
        "seconds": sum(c.get("seconds", 0.0) for c in configs),
    }
    written = write_outputs(
        rows, out_dir, {**configs[0], "merged_from": out["files"]}, stem="label_efficiency"
    )
    out["merged_files"] = {k: str(v) for k, v in written.items()}
    if docs and "png" in written:
        shutil.copyfile(written["png"], ROOT / "docs" / "label_efficiency.png")
    print(json.dumps(out, indent=2))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    for key in ("pool", "test", "size", "initial", "budget", "cycles", "iterations", "batch_size"):
        ap.add_argument(
            f"--{key.replace('_', '-')}",
            type=int,
            default=None,
            help=f"override the profile's {key}",
        )
    ap.add_argument("--device", default=None)
    ap.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: the profile's, else the preset's)",
    )
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--val-split", type=float, default=0.0)
    ap.add_argument(
        "--object-scale",
        default=None,
        help="synthetic object side range as fractions, e.g. 0.2,0.5",
    )
    ap.add_argument(
        "--hua-metric-ablation",
        action="store_true",
        help="add hua:vanilla runs that rank by one metric each",
    )
    ap.add_argument(
        "--budget-strategies",
        action="store_true",
        help="add typiclust:vanilla and auto:vanilla runs",
    )
    ap.add_argument(
        "--hua-params",
        type=json.loads,
        default=None,
        help="JSON parameters of every hua run, e.g. '{\"retrieval_factor\": 1.5}'",
    )
    ap.add_argument(
        "--train-overrides",
        type=json.loads,
        default=None,
        help="JSON TrainConfig overrides of every run, merged onto the profile's",
    )
    ap.add_argument(
        "--runs",
        default=None,
        help="comma-separated runs instead of the six, e.g. hua:huale,entropy:huale,"
        "hua[semantic_affinity+overlap_ratio]:vanilla",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "label_efficiency")
    ap.add_argument(
        "--docs", action="store_true", help="copy the plot to docs/label_efficiency.png"
    )
    ap.add_argument("--progress", action="store_true")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 is faster on an oversubscribed machine)",
    )
    ap.add_argument(
        "--score-subset",
        type=int,
        default=None,
        help="score a random subset of this many unlabelled images per cycle "
        "(default: the profile's)",
    )
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="summarise the rows of earlier runs' label_efficiency.json files "
        "(e.g. one process per seed) instead of running",
    )
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out, args.docs)
    prof = settings(args.profile, **{k: v for k, v in vars(args).items() if k != "profile"})
    specs = run_specs(args.hua_metric_ablation, args.hua_params, args.budget_strategies)
    if args.runs:
        try:
            specs = [spec_for_label(r.strip(), args.hua_params) for r in args.runs.split(",")]
        except ValueError as exc:
            ap.error(str(exc))

    import torch

    from simulation.cli import DataOptions, simulate
    from simulation.loop import check_runs

    try:
        check_runs(specs)
    except ValueError as exc:
        ap.error(str(exc))

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    loop = loop_options(
        prof,
        initial=prof["initial"],
        budget=prof["budget"],
        cycles=prof["cycles"],
        seeds=parse_seeds(args.seeds),
        score_subset=prof["score_subset"],
    )
    world = synthetic_world(prof)
    data = DataOptions(
        synthetic=prof["pool"],
        synthetic_test=prof["test"],
        val_split=args.val_split,
        data_seed=args.data_seed,
        synthetic_overrides=world,
    )
    result = simulate(
        specs,
        loop,
        data,
        args.out,
        train_overrides=prof["train_overrides"],
        show_progress=args.progress,
        stem="label_efficiency",
    )
    payload = json.loads(result.paths["json"].read_text())
    summary = payload["summary"]
    out = {
        "benchmark": "label efficiency (synthetic shapes, tiny Faster R-CNN)",
        "profile": args.profile,
        "settings": prof,
        "seeds": list(loop.seeds),
        "threads": args.threads,
        "hua_params": args.hua_params or {},
        "synthetic_overrides": {k: list(v) for k, v in world.items()},
        "data": result.data,
        "metric": "mAP@0.5 (VOC all-point, %) on the held-out test set",
        "map50": summary["map50"],
        "coco_ap": {
            run: {k: s[k] for k in ("mean", "mean_after_first", "aulc")}
            for run, s in summary["coco_ap"].items()
        },
        "targets": targets(summary["map50"]),
        "seconds": round(result.seconds, 1),
        "files": {k: str(v) for k, v in result.paths.items()},
    }
    if args.val_split > 0:
        val_rows = [dict(r, map50=r["val_map50"]) for r in payload["rows"]]
        from simulation.report import summarize

        out["val_map50"] = {
            run: {k: s[k] for k in ("mean", "mean_after_first", "aulc")}
            for run, s in summarize(val_rows).items()
        }
    out["strategy_used"] = strategies_used(payload["rows"])
    if args.docs and "png" in result.paths:
        shutil.copyfile(result.paths["png"], ROOT / "docs" / "label_efficiency.png")
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
