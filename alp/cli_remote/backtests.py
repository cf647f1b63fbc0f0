"""Remote command ``alp backtest POOL``: replay active learning on the pool's own labels on
the server (``POST /pools/{id}/backtests``), follow its progress, print the results."""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from alp.cli_remote.common import JSON_OPT, client, emit, err, handles_errors, out
from alp.client import ApiError, Client

FINAL = ("succeeded", "failed", "cancelled")


def _progress(b: dict[str, Any]) -> str:
    job = b.get("job") or {}
    bar = "#" * int(float(job.get("progress", 0)) * 20)
    return f"backtest {b['id']}: {b['state']} {bar:<20} {job.get('progress', 0):4.0%} " + escape(
        job.get("message") or ""
    )


def results_table(b: dict[str, Any]) -> Table:
    """Per run: curve (mean ± std), mAP50 after the first round, AULC, annotation cost."""
    t = Table("run", "labeled", "mAP50 mean ± std", "after round 1", "AULC", "boxes/img", "empty")
    for r in (b.get("results") or {}).get("runs", []):
        curve = "  ".join(f"{m:.1f}±{s:.1f}" for m, s in zip(r["mean"], r["std"], strict=True))
        cost = r["cost"]
        t.add_row(r["label"], ",".join(map(str, r["labeled"])), curve,
                  f"{r['first_round_map50']:.2f}", f"{r['aulc']:.2f}",
                  f"{cost['boxes_per_image']:.2f}", str(cost["empty_images"]))  # fmt: skip
    return t


def follow(c: Client, backtest_id: int, interval: float, live: bool) -> dict[str, Any]:
    """Poll the backtest until it ends; show its job's progress and message meanwhile."""
    b = c.request("GET", f"/backtests/{backtest_id}").json()
    with Live(_progress(b), console=err, refresh_per_second=4, auto_refresh=live) as view:
        while b["state"] not in FINAL:
            time.sleep(interval)
            b = c.request("GET", f"/backtests/{backtest_id}").json()
            if live:
                view.update(_progress(b))
    return b


@handles_errors
def backtest(
    pool: str = typer.Argument(..., help="Pool id or name."),
    strategies: str = typer.Option("typiclust,random", help="strategy[:preset],... to compare."),
    params: str = typer.Option("", help='Strategy parameters as JSON: {"hua": {...}}.'),
    initial: int = typer.Option(20, min=1, help="Labelled images at the start."),
    budget: int = typer.Option(20, min=1, help="Images selected per round."),
    rounds: int = typer.Option(3, min=1, help="Selection rounds after the initial set."),
    seeds: int = typer.Option(3, min=1, help="Repetitions (seeds 0..N-1)."),
    test_size: int = typer.Option(50, min=1, help="Labelled images held out for testing."),
    backbone: str = typer.Option("", help="Detector backbone (default: the pool's)."),
    image_size: int = typer.Option(0, min=0, help="Input size in px (default: the pool's)."),
    iterations: int = typer.Option(0, min=0, help="Steps per training (default: the pool's)."),
    batch_size: int = typer.Option(0, min=0, help="Training batch (default: the pool's)."),
    time_limit: int = typer.Option(3600, min=10, help="Seconds before the job gives up."),
    references: bool = typer.Option(True, help="Add random and the pool's strategy."),
    wait: bool = typer.Option(True, help="Follow the progress until done."),
    interval: float = typer.Option(2.0, min=0.1, help="Seconds between polls."),
    as_json: bool = JSON_OPT,
) -> None:
    """Backtest acquisition strategies on the pool's own labels; recommends one only when
    the difference is larger than the noise."""
    try:
        strategy_params = json.loads(params) if params else {}
    except json.JSONDecodeError as exc:
        raise ApiError(0, f"--params is not valid JSON: {exc}") from exc
    model = {"backbone": backbone or None, "image_size": image_size or None,
             "iterations": iterations or None, "batch_size": batch_size or None}  # fmt: skip
    body = {"strategies": [s for s in strategies.split(",") if s.strip()],
            "strategy_params": strategy_params, "include_references": references,
            "initial": initial, "budget": budget, "rounds": rounds, "seeds": seeds,
            "test_size": test_size, "model": model, "time_limit_s": time_limit}  # fmt: skip
    with client() as c:
        p = c.find_pool(pool)
        b = c.request("POST", f"/pools/{p.id}/backtests", json=body, once=True).json()
        if not as_json:
            runs = ", ".join(r["label"] for r in b["runs"])
            err.print(f"started backtest {b['id']} of pool {p.id} ({runs}); "
                      f"estimated {b['estimate_s']:.0f} s")  # fmt: skip
        if wait:
            b = follow(c, b["id"], interval, live=not as_json)

    def human() -> None:
        if b.get("results"):
            out.print(results_table(b))
            out.print(escape(b["results"]["recommendation_text"]))
        else:
            out.print(f"backtest {b['id']}: {b['state']} {escape(b.get('error') or '')}")

    emit(as_json, b, human)
    if b["state"] in ("failed", "cancelled"):
        raise typer.Exit(1)
