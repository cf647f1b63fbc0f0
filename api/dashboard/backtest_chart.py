"""Geometry of a backtest's learning curves (inline SVG, ``backtest.html``): per run the
mean mAP50 over seeds against labelled images, with a ± one standard deviation band."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from api.dashboard.chart import nice_ticks, tick_labels

# Colour-blind-safe palette (Okabe-Ito); SVG presentation attributes, not inline CSS.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


@dataclass(frozen=True)
class Curve:
    label: str
    colour: str
    points: list[tuple[float, float, str]]  # (x px, y px, tooltip)
    band: str  # polygon points of mean ± std

    @property
    def path(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


@dataclass(frozen=True)
class CurvesChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.curves


def curves(runs: Sequence[dict[str, Any]], width: int = 640, height: int = 300) -> CurvesChart:
    """One curve per run of ``results["runs"]`` (``labeled``, ``mean``, ``std``)."""
    left, right, top, bottom = 48, 16, 12, 40
    xs = [float(x) for r in runs for x in r["labeled"]]
    highs = [m + s for r in runs for m, s in zip(r["mean"], r["std"], strict=True)]
    if not xs:
        return CurvesChart(width, height, left, right, top, bottom)
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = max(0.0, x_lo - 1), x_hi + 1
    x_ticks = nice_ticks(x_lo, x_hi, integer=True)
    y_ticks = nice_ticks(0.0, max(highs) if max(highs) > 0 else 1.0)
    x_lo, x_hi, y_hi = x_ticks[0], x_ticks[-1], y_ticks[-1]
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def py(y: float) -> float:
        return top + ph - max(0.0, y) / y_hi * ph

    out = []
    for i, r in enumerate(runs):
        pts = [(px(x), py(m), f"{r['label']}: {x} labeled images, mAP50 {m:.2f} ± {s:.2f}")
               for x, m, s in zip(r["labeled"], r["mean"], r["std"], strict=True)]  # fmt: skip
        upper = [f"{px(x):.1f},{py(m + s):.1f}" for x, m, s in
                 zip(r["labeled"], r["mean"], r["std"], strict=True)]  # fmt: skip
        lower = [f"{px(x):.1f},{py(m - s):.1f}" for x, m, s in
                 zip(r["labeled"], r["mean"], r["std"], strict=True)]  # fmt: skip
        band = " ".join(upper + lower[::-1])
        out.append(Curve(r["label"], PALETTE[i % len(PALETTE)], pts, band))
    return CurvesChart(
        width, height, left, right, top, bottom,
        x_ticks=list(zip(map(px, x_ticks), tick_labels(x_ticks), strict=True)),
        y_ticks=list(zip(map(py, y_ticks), tick_labels(y_ticks), strict=True)),
        curves=out,
    )  # fmt: skip
