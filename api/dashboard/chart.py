"""Geometry of the learning-curve chart (inline SVG; rendered by ``_curve.html``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from alp.services.dashboard import CurvePoint

SERIES = (("map50", "AP50"), ("coco_ap", "COCO AP"))


@dataclass(frozen=True)
class Series:
    key: str
    name: str
    points: list[tuple[float, float, str]]  # (x px, y px, tooltip)

    @property
    def path(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]`` (``hi > lo``)."""
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 10))
    return ticks


def _fmt(v: float) -> str:
    return f"{v:g}" if v == int(v) else f"{v:.2f}".rstrip("0")


def learning_curve(points: Sequence[CurvePoint], width: int = 560, height: int = 260) -> Chart:
    """AP50 and COCO AP (y) against labeled images (x); one point per cycle.

    Empty ``points`` gives a chart with ``empty`` True. The y axis starts at 0; a single
    point gets a padded x domain so it is drawn in the middle.
    """
    left, right, top, bottom = 48, 16, 12, 40
    chart = Chart(width, height, left, right, top, bottom)
    xs = [float(p.labeled) for p in points]
    ys = [v for p in points for v in (p.map50, p.coco_ap) if v is not None]
    if not xs or not ys:
        return chart
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = max(0.0, x_lo - 1), x_hi + 1
    x_ticks = nice_ticks(x_lo, x_hi)
    y_ticks = nice_ticks(0.0, max(max(ys), 1e-6))
    x_lo, x_hi, y_hi = x_ticks[0], x_ticks[-1], y_ticks[-1]
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def py(y: float) -> float:
        return top + ph - y / y_hi * ph

    series = []
    for key, name in SERIES:
        pts = [
            (px(p.labeled), py(v), f"cycle {p.cycle_index}: {p.labeled} labeled, {name} {v:.3f}")
            for p in points
            if (v := getattr(p, key)) is not None
        ]
        series.append(Series(key, name, pts))
    return Chart(
        width,
        height,
        left,
        right,
        top,
        bottom,
        x_ticks=[(px(t), _fmt(t)) for t in x_ticks],
        y_ticks=[(py(t), _fmt(t)) for t in y_ticks],
        series=series,
    )
