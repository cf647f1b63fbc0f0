"""The backtest job (task ``alp.backtest.run``, gpu queue): claim the job's lease, replay
active learning on the pool's labelled images with the engine of ``alp simulate``
(:func:`simulation.backtest.run_backtest`, real detectors), report per-run
progress on the job, stop when cancelled or past the time limit, and write the results
in the transaction that finishes the job (a cancel or a lost lease writes nothing).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from alp.db import Backtest
from alp.services import backtests, job_rows
from worker import context
from worker.pipeline.common import beating, device_name, error_text, heartbeat_interval

if TYPE_CHECKING:
    from simulation.data import SimulationData

log = logging.getLogger("alp.worker.backtest")


class Stopped(Exception):
    """The backtest must stop: cancelled, lease lost or past its time limit."""


class Tracker:
    """Progress of a replay (from the loop's events) and the stop flag (from heartbeats)."""

    def __init__(self, job_id: int, token: int, total_rows: int, limit_s: float) -> None:
        self.job_id, self.token, self.total, self.limit_s = job_id, token, total_rows, limit_s
        self.started = time.perf_counter()
        self.rows, self.within = 0, 0.0
        self.where = "loading images"
        self.stop_reason: str | None = None
        self._lock = threading.Lock()

    def event(self, kind: str, **kw: Any) -> None:
        """``Simulation`` event hook; raises :class:`Stopped` once the job must stop."""
        with self._lock:
            if kind == "cycle":
                self.where = f"{kw['run']} seed {kw['seed']} round {kw['cycle']}"
                self.within = 0.0
            elif kind == "train" and kw["total"]:
                self.within = 0.9 * kw["it"] / kw["total"]
            elif kind == "row":
                self.rows, self.within = self.rows + 1, 0.0
        self.check()

    def check(self) -> None:
        if self.elapsed > self.limit_s and self.stop_reason is None:
            self.stop_reason = f"time limit of {self.limit_s:.0f} s reached"
        if self.stop_reason is not None:
            raise Stopped(self.stop_reason)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def beat(self) -> None:
        with self._lock:
            done = min(self.rows + self.within, self.total)
            message = f"run {min(self.rows + 1, self.total)}/{self.total}: {self.where}"
        with context.session() as db:
            if not job_rows.beat(db, self.job_id, self.token, 0.99 * done / self.total, message):
                self.stop_reason = self.stop_reason or "cancelled"
            db.commit()


def _claim(job_id: int) -> tuple[int, int, dict[str, Any]] | None:
    """``(backtest id, token, request)`` or None when there is nothing to do."""
    with context.session() as db:
        row = db.scalar(select(Backtest).where(Backtest.job_id == job_id))
        if row is None or row.state not in ("queued", "running"):
            return None
        token = job_rows.claim(db, job_id, context.settings().worker_stale_after_s)
        if token is None:
            db.rollback()
            return None
        queued = update(Backtest).where(Backtest.id == row.id, Backtest.state == "queued")
        db.execute(queued.values(state="running").execution_options(synchronize_session=False))
        db.commit()
        return row.id, token, dict(row.request)


def run(job_id: int) -> None:
    claimed = _claim(job_id)
    if claimed is None:
        log.info("backtest job %s: finished, cancelled or held by another worker", job_id)
        return
    backtest_id, token, req = claimed
    cycles, seeds = int(req["rounds"]) + 1, int(req["seeds"])
    tracker = Tracker(job_id, token, len(req["runs"]) * seeds * cycles, float(req["time_limit_s"]))
    state, results, error = "succeeded", None, None
    with beating(tracker.beat, heartbeat_interval()):
        try:
            results = replay(req, backtest_id, tracker)
        except Stopped as exc:
            if tracker.stop_reason == "cancelled":
                log.info("backtest %s stopped: %s", backtest_id, exc)
                return
            state, error = "failed", str(exc)
        except Exception as exc:
            log.exception("backtest %s failed", backtest_id)
            state, error = "failed", error_text(exc)
    with context.session() as db:
        row = db.get(Backtest, backtest_id)
        message = "done" if error is None else error
        if row is not None and backtests.finish(db, row, token, state, message, results, error):
            db.commit()
        else:
            db.rollback()
            log.info("backtest %s: cancelled, deleted or lease lost; nothing stored", backtest_id)


def replay(req: dict[str, Any], backtest_id: int, tracker: Tracker) -> dict[str, Any]:
    """The engine run for request ``req`` and the results to store (plain JSON)."""
    from simulation.backend import TorchBackend
    from simulation.backtest import run_backtest
    from simulation.spec import LoopOptions, RunSpec

    model, rounds = req["model"], int(req["rounds"])
    with context.session() as db:
        row = db.get(Backtest, backtest_id)
        assert row is not None
        data = pool_data(
            db, context.cache(), row.pool_id, int(req["test_size"]), 0,
            initial=int(req["initial"]), budget=int(req["budget"]), rounds=rounds,
        )  # fmt: skip
    tracker.check()
    opts = LoopOptions(
        initial=int(req["initial"]), budget=int(req["budget"]), cycles=rounds + 1,
        seeds=tuple(range(int(req["seeds"]))), iterations=int(model["iterations"]),
        batch_size=int(model["batch_size"]), image_size=int(model["image_size"]),
        backbone=str(model["backbone"]), device=device_name(context.settings().device),
    )  # fmt: skip
    specs = [RunSpec(r["strategy"], r["preset"], r["params"], r["label"]) for r in req["runs"]]
    out = run_backtest(data, specs, opts, lambda d: TorchBackend(d, opts),
                       references=req.get("references", []), event=tracker.event)  # fmt: skip
    return plain(summarize(out, specs, len(data.pool), len(data.test), tracker.elapsed))


def pool_data(
    db: Any, cache: Any, pool_id: int, test_size: int, seed: int,
    initial: int, budget: int, rounds: int,
) -> SimulationData:  # fmt: skip
    """The pool's readable labelled train images split by
    :func:`simulation.backtest.replay_split` (its validation images stay out of both parts),
    read through the worker's blob ``cache`` (``alp.storage.BlobCache``); too few ->
    ``ValueError`` from :func:`alp.schemas_backtests.check_size` (rounds = cycles after the
    initial one)."""
    from alp.db import Pool
    from alp.schemas_backtests import check_size
    from simulation.backtest import replay_split
    from simulation.data import SimulationData
    from worker.pipeline import data

    pool = db.get(Pool, pool_id)
    if pool is None:
        raise ValueError(f"pool {pool_id} not found")
    classes = list(pool.classes)
    manifest, _skipped = data.readable_manifest(
        data.labeled_manifest(db, cache, pool_id, "train", classes)
    )
    check_size(len(manifest), initial, budget, rounds, test_size)
    replay, test = replay_split(manifest, test_size, seed)
    return SimulationData(classes, replay, [], test, source=f"pool {pool_id} backtest")


def summarize(
    out: dict[str, Any], specs: list[Any], replay_n: int, test_n: int, elapsed: float
) -> dict[str, Any]:
    """What ``GET /backtests/{id}`` shows: per run the curve (mean ± std over seeds), mAP
    after the first round, AULC and annotation cost; comparisons; the recommendation."""
    runs = []
    for spec in specs:
        s = out["summary"][spec.label]
        runs.append({
            "label": spec.label, "strategy": spec.strategy, "preset": spec.preset,
            "labeled": s["labeled"], "mean": s["mean"], "std": s["std"],
            "per_seed": s["per_seed"],
            "first_round_map50": s["mean"][1] if len(s["mean"]) > 1 else s["mean"][0],
            "mean_after_first": s["mean_after_first"], "aulc": s["aulc"],
            "cost": out["cost"][spec.label],
        })  # fmt: skip
    rec = out["recommendation"]
    return {"metric": "map50", "runs": runs, "comparisons": out["comparisons"],
            "recommendation": rec, "recommendation_text": recommendation_text(rec),
            "split": {"replay": replay_n, "test": test_n}, "elapsed_s": round(elapsed, 1),
            "rows": out["rows"]}  # fmt: skip


def recommendation_text(rec: dict[str, Any]) -> str:
    """One sentence for people: the strategy and why, or why none."""
    if rec.get("recommendation"):
        return f"Use {rec['recommendation']}: {rec['reason']} (paired test over seeds x rounds)."
    extra = rec.get("extra_labels_needed")
    more = (f"; about {extra} more labeled images per seed would make the test decisive"
            if extra else "")  # fmt: skip
    return f"No recommendation: {rec['reason']} (best so far: {rec.get('best')}){more}."


def plain(value: Any) -> Any:
    """JSON-safe copy (numpy scalars -> Python numbers)."""
    return json.loads(
        json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    )
