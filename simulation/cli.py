"""``alp simulate``: the active-learning loop in-process with a ground-truth oracle.

``simulate()`` loads the data (COCO on disk or the synthetic generator), runs every
``strategy:preset`` x seed through :class:`simulation.loop.Simulation` with a rich
progress display, and writes ``simulation.csv``, ``simulation.json`` and
``simulation.png`` (learning curves, mean ± std over seeds) into the output directory
(``simulation.partial.csv`` holds the rows finished so far while it runs).
Imports torch: the CLI imports this module only when the command runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alp.train_overrides import check_override_types
from simulation.backend import TorchBackend, train_config
from simulation.data import SimulationData, coco_data, synthetic_data
from simulation.loop import CycleRow, Oracle, Simulation, check_runs
from simulation.report import write_csv, write_outputs
from simulation.spec import LoopOptions, RunSpec

__all__ = ["DataOptions", "SimulationResult", "load_data", "simulate"]


@dataclass
class DataOptions:
    """Where the data comes from: ``dataset`` (a COCO json) or, when ``None``, the synthetic
    generator with ``synthetic`` pool images and ``synthetic_test`` test images
    (``synthetic_overrides`` replace ``SYNTHETIC_DEFAULTS``). ``val_split`` is carved from
    the pool with ``data_seed``."""

    dataset: Path | None = None
    image_dir: Path | None = None
    test_dataset: Path | None = None
    test_image_dir: Path | None = None
    synthetic: int = 300
    synthetic_test: int = 200
    val_split: float = 0.0
    data_seed: int = 0
    synthetic_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class SimulationResult:
    rows: list[CycleRow]
    paths: dict[str, Path]
    data: dict[str, Any]
    seconds: float


def load_data(opts: DataOptions, image_size: int) -> SimulationData:
    """The pool, validation and test sets described by ``opts``."""
    if opts.dataset is not None:
        return coco_data(
            opts.dataset,
            opts.image_dir,
            opts.val_split,
            opts.test_dataset,
            opts.test_image_dir,
            seed=opts.data_seed,
        )
    return synthetic_data(
        opts.synthetic,
        opts.synthetic_test,
        image_size,
        opts.val_split,
        seed=opts.data_seed,
        **opts.synthetic_overrides,
    )


class _RichEvents:
    """Maps loop events onto a rich progress display (overall cycles + current training)."""

    def __init__(self, progress: Progress, total_cycles: int) -> None:
        self.progress = progress
        self.overall = progress.add_task("cycles", total=total_cycles)
        self.step = progress.add_task("", total=1)

    def __call__(self, kind: str, **info: Any) -> None:
        p = self.progress
        if kind == "cycle":
            p.update(
                self.overall,
                description=f"{escape(info['run'])} seed {info['seed']} "
                f"cycle {info['cycle']} ({info['labeled']} labelled)",
            )
            p.update(self.step, description="train", completed=0, total=1)
        elif kind == "train":
            p.update(self.step, description="train", completed=info["it"], total=info["total"])
        elif kind == "phase":
            p.update(self.step, description=info["name"])
        elif kind == "row":
            row = info["row"]
            p.advance(self.overall)
            p.console.print(
                f"{escape(row.run):>20} seed {row.seed} cycle {row.cycle} "
                f"labelled {row.labeled:4d}  mAP50 {row.map50:5.1f}  "
                f"AP {row.coco_ap:5.1f}  {row.time_s:6.1f}s"
                + ("  (shared cycle-0 model)" if row.shared else "")
            )


def simulate(
    specs: Sequence[RunSpec],
    loop: LoopOptions,
    data_opts: DataOptions,
    out_dir: Path,
    train_overrides: dict[str, Any] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    stem: str = "simulation",
) -> SimulationResult:
    """Run the simulation and write its outputs (see module docstring)."""
    start = time.perf_counter()
    if loop.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {loop.device!r} requested but CUDA is not available")
    try:  # bad overrides fail here, before any data is generated
        check_override_types(train_overrides or {})
        for spec in specs:
            train_config(spec.preset, loop, 0, train_overrides)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad --train-overrides: {exc}") from None
    check_runs(specs)  # unknown strategies / bad parameters fail before any data is loaded
    console = console or Console(stderr=True)
    data = load_data(data_opts, loop.image_size)
    if loop.initial > len(data.pool):
        raise ValueError(f"--initial {loop.initial} exceeds the pool of {len(data.pool)} images")
    oracle = Oracle([e.get("labels", []) for e in data.pool], len(data.class_names))
    backend = TorchBackend(data, loop, train_overrides)
    config = {
        "runs": [s.to_dict() for s in specs],
        "loop": loop.to_dict(),
        "data": data.describe(),
        "train_overrides": dict(train_overrides or {}),
        "metrics": "percent; map50 = VOC all-point mAP@0.5, coco_ap = COCO AP@[.5:.95]",
    }
    total = len(specs) * len(loop.seeds) * loop.cycles
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not show_progress) as progress:
        events = _RichEvents(progress, total)
        sim = Simulation(specs, loop, backend, oracle, event=events)
        partial = Path(out_dir) / f"{stem}.partial.csv"
        done: list[dict[str, Any]] = []

        def on_row(row: CycleRow) -> None:  # rows so far survive an interrupted run
            done.append(row.to_dict())
            write_csv(done, partial)

        rows = sim.run(on_row=on_row)
        partial.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    config["seconds"] = round(seconds, 1)
    paths = write_outputs([r.to_dict() for r in rows], out_dir, config, stem=stem)
    return SimulationResult(rows=rows, paths=paths, data=data.describe(), seconds=seconds)
