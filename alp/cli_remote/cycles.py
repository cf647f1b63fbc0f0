"""Remote commands: ``cycles start [--watch]``, ``cycles list``, ``next-batch``."""

from __future__ import annotations

import time

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from alp.cli_remote.common import JSON_OPT, client, emit, err, handles_errors, out
from alp.client import Client, Cycle

cycles_app = typer.Typer(help="Active-learning cycles of a pool.", no_args_is_help=True)
WATCH_END = ("labeling", "done", "failed", "cancelled")


def _cycle_table(cycles: list[Cycle]) -> Table:
    t = Table("id", "index", "state", "selected", "remaining", "mAP@0.5", "error")
    for c in cycles:
        m = c.metrics.get("map50", c.metrics.get("voc_map", ""))
        shown = f"{m:.3f}" if isinstance(m, float) else str(m)
        t.add_row(str(c.id), str(c.index), c.state, str(c.selection_size), str(c.remaining),
                  shown, escape(c.error or ""))  # fmt: skip
    return t


def _stages(c: Cycle) -> Table:
    t = Table(title=f"cycle {c.id} (#{c.index}) of pool {c.pool_id}: {c.state}", expand=False)
    for col in ("stage", "state", "progress", "message"):
        t.add_column(col)
    for j in c.jobs:
        bar = "#" * int(j.progress * 20)
        t.add_row(j.kind, j.state, f"{bar:<20} {j.progress:4.0%}",
                  escape(j.error or j.message or ""))  # fmt: skip
    return t


def watch(c: Client, cycle_id: int, interval: float = 1.0, live: bool = True) -> Cycle:
    """Poll the cycle until it waits for labels (or ends); redraw its stages meanwhile."""
    cycle = c.cycle(cycle_id)
    with Live(_stages(cycle), console=err, refresh_per_second=4, transient=False,
              auto_refresh=live) as view:  # fmt: skip
        while cycle.state not in WATCH_END:
            time.sleep(interval)
            cycle = c.cycle(cycle_id)
            if live:
                view.update(_stages(cycle))
    return cycle


@cycles_app.command("start")
@handles_errors
def cycles_start(
    pool: str = typer.Argument(..., help="Pool id or name."),
    watch_: bool = typer.Option(False, "--watch", help="Follow the stages until labeling."),
    interval: float = typer.Option(1.0, min=0.1, help="Seconds between polls (--watch)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Start a cycle (train, evaluate, score, select); --watch follows it live."""
    with client() as c:
        p = c.find_pool(pool)
        started = c.start_cycle(p.id)
        cycle = started.cycle
        if not as_json:
            err.print(f"started cycle {cycle.id} (#{cycle.index}) of pool {p.id}")
        if watch_:
            cycle = watch(c, cycle.id, interval, live=not as_json)
    emit(as_json, cycle.model_dump(), lambda: out.print(_cycle_table([cycle])))
    if watch_ and cycle.state in ("failed", "cancelled"):
        raise typer.Exit(1)


@cycles_app.command("list")
@handles_errors
def cycles_list(pool: str = typer.Argument(..., help="Pool id or name."),
                as_json: bool = JSON_OPT) -> None:  # fmt: skip
    """List a pool's cycles, newest last."""
    with client() as c:
        cycles = c.cycles(c.find_pool(pool).id)
    emit(as_json, [x.model_dump() for x in cycles], lambda: out.print(_cycle_table(cycles)))


@handles_errors
def next_batch(
    pool: str = typer.Argument(..., help="Pool id or name."),
    limit: int = typer.Option(20, min=1, help="How many images."),
    as_json: bool = JSON_OPT,
) -> None:
    """The selected images to label next, best first."""
    with client() as c:
        batch = c.next_batch(c.find_pool(pool).id, limit)

    def human() -> None:
        t = Table("rank", "image", "file", "score", "pre-boxes",
                  title=f"cycle #{batch.cycle_index} ({batch.cycle_state}): "
                        f"{batch.remaining} to label")  # fmt: skip
        for it in batch.items:
            t.add_row(str(it.rank), str(it.image_id), escape(it.filename), f"{it.score:.4f}",
                      str(len(it.boxes)))  # fmt: skip
        out.print(t)

    emit(as_json, batch.model_dump(), human)
