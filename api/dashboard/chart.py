"""Geometry of the learning-curve chart (inline SVG; rendered by ``_curve.html``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from alp.services.dashboard_views import CurvePoint

SERIES = (("map50", "AP50"), ("coco_ap", "COCO AP"))


class Polyline:
    """Mixin of a drawn line with ``points`` (x px, y px, tooltip); ``path`` is their SVG
    ``points`` attribute."""

    points: list[tuple[float, float, str]]

    @property
    def path(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


@dataclass(frozen=True)
class Series(Polyline):
    key: str
    name: str
    points: list[tuple[float, float, str]]  # (x px, y px, tooltip)


@dataclass(frozen=True)
class Plot:
    """Frame of a chart: size, margins and the ticks as (px, label)."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Chart(Plot):
    series: list[Series] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


MARGINS = (48, 16, 12, 40)  # left, right, top, bottom


@dataclass(frozen=True)
class Scales:
    """Data -> pixel mapping of a chart whose x axis covers ``xs`` and y axis 0..``y_max``."""

    px: Callable[[float], float]
    py: Callable[[float], float]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]


def scales(xs: Sequence[float], y_max: float, width: int, height: int) -> Scales:
    """Round ticks and pixel maps for non-empty ``xs`` (whole numbers: image counts) and
    y from 0 to ``y_max`` (0..1 when ``y_max <= 0``); a single x gets a padded domain."""
    left, right, top, bottom = MARGINS
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = max(0.0, x_lo - 1), x_hi + 1
    x_ticks = nice_ticks(x_lo, x_hi, integer=True)
    y_ticks = nice_ticks(0.0, y_max if y_max > 0 else 1.0)
    x_lo, x_hi, y_hi = x_ticks[0], x_ticks[-1], y_ticks[-1]
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def py(y: float) -> float:
        return top + ph - y / y_hi * ph

    return Scales(
        px,
        py,
        x_ticks=list(zip(map(px, x_ticks), tick_labels(x_ticks), strict=True)),
        y_ticks=list(zip(map(py, y_ticks), tick_labels(y_ticks), strict=True)),
    )


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]`` (``hi > lo``); with ``integer``
    the step is a whole number (counts of images)."""
    raw = (hi - lo) / max(1, n)
    if integer:
        raw = max(raw, 1.0)
    mag = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * mag for m in steps if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 10))
    return ticks


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels for evenly spaced ``ticks`` with the fewest decimals that tell them apart
    exactly (0, 0.005, 0.01 -> "0", "0.005", "0.01" padded to "0.000", "0.005", "0.010")."""
    if not ticks:
        return []
    step = min((b - a for a, b in itertools.pairwise(ticks)), default=1.0) or 1.0
    for decimals in range(0, 10):
        labels = [f"{t:.{decimals}f}" for t in ticks]
        if all(abs(float(lab) - t) <= step * 1e-6 for lab, t in zip(labels, ticks, strict=True)):
            return ["0" if float(lab) == 0 else lab for lab in labels]
    return [f"{t:g}" for t in ticks]


def learning_curve(points: Sequence[CurvePoint], width: int = 560, height: int = 260) -> Chart:
    """AP50 and COCO AP (y) against labeled training images (x); one point per cycle.

    Empty ``points`` gives a chart with ``empty`` True. The y axis starts at 0; a single
    point gets a padded x domain so it is drawn in the middle.
    """
    chart = Chart(width, height, *MARGINS)
    xs = [float(p.train_images) for p in points]
    ys = [v for p in points for v in (p.map50, p.coco_ap) if v is not None]
    if not xs or not ys:
        return chart
    sc = scales(xs, max(ys), width, height)
    series = []
    for key, name in SERIES:
        pts = [
            (
                sc.px(p.train_images),
                sc.py(v),
                f"cycle #{p.cycle_index}: {p.train_images} labeled training images, {name} {v:.3f}",
            )
            for p in points
            if (v := getattr(p, key)) is not None
        ]
        series.append(Series(key, name, pts))
    return Chart(width, height, *MARGINS, x_ticks=sc.x_ticks, y_ticks=sc.y_ticks, series=series)
