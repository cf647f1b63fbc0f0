"""Geometry of a backtest's learning curves (inline SVG, ``backtest.html``): per run the
mean mAP50 over seeds against labelled images, with a ± one standard deviation band."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from api.dashboard.chart import MARGINS, Plot, Polyline, scales

# Colour-blind-safe palette (Okabe-Ito); SVG presentation attributes, not inline CSS.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


@dataclass(frozen=True)
class Curve(Polyline):
    label: str
    colour: str
    points: list[tuple[float, float, str]]  # (x px, y px, tooltip)
    band: str  # polygon points of mean ± std


@dataclass(frozen=True)
class CurvesChart(Plot):
    curves: list[Curve] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.curves


def curves(runs: Sequence[dict[str, Any]], width: int = 640, height: int = 300) -> CurvesChart:
    """One curve per run of ``results["runs"]`` (``labeled``, ``mean``, ``std``)."""
    xs = [float(x) for r in runs for x in r["labeled"]]
    highs = [m + s for r in runs for m, s in zip(r["mean"], r["std"], strict=True)]
    if not xs:
        return CurvesChart(width, height, *MARGINS)
    sc = scales(xs, max(highs), width, height)
    px = sc.px

    def py(y: float) -> float:
        return sc.py(max(0.0, y))

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
    return CurvesChart(width, height, *MARGINS, x_ticks=sc.x_ticks, y_ticks=sc.y_ticks, curves=out)
