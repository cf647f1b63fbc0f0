"""Paired comparisons of learning curves from ``alp simulate`` rows, and a recommendation
that names a strategy only when the difference is larger than the noise.

Pure Python + numpy over ``CycleRow.to_dict()`` rows. Two runs are paired on (seed, cycle):
the same seed starts both from the same initial labelled set and trains with the same
seeds, so a per-pair difference removes most of the seed-to-seed variation. Cycle 0 is left
out (its model is the same for every run of a preset). The interval is a percentile
bootstrap of the mean paired difference (pairs resampled with a seeded generator); the
sign test is the exact two-sided binomial test on the non-zero differences; a comparison is
decisive only when both agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

NO_DIFFERENCE = "no difference detected at this size"


def paired_differences(
    rows: Sequence[Mapping[str, Any]], a: str, b: str, metric: str = "map50"
) -> list[float]:
    """``a - b`` of ``metric`` for every (seed, cycle >= 1) both runs have, in (seed, cycle)
    order."""
    by_key: dict[str, dict[tuple[int, int], float]] = {a: {}, b: {}}
    for r in rows:
        if r["run"] in by_key and int(r["cycle"]) >= 1 and r.get(metric) is not None:
            by_key[r["run"]][(int(r["seed"]), int(r["cycle"]))] = float(r[metric])
    keys = sorted(set(by_key[a]) & set(by_key[b]))
    return [by_key[a][k] - by_key[b][k] for k in keys]


def bootstrap_interval(
    diffs: Sequence[float], confidence: float = 0.95, iterations: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs`` (seeded). Empty -> ValueError."""
    x = np.asarray(diffs, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no paired differences to compare")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(iterations, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def sign_test(diffs: Sequence[float], tol: float = 1e-9) -> dict[str, Any]:
    """Exact two-sided sign test: wins (> tol), losses (< -tol), ties and the p-value of
    the wins among the non-tied pairs under p = 1/2 (1.0 when every pair is tied)."""
    wins = sum(1 for d in diffs if d > tol)
    losses = sum(1 for d in diffs if d < -tol)
    n = wins + losses
    k = min(wins, losses)
    p = 1.0 if n == 0 else min(1.0, 2.0 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    return {"wins": wins, "losses": losses, "ties": len(diffs) - n, "p_value": p}


def compare(
    rows: Sequence[Mapping[str, Any]], a: str, b: str, metric: str = "map50",
    confidence: float = 0.95, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """``a`` against ``b``: mean paired difference, bootstrap interval, sign test, and
    ``decisive``: the interval excludes 0 AND the sign test's p-value is below
    1 - ``confidence`` (a bootstrap over a handful of pairs is overconfident; with fewer
    than 6 pairs, e.g. 2 seeds x 2 rounds, no comparison is decisive)."""
    diffs = paired_differences(rows, a, b, metric)
    lo, hi = bootstrap_interval(diffs, confidence, seed=seed)
    sign = sign_test(diffs)
    return {
        "a": a, "b": b, "metric": metric, "pairs": len(diffs),
        "mean_difference": float(np.mean(diffs)), "interval": [lo, hi],
        "confidence": confidence, **sign,
        "decisive": (lo > 0.0 or hi < 0.0) and sign["p_value"] < 1.0 - confidence,
    }  # fmt: skip


def pairs_needed(result: Mapping[str, Any]) -> int | None:
    """Pairs that would make an indecisive comparison decisive if the mean difference held:
    the interval narrows as 1 / sqrt(pairs), and the sign test needs at least
    :func:`sign_test_min_pairs`; None when the mean difference is 0."""
    d = abs(result["mean_difference"])
    lo, hi = result["interval"]
    half = (hi - lo) / 2.0
    if result["decisive"]:
        return int(result["pairs"])
    if d <= 1e-12:
        return None
    return max(math.ceil(result["pairs"] * (half / d) ** 2),
               sign_test_min_pairs(result["confidence"]))  # fmt: skip


def sign_test_min_pairs(confidence: float) -> int:
    """The fewest pairs (all wins) whose two-sided sign test p = 2 / 2^n is below
    1 - ``confidence`` (6 at 0.95)."""
    return math.floor(math.log2(2.0 / (1.0 - confidence))) + 1


def recommend(
    rows: Sequence[Mapping[str, Any]], candidates: Sequence[str], references: Sequence[str],
    budget: int, metric: str = "map50", confidence: float = 0.95, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """The candidate with the highest mean ``metric`` after the first cycle, recommended only
    when its interval against every other reference run excludes zero in its favour;
    otherwise :data:`NO_DIFFERENCE` and an estimate of the extra labels (more rounds of
    ``budget`` over the same seeds) that would make the closest comparison decisive."""
    means = {}
    for run in candidates:
        vals = [
            float(r[metric])
            for r in rows
            if r["run"] == run and int(r["cycle"]) >= 1 and r.get(metric) is not None
        ]
        if vals:
            means[run] = float(np.mean(vals))
    if not means:
        raise ValueError("no rows after the first cycle for the candidate runs")
    best = max(sorted(means), key=lambda run: means[run])
    others = [ref for ref in references if ref != best]
    comparisons = [compare(rows, best, ref, metric, confidence, seed) for ref in others]
    wins = all(c["decisive"] and c["mean_difference"] > 0 for c in comparisons)
    out: dict[str, Any] = {"best": best, "means": means, "comparisons": comparisons}
    if wins and comparisons:
        out.update(recommendation=best, reason=f"{best} beats {', '.join(others)}")
        return out
    seeds = len({int(r["seed"]) for r in rows if r["run"] == best}) or 1
    open_ = [(pairs_needed(c), c) for c in comparisons if not c["decisive"]]
    extra = None
    if open_ and all(n is not None for n, _ in open_):
        more_pairs = max(n - c["pairs"] for n, c in open_)
        extra = math.ceil(max(0, more_pairs) / seeds) * int(budget)
    out.update(recommendation=None, reason=NO_DIFFERENCE, extra_labels_needed=extra)
    return out
