"""Results of a simulation: summary statistics, CSV/JSON files and the learning-curve PNG.

Pure Python + numpy + matplotlib (Agg backend); rows are ``CycleRow.to_dict()`` dicts.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FIELDS = (
    "run",
    "strategy",
    "preset",
    "seed",
    "cycle",
    "labeled",
    "map50",
    "coco_ap",
    "val_map50",
    "val_coco_ap",
    "train_s",
    "eval_s",
    "score_s",
    "time_s",
    "shared",
    "chosen",
    "chosen_boxes",
    "chosen_empty",
    "chosen_class_boxes",
    "strategy_used",
)


def aulc(x: Sequence[float], y: Sequence[float]) -> float:
    """Area under the learning curve ``y(x)`` (trapezoids) divided by the x range, i.e. the
    curve's mean height in y's units; a single point gives ``y[0]``; empty raises."""
    if len(x) != len(y) or not y:
        raise ValueError("aulc needs equally long, non-empty x and y")
    if len(x) == 1 or x[-1] == x[0]:
        return float(np.mean(y))
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    area = float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0))
    return area / float(xs[-1] - xs[0])


def _std(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def summarize(rows: Sequence[Mapping[str, Any]], metric: str = "map50") -> dict[str, Any]:
    """Per run: labelled counts, per-cycle mean/std over seeds, per-seed curves, the mean
    over cycles, the mean over cycles after the first, and the AULC (of the mean curve).

    Only cycles present for every seed of a run are summarised. Values are rounded to 3
    decimals. Returns ``{run: {...}}`` in first-appearance order.
    """
    runs: dict[str, dict[int, dict[int, Mapping[str, Any]]]] = {}
    for r in rows:
        runs.setdefault(r["run"], {}).setdefault(int(r["seed"]), {})[int(r["cycle"])] = r
    out: dict[str, Any] = {}
    for run, by_seed in runs.items():
        cycles = sorted(set.intersection(*(set(c) for c in by_seed.values())))
        if not cycles:
            continue
        per_seed = {s: [float(by_seed[s][c][metric]) for c in cycles] for s in sorted(by_seed)}
        matrix = np.array(list(per_seed.values()))
        mean = matrix.mean(axis=0)
        labeled = [int(next(iter(by_seed.values()))[c]["labeled"]) for c in cycles]
        after_first = mean[1:] if len(mean) > 1 else mean
        per_seed_after = [float(np.mean(v[1:] if len(v) > 1 else v)) for v in per_seed.values()]
        out[run] = {
            "labeled": labeled,
            "mean": [round(float(v), 3) for v in mean],
            "std": [round(_std(matrix[:, i].tolist()), 3) for i in range(len(cycles))],
            "per_seed": {str(s): [round(v, 3) for v in vals] for s, vals in per_seed.items()},
            "mean_over_cycles": round(float(mean.mean()), 3),
            "mean_after_first": round(float(after_first.mean()), 3),
            "mean_after_first_std": round(_std(per_seed_after), 3),
            "aulc": round(aulc(labeled, mean.tolist()), 3),
            "seeds": len(per_seed),
            "selection": selection_mix([by_seed[s][c] for s in by_seed for c in cycles]),
        }
    return out


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def selection_mix(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """What a run's selections cost an annotator, over all its seeds and cycles: ground-truth
    boxes per selected image, the share of selected images without objects and each class's
    share of the selected boxes; ``None`` when no row records a selection (e.g. rows from
    before these columns existed)."""
    picked = [r for r in rows if r.get("chosen")]
    if not picked:
        return None
    images = sum(int(r["chosen"]) for r in picked)
    boxes = sum(int(r.get("chosen_boxes") or 0) for r in picked)
    per_class = np.sum([list(r.get("chosen_class_boxes") or []) for r in picked], axis=0)
    return {
        "images": images,
        "boxes_per_image": round(boxes / images, 3),
        "empty_share": round(sum(int(r.get("chosen_empty") or 0) for r in picked) / images, 3),
        "class_share": [round(float(c) / max(boxes, 1), 3) for c in np.atleast_1d(per_class)],
    }


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write rows (columns :data:`FIELDS`) as CSV; ``None`` becomes an empty cell."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(FIELDS), extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _cell(r.get(k)) for k in FIELDS})
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(payload: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``payload`` as indented JSON (non-finite floats become ``null``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(dict(payload)), indent=2))
    return path


def plot_learning_curves(
    summaries: Mapping[str, Mapping[str, Mapping[str, Any]]],
    path: str | Path,
    title: str = "alp simulate: learning curves",
) -> Path:
    """One subplot per metric (``summaries = {"map50": summarize(...), ...}``), one line per
    run with a mean ± std band over seeds; x = labelled images. Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {"map50": "mAP@0.5 (%)", "coco_ap": "COCO AP@[.5:.95] (%)"}
    fig, axes = plt.subplots(1, len(summaries), figsize=(6.0 * len(summaries), 4.2), squeeze=False)
    for ax, (metric, summary) in zip(axes[0], summaries.items(), strict=True):
        for run, s in summary.items():
            x, mean, std = np.array(s["labeled"]), np.array(s["mean"]), np.array(s["std"])
            (line,) = ax.plot(x, mean, marker="o", label=f"{run} ({s['aulc']:.1f})")
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        ax.set_xlabel("labelled images")
        ax.set_ylabel(names.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="run (AULC)", title_fontsize=8)
    fig.suptitle(title + " — mean ± std over seeds")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_outputs(
    rows: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    config: Mapping[str, Any],
    stem: str = "simulation",
) -> dict[str, Path]:
    """Write ``<stem>.csv``, ``<stem>.json`` (config, rows, summaries) and ``<stem>.png``
    into ``out_dir``; returns their paths by kind."""
    out = Path(out_dir)
    summaries = {m: summarize(rows, m) for m in ("map50", "coco_ap")}
    paths = {
        "csv": write_csv(rows, out / f"{stem}.csv"),
        "json": write_json(
            {"config": dict(config), "rows": list(rows), "summary": summaries}, out / f"{stem}.json"
        ),
    }
    if rows:
        paths["png"] = plot_learning_curves(summaries, out / f"{stem}.png")
    return paths
